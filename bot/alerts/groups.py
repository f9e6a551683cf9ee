"""An alert group's message inside the caller's transaction.

The alerts of one Alertmanager group share one message while any of them
fires (an *episode*): its first alert (the *lead*) posts it and holds it —
its ts, who acknowledged it, the incident opened from it — and every change
(an alert joins or resolves, a click) re-renders the whole message as one
``chat.update`` — or, while its post still waits for Slack's pace, as the
post's own content (no update owed). Slack allows about one post per second per channel, so a
storm's updates wait their turn; waiting updates of one message collapse
into the newest (``alert-group:<lead id>``): a storm of joins costs a few
calls, not one per alert. Once no alert of the episode fires, the message
says so and a later alert of the group opens a new episode (a new post).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.alerts import blocks
from bot.alerts.service import Recorded, view
from bot.incidents.service import add_event
from bot.runbook import Runbook
from bot.slack.blockkit import Payload
from bot.slack.outbox import enqueue, enqueue_collapsing
from bot.slack.pace import Priority
from bot.store.models import Alert, Incident, OutboxMessage
from bot.store.states import AlertStatus, EventKind, OutboxState, alert_group_key, alert_key

RunbookFor = Callable[[str], Runbook | None]


async def members(session: AsyncSession, lead_id: int) -> list[Alert]:
    """The alerts a message shows, in arrival order (the lead first)."""
    query = select(Alert).where(Alert.lead_id == lead_id).order_by(Alert.id)
    return list((await session.execute(query)).scalars())


async def still_firing(session: AsyncSession, lead: Alert) -> bool:
    """Is any alert of the lead's message still firing?"""
    if lead.status == AlertStatus.FIRING:
        return True
    query = (
        select(Alert.id)
        .where(Alert.lead_id == lead.id, Alert.status == AlertStatus.FIRING)
        .limit(1)
    )
    return (await session.execute(query)).first() is not None


def render(
    lead: Alert,
    shown: Sequence[Alert],
    *,
    runbook: Runbook | None,
    levels: Sequence[str],
    incident: Incident | None = None,
) -> Payload:
    """The message of ``lead``'s episode showing ``shown`` (plain data)."""
    shown = list(shown) or [lead]
    firing = any(a.status == AlertStatus.FIRING for a in shown)
    ends = [a.ends_at or a.resolved_at for a in shown]
    head = view(lead, runbook=runbook, levels=levels, incident=incident)
    head = dataclasses.replace(
        head,
        status=AlertStatus.FIRING if firing else AlertStatus.RESOLVED,
        ends_at=None if firing else max((e for e in ends if e is not None), default=None),
    )
    listed = [
        blocks.Member(
            name=a.alertname,
            fingerprint=a.fingerprint,
            labels=a.labels or {},
            firing=a.status == AlertStatus.FIRING,
            summary=(a.annotations or {}).get("summary") or None,
        )
        for a in shown
    ]
    return blocks.group_message(blocks.GroupView(lead=head, members=listed))


async def render_current(
    session: AsyncSession, lead: Alert, *, runbook_for: RunbookFor, levels: Sequence[str]
) -> Payload:
    """The lead's message as the database has it now."""
    incident = (
        await session.get(Incident, lead.incident_id) if lead.incident_id is not None else None
    )
    runbook = runbook_for(lead.runbook_id) if lead.runbook_id else None
    shown = await members(session, lead.id)
    return render(lead, shown, runbook=runbook, levels=levels, incident=incident)


