"""The alert intake handlers: webhook notices and the alert message's buttons.

The webhook and the button listeners commit one intake item each before
answering (``bot/intake/writer.py``); the intake worker then calls these in
its transaction, so the alert row, the timeline, the Slack messages owed and
the item's removal commit together. A delivery is one item (all its alerts
in one transaction), ordered with the other deliveries of its Alertmanager
group; clicks on one alert's message share ``alert:<fingerprint>``; both
lock the alert rows they change (a delivery also locks its group's lead,
whose row holds the message's state), so a click and a delivery never cross.
The buttons of a group's message name its lead: they act for the group.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.alerts import groups, service
from bot.alerts.lookup import RunbookIndex
from bot.alerts.payload import AlertNotice, Notification, group_digest
from bot.alerts.priority import DEFAULT_LEVELS, priority_for_severity
from bot.incidents import blocks as incident_blocks
from bot.incidents.priority import PriorityPolicy
from bot.incidents.service import add_event, claim_request, create_incident, incident_view
from bot.intake.payloads import AlertClickRequest, Message, ReplyTo
from bot.intake.worker import AfterCommit, Handler, Item, reply
from bot.metrics import Metrics
from bot.runbook import Library
from bot.runs.flows import DuplicateRequest, FlowError, start_run
from bot.settings import Settings
from bot.slack.mrkdwn import escape
from bot.slack.outbox import enqueue
from bot.slack.pace import Priority
from bot.store.models import Alert, Incident
from bot.store.states import EventKind, alert_intake_key, incident_key

NOTICE = "alert"
START = "alert_start"
ACKNOWLEDGE = "alert_ack"
DECLARE = "alert_declare"


def level_names(settings: Settings) -> list[str]:
    """The incident priority levels' names, most urgent first (``PRIORITY_LEVELS``)."""
    return [level.name for level in settings.priority_levels] or list(DEFAULT_LEVELS)


def group_key(notification: Notification) -> str:
    """A delivery's ordering key: its Alertmanager group.

    Alertmanager notifies each group (and so each alert) one delivery at a
    time, in order; deliveries of different groups are acted on in parallel.
    """
    raw = f"{notification.receiver}\x00{notification.group_key}".encode()
    return "alerts:" + hashlib.sha256(raw).hexdigest()[:40]


def delivery_payload(notification: Notification) -> tuple[str, str, dict[str, Any]]:
    """(kind, ordering key, payload) of one webhook delivery: all its alerts."""
    return (
        NOTICE,
        group_key(notification),
        {
            "alerts": [a.to_json() for a in notification.alerts],
            "receiver": notification.receiver,
            "group_key": notification.group_key,
        },
    )


def click_payload(
    kind: str,
    *,
    alert_id: int,
    fingerprint: str,
    user: str,
    channel: str,
    ts: str,
    thread_ts: str | None,
    trigger_id: str | None,
    name: str | None = None,
) -> tuple[str, str, dict[str, Any]]:
    """(kind, ordering key, payload) of a click on an alert message (``name``:
    the clicker's handle, recorded by the intake worker)."""
    request = AlertClickRequest(
        alert_id,
        fingerprint,
        Message(channel, ts),
        ReplyTo(channel, user, name, thread_ts),
        trigger_id,
    )
    return kind, alert_intake_key(fingerprint), request.to_json()


