"""The alerts table inside the caller's transaction (the intake worker's).

Firing: one row and one message per firing (fingerprint + ``startsAt``); a
repeat or a retried delivery finds the row and changes nothing. Resolved: the
row and its message say so, and the incident opened from the alert records
``alert_resolved``. Every state change re-renders the whole message.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.alerts import blocks
from bot.alerts.lookup import RunbookIndex
from bot.alerts.payload import AlertNotice
from bot.alerts.priority import priority_for_severity
from bot.incidents.service import add_event
from bot.runbook import Runbook
from bot.slack.outbox import enqueue
from bot.store.models import Alert, Incident, OutboxMessage


def alert_key(alert_id: int) -> str:
    """The outbox ordering key of one alert's message (post, then updates, in order)."""
    return f"alert:{alert_id}"


def view(
    alert: Alert,
    *,
    runbook: Runbook | None,
    levels: Sequence[str],
    incident: Incident | None = None,
) -> blocks.AlertView:
    labels, notes = alert.labels or {}, alert.annotations or {}
    severity = labels.get("severity") or None
    return blocks.AlertView(
        id=alert.id,
        fingerprint=alert.fingerprint,
        name=alert.alertname,
        status=alert.status,
        severity=severity,
        summary=notes.get("summary") or None,
        description=notes.get("description") or None,
        starts_at=alert.starts_at,
        runbook_id=alert.runbook_id,
        runbook_title=runbook.title if runbook is not None else None,
        runbook_url=notes.get("runbook_url") or notes.get("runbook") or None,
        generator_url=alert.generator_url,
        priority=priority_for_severity(severity, levels),
        ends_at=alert.ends_at or alert.resolved_at,
        incident_key=f"INC-{alert.incident_id}" if alert.incident_id is not None else None,
        incident_opened_by=incident.opened_by if incident is not None else None,
        acknowledged_by=alert.acknowledged_by,
        acknowledged_at=alert.acknowledged_at,
    )


async def latest(session: AsyncSession, fingerprint: str) -> Alert | None:
    query = select(Alert).where(Alert.fingerprint == fingerprint).order_by(Alert.id.desc()).limit(1)
    return (await session.execute(query)).scalar_one_or_none()


async def find_firing(session: AsyncSession, notice: AlertNotice) -> Alert | None:
    """The row a notice is about: same fingerprint and start, else the
    fingerprint's latest row (a start time re-stamped by a restarted Prometheus)."""
    query = select(Alert).where(
        Alert.fingerprint == notice.fingerprint, Alert.starts_at == notice.starts_at
    )
    found = (await session.execute(query)).scalar_one_or_none()
    return found if found is not None else await latest(session, notice.fingerprint)


async def record_firing(
    session: AsyncSession,
    notice: AlertNotice,
    *,
    index: RunbookIndex,
    channel: str,
    levels: Sequence[str],
    at: datetime,
) -> Alert | None:
    """A new firing: its row and its message. None: a repeat (nothing to do).

    A repeat is a notice for a firing already recorded (same start), or for a
    fingerprint whose latest firing is still open: one message per alert.
    """
    same = await find_firing(session, notice)
    if same is not None and (same.starts_at == notice.starts_at or same.status == "firing"):
        return None
    runbook = index.find(notice.name, notice.runbook_url)
    alert = Alert(
        fingerprint=notice.fingerprint,
        alertname=notice.name[:2000],
        status="firing",
        starts_at=notice.starts_at,
        labels=notice.labels,
        annotations=notice.annotations,
        generator_url=notice.generator_url,
        runbook_id=runbook.id if runbook is not None else None,
        channel_id=channel,
        received_at=at,
    )
    session.add(alert)
    await session.flush()
    payload = blocks.alert_message(view(alert, runbook=runbook, levels=levels))
    enqueue(
        session,
        alert_key(alert.id),
        "chat.postMessage",
        {"channel": channel, **payload},
        on_delivered=alert_key(alert.id),
    )
    return alert


async def record_resolved(
    session: AsyncSession, notice: AlertNotice, *, at: datetime
) -> Alert | None:
    """The firing this notice resolves, marked resolved. None: unknown or already resolved."""
    alert = await find_firing(session, notice)
    if alert is None or alert.status != "firing":
        return None
    alert.status = "resolved"
    alert.ends_at = notice.ends_at
    alert.resolved_at = at
    if alert.incident_id is not None:
        when = (notice.ends_at or at).isoformat()
        add_event(
            session,
            alert.incident_id,
            "alert_resolved",
            None,
            f"Alert {alert.alertname} resolved ({when})",
            at=at,
            data={"fingerprint": alert.fingerprint, "ends_at": when, "alert_id": alert.id},
        )
    return alert


async def lock_alert(
    session: AsyncSession, alert_id: int, fingerprint: str, postgres: bool
) -> Alert | None:
    """The alert a button names (row-locked on PostgreSQL), if the button is ours."""
    query = select(Alert).where(Alert.id == alert_id)
    if postgres:
        query = query.with_for_update()
    alert = (await session.execute(query)).scalar_one_or_none()
    if alert is None or alert.fingerprint != fingerprint:
        return None
    return alert


def link_incident(
    session: AsyncSession,
    alert: Alert,
    incident: Incident,
    *,
    user_id: str,
    priority: str | None,
    at: datetime,
) -> None:
    """The incident was opened from the alert: remember it, say so on its timeline."""
    alert.incident_id = incident.id
    add_event(
        session,
        incident.id,
        "alert_fired",
        user_id,
        f"Opened from alert {alert.alertname} (severity: "
        f"{(alert.labels or {}).get('severity') or 'none'}), firing since "
        f"{alert.starts_at.isoformat()}",
        at=at,
        data={
            "alert_id": alert.id,
            "fingerprint": alert.fingerprint,
            "alertname": alert.alertname,
            "labels": alert.labels,
            "starts_at": alert.starts_at.isoformat(),
            # Until incidents carry a priority of their own (SPEC §7), it is recorded here.
            "priority": priority,
        },
    )


async def enqueue_message_update(
    session: AsyncSession,
    alert: Alert,
    payload: blocks.Payload,
    *,
    clicked: tuple[str, str] | None = None,
) -> bool:
    """``chat.update`` the alert's message with ``payload``. False: no message to update.

    The message's channel ID and ts once delivered; else the clicked message;
    else, while the post is still owed, the post's outbox row gives the ts.
    """
    key = alert_key(alert.id)
    if alert.message_ts:
        target = {"channel": alert.channel_id, "ts": alert.message_ts}
        enqueue(session, key, "chat.update", {**target, **payload})
        return True
    if clicked is not None and clicked[0] and clicked[1]:
        enqueue(session, key, "chat.update", {"channel": clicked[0], "ts": clicked[1], **payload})
        return True
    post = (
        await session.execute(
            select(OutboxMessage.id).where(
                OutboxMessage.on_delivered == key, OutboxMessage.state == "pending"
            )
        )
    ).scalar_one_or_none()
    if post is None:
        return False  # the post failed for good: nothing in Slack to update
    enqueue(session, key, "chat.update", {"channel": alert.channel_id, **payload}, thread_from=post)
    return True