async def publish(
    session: AsyncSession,
    recorded: Recorded,
    *,
    runbook_for: RunbookFor,
    levels: Sequence[str],
    channel: str,
    at: datetime,
) -> None:
    """The messages a delivery owes: a post per episode it opened, an update
    per open one it changed; an episode it ended says so on the incident
    opened from it (``alert_resolved``, once: only this delivery ended it)."""
    for lead_id, shown in recorded.opened.items():
        lead = shown[0]
        runbook = runbook_for(lead.runbook_id) if lead.runbook_id else None
        payload = render(lead, shown, runbook=runbook, levels=levels)
        enqueue(
            session,
            alert_key(lead_id),
            "chat.postMessage",
            {"channel": channel, **payload},
            on_delivered=alert_key(lead_id),
            priority=Priority.ALERT,
        )
    for lead_id in sorted(recorded.changed - recorded.opened.keys()):
        changed = await session.get(Alert, lead_id)
        if changed is None:
            continue
        lead = changed
        incident = (
            await session.get(Incident, lead.incident_id) if lead.incident_id is not None else None
        )
        shown = await members(session, lead_id)
        if incident is not None and not any(a.status == AlertStatus.FIRING for a in shown):
            _record_resolved(session, lead, shown, incident, at)
        runbook = runbook_for(lead.runbook_id) if lead.runbook_id else None
        payload = render(lead, shown, runbook=runbook, levels=levels, incident=incident)
        await enqueue_update(session, lead, payload)


def _record_resolved(
    session: AsyncSession, lead: Alert, shown: Sequence[Alert], incident: Incident, at: datetime
) -> None:
    ends = [a.ends_at or a.resolved_at for a in shown]
    when = max((e for e in ends if e is not None), default=at).isoformat()
    group = f" (all {len(shown)} alerts of its group)" if len(shown) > 1 else ""
    add_event(
        session,
        incident.id,
        EventKind.ALERT_RESOLVED,
        None,
        f"Alert {lead.alertname} resolved{group} ({when})",
        at=at,
        data={
            "fingerprint": lead.fingerprint,
            "ends_at": when,
            "alert_id": lead.id,
            "alerts": len(shown),
        },
    )


async def enqueue_update(
    session: AsyncSession,
    lead: Alert,
    payload: Payload,
    *,
    clicked: tuple[str, str] | None = None,
) -> bool:
    """``chat.update`` the lead's message with ``payload``, collapsing into an
    update of it still waiting. False: no message to update.

    The message's channel ID and ts once delivered; else the clicked message;
    else, while the post is still owed, the post's outbox row gives the ts
    (the update waits behind the post: same ordering key).
    """
    key = alert_key(lead.id)
    collapse = alert_group_key(lead.id)
    if lead.message_ts:
        target = {"channel": lead.channel_id, "ts": lead.message_ts}
        priority = Priority.ALERT
    elif clicked is not None and clicked[0] and clicked[1]:
        target = {"channel": clicked[0], "ts": clicked[1]}
        priority = Priority.CLICK
    else:
        post = (
            await session.execute(
                select(OutboxMessage.id).where(
                    OutboxMessage.on_delivered == key, OutboxMessage.state == OutboxState.PENDING
                )
            )
        ).scalar_one_or_none()
        if post is None:
            return False  # the post failed for good: nothing in Slack to update
        if await _rewrite_waiting_post(session, post, {"channel": lead.channel_id, **payload}):
            return True
        await enqueue_collapsing(
            session,
            key,
            "chat.update",
            {"channel": lead.channel_id, **payload},
            collapse=collapse,
            thread_from=post,
            priority=Priority.ALERT,
        )
        return True
    await enqueue_collapsing(
        session, key, "chat.update", {**target, **payload}, collapse=collapse, priority=priority
    )
    return True


async def _rewrite_waiting_post(session: AsyncSession, post: int, payload: Payload) -> bool:
    """The post still waits for Slack's pace and no worker holds it: it goes
    with the newest content, and no update is owed. False: it is on its way."""
    result = await session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id == post,
            OutboxMessage.state == OutboxState.PENDING,
            OutboxMessage.lease_owner.is_(None),
            # Slack may have the old content already (it is looked up, not re-posted).
            OutboxMessage.in_doubt.is_(False),
        )
        .values(payload=payload)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