class AlertActions:
    """The alert handlers, with what they need passed in (no globals)."""

    def __init__(
        self,
        *,
        library: Library,
        channel: str,
        levels: Sequence[str],
        policy: PriorityPolicy,
        metrics: Metrics,
        notify_outbox: Callable[[], None],
        nudge_reminders: Callable[[datetime | None], None],
    ) -> None:
        self._library = library
        self._index = RunbookIndex(library.runbooks.values())
        self._channel = channel
        self._levels = list(levels)
        self._policy = policy
        self._metrics = metrics
        self._notify = notify_outbox
        self._nudge = nudge_reminders

    def handlers(self) -> dict[str, Handler]:
        return {
            NOTICE: self.notice,
            START: self.start,
            ACKNOWLEDGE: self.acknowledge,
            DECLARE: self.declare,
        }

    # --- rendering ---------------------------------------------------------------

    async def _update(self, session: AsyncSession, lead: Alert, item: Item) -> None:
        """Re-render the clicked message (the lead's group) after a click."""
        message = Message.from_json(item.payload.get("message"))
        clicked = (message.channel, message.ts)
        payload = await groups.render_current(
            session, lead, runbook_for=self._library.get, levels=self._levels
        )
        await groups.enqueue_update(session, lead, payload, clicked=clicked)

    def _after(self, outcome: str) -> AfterCommit:
        def after() -> None:
            self._notify()
            self._metrics.alerts.labels(outcome).inc()

        return after

    # --- webhook -----------------------------------------------------------------

    async def notice(self, session: AsyncSession, item: Item) -> AfterCommit | None:
        p = item.payload
        notices = [AlertNotice.from_json(a) for a in p["alerts"]]
        recorded = await service.record_notices(
            session,
            notices,
            group=group_digest(str(p.get("receiver") or ""), str(p.get("group_key") or "")),
            index=self._index,
            channel=self._channel,
            at=item.received_at,
        )
        await groups.publish(
            session,
            recorded,
            runbook_for=self._index.get,
            levels=self._levels,
            channel=self._channel,
            at=item.received_at,
        )
        matched = sum(1 for a in recorded.posted if a.runbook_id)

        def after() -> None:
            self._notify()
            counter = self._metrics.alerts
            counter.labels("posted").inc(matched)
            counter.labels("unmatched").inc(len(recorded.posted) - matched)
            counter.labels("repeat").inc(recorded.repeats)
            counter.labels("resolved").inc(len(recorded.resolved))

        return after

    # --- buttons -----------------------------------------------------------------

    async def _clicked(self, session: AsyncSession, item: Item) -> Alert | None:
        """The clicked message's lead (row-locked), or None (and the clicker told)."""
        click = AlertClickRequest.from_json(item.payload)
        alert = await service.lock_alert(session, click.alert_id, click.fingerprint)
        if alert is not None and alert.lead_id not in (None, alert.id):
            # Buttons name their message's lead; a value naming another alert of
            # the group (hand-made) acts on the message that shows it.
            alert = await service.lock_alert(session, alert.lead_id, None)
        if alert is None:
            reply(session, item, "That alert is not known to the bot. Nothing changed.")
        return alert

    async def _cannot_open(self, session: AsyncSession, item: Item, alert: Alert) -> bool:
        """Refuse (and say why) a second incident from one alert, or one after it resolved."""
        if alert.incident_id is not None:
            incident = await session.get(Incident, alert.incident_id)
            by = f" by <@{incident.opened_by}>" if incident and incident.opened_by else ""
            text = (
                f"INC-{alert.incident_id} was already opened from this alert{by}. Nothing changed."
            )
            reply(session, item, text)
            return True
        if not await groups.still_firing(session, alert):
            text = (
                f"{escape(alert.alertname)} has already resolved. Nothing was opened "
                "(`/incident declare` or `/runbook start` still work)."
            )
            reply(session, item, text)
            return True
        return False

    def _title(self, alert: Alert) -> str:
        summary = (alert.annotations or {}).get("summary")
        return f"{alert.alertname}: {summary}" if summary else alert.alertname

    def _priority(self, alert: Alert) -> str | None:
        return priority_for_severity((alert.labels or {}).get("severity"), self._levels)

    async def start(self, session: AsyncSession, item: Item) -> AfterCommit:
        alert = await self._clicked(session, item)
        if alert is None or await self._cannot_open(session, item, alert):
            return self._notify
        runbook = self._library.get(alert.runbook_id) if alert.runbook_id else None
        if runbook is None or runbook.step_count == 0:
            what = f"`{escape(alert.runbook_id or '?')}`"
            reply(session, item, f"Runbook {what} is no longer loaded. Nothing was started.")
            return self._notify
        click = AlertClickRequest.from_json(item.payload)
        user, trigger = click.reply_to.user, click.trigger_id
        priority = self._priority(alert)
        try:
            async with session.begin_nested():
                started = await start_run(
                    session,
                    runbook=runbook,
                    channel_id=click.message.channel,
                    user_id=user,
                    summary=self._title(alert),
                    incident_id=None,
                    policy=self._policy,
                    priority=priority,
                    request_key=f"trigger:{trigger}" if trigger else None,
                    at=item.received_at,
                    actions=self._library.actions,
                )
        except DuplicateRequest:
            return self._notify  # Slack retried this click: already handled
        except FlowError as exc:
            reply(session, item, f"{exc} Nothing was started.")
            return self._notify
        service.link_incident(
            session, alert, started.incident, user_id=user, priority=priority, at=item.received_at
        )
        await self._update(session, alert, item)
        due = started.incident.next_reminder_at

        def after() -> None:
            self._notify()
            self._nudge(due)
            self._metrics.runs_started.inc()

        return after

    async def declare(self, session: AsyncSession, item: Item) -> AfterCommit:
        alert = await self._clicked(session, item)
        if alert is None or await self._cannot_open(session, item, alert):
            return self._notify
        click = AlertClickRequest.from_json(item.payload)
        user, trigger, channel = click.reply_to.user, click.trigger_id, click.message.channel
        if trigger and not await claim_request(session, f"trigger:{trigger}"):
            return self._notify
        incident = await create_incident(
            session,
            channel_id=channel,
            title=self._title(alert),
            user_id=user,
            at=item.received_at,
            policy=self._policy,
            priority=self._priority(alert),
        )
        # As /incident declare: the declaration becomes the incident's thread.
        enqueue(
            session,
            incident_key(incident.id),
            "chat.postMessage",
            {"channel": channel, **incident_blocks.declared_message(incident_view(incident), user)},
            on_delivered=incident_key(incident.id),
            priority=Priority.CLICK,
        )
        service.link_incident(
            session,
            alert,
            incident,
            user_id=user,
            priority=self._priority(alert),
            at=item.received_at,
        )
        await self._update(session, alert, item)
        due = incident.next_reminder_at

        def after() -> None:
            self._notify()
            self._nudge(due)

        return after

    async def acknowledge(self, session: AsyncSession, item: Item) -> AfterCommit:
        alert = await self._clicked(session, item)
        if alert is None:
            return self._notify
        if alert.acknowledged_by is not None:
            text = f"<@{alert.acknowledged_by}> already acknowledged this alert. Nothing changed."
            reply(session, item, text)
            return self._notify
        user = AlertClickRequest.from_json(item.payload).reply_to.user
        alert.acknowledged_by, alert.acknowledged_at = user, item.received_at
        if alert.incident_id is not None:
            add_event(
                session,
                alert.incident_id,
                EventKind.ALERT_ACKNOWLEDGED,
                user,
                f"Alert {alert.alertname} acknowledged",
                at=item.received_at,
                data={"alert_id": alert.id, "fingerprint": alert.fingerprint},
            )
        await self._update(session, alert, item)
        return self._notify
