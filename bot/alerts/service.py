"""The alerts table inside the caller's transaction (the intake worker's).

Firing: one row and one message per firing (fingerprint + ``startsAt``); a
repeat or a retried delivery finds the row and changes nothing. A delivery's
alerts are recorded together: one SELECT, one INSERT, one batch of messages. Resolved: the
row and its message say so, and the incident opened from the alert records
``alert_resolved``. Every state change re-renders the whole message.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot.alerts import blocks
from bot.alerts.lookup import RunbookIndex
from bot.alerts.payload import AlertNotice
from bot.alerts.priority import priority_for_severity
from bot.incidents.service import add_event
from bot.runbook import Runbook
from bot.slack.outbox import enqueue
from bot.slack.pace import Priority
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


@dataclass(slots=True)
class Recorded:
    """What one delivery did: firings posted, repeats ignored, alerts resolved."""

    posted: list[Alert] = field(default_factory=list)
    repeats: int = 0
    resolved: list[Alert] = field(default_factory=list)


async def record_notices(
    session: AsyncSession,
    notices: Sequence[AlertNotice],
    *,
    index: RunbookIndex,
    channel: str,
    levels: Sequence[str],
    at: datetime,
    postgres: bool,
) -> Recorded:
    """One delivery's alerts, in order, in a handful of statements.

    Firing: a new row and its message, unless the firing is already recorded
    (same fingerprint and start: a repeat or a retried delivery) or the
    fingerprint's latest firing is still open (a start re-stamped by a
    restarted Prometheus): one message per alert. Resolved: the firing it
    ends (same start, else the fingerprint's latest) is marked resolved; an
    unknown or already resolved one is a repeat. The caller updates the
    resolved alerts' messages.
    """
    out = Recorded()
    fingerprints = sorted({n.fingerprint for n in notices})
    query = select(Alert).where(Alert.fingerprint.in_(fingerprints)).order_by(Alert.id)
    if postgres:
        query = query.with_for_update()  # clicks on these alerts wait (and see the result)
    known = list((await session.execute(query)).scalars())
    by_start = {(a.fingerprint, a.starts_at): a for a in known}
    latest = {a.fingerprint: a for a in known}  # ordered by id: the last one stays
    new: list[dict] = []
    for notice in notices:
        key = (notice.fingerprint, notice.starts_at)
        same = by_start.get(key) or latest.get(notice.fingerprint)
        if notice.status == "resolved":
            if isinstance(same, Alert) and same.status == "firing":
                _resolve(session, same, notice, at)
                out.resolved.append(same)
            else:
                out.repeats += 1
            continue
        if same is not None and (key in by_start or _status(same) == "firing"):
            out.repeats += 1
            continue
        runbook = index.find(notice.name, notice.runbook_url)
        values = {
            "fingerprint": notice.fingerprint,
            "alertname": notice.name[:2000],
            "status": "firing",
            "starts_at": notice.starts_at,
            "labels": notice.labels,
            "annotations": notice.annotations,
            "generator_url": notice.generator_url,
            "runbook_id": runbook.id if runbook is not None else None,
            "channel_id": channel,
            "received_at": at,
        }
        new.append(values)
        by_start[key] = latest[notice.fingerprint] = values  # a later notice here sees it
    if new:
        out.posted = await _insert_new(session, new, postgres)
    for alert in out.posted:
        runbook = index.get(alert.runbook_id) if alert.runbook_id else None
        payload = blocks.alert_message(view(alert, runbook=runbook, levels=levels))
        enqueue(
            session,
            alert_key(alert.id),
            "chat.postMessage",
            {"channel": channel, **payload},
            on_delivered=alert_key(alert.id),
            priority=Priority.ALERT,
        )
    return out


def _status(row: Alert | dict) -> str:
    return row.status if isinstance(row, Alert) else str(row["status"])


async def _insert_new(session: AsyncSession, rows: list[dict], postgres: bool) -> list[Alert]:
    """One INSERT for the new firings; a firing another delivery recorded
    first (the same alert routed twice) is skipped, not an error."""
    insert = postgresql.insert if postgres else sqlite.insert
    statement = (
        insert(Alert)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["fingerprint", "starts_at"])
        .returning(Alert.id, Alert.fingerprint, Alert.starts_at)
    )
    ids = {(fp, starts): i for i, fp, starts in (await session.execute(statement)).all()}
    posted = []
    for values in rows:
        row_id = ids.get((values["fingerprint"], values["starts_at"]))
        if row_id is not None:
            # Plain data for rendering; the row itself is already written.
            posted.append(Alert(id=row_id, **values))
    return posted


def _resolve(session: AsyncSession, alert: Alert, notice: AlertNotice, at: datetime) -> None:
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
            # The level the alert's severity gave the incident (SPEC §7, §10).
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
        enqueue(session, key, "chat.update", {**target, **payload}, priority=Priority.ALERT)
        return True
    if clicked is not None and clicked[0] and clicked[1]:
        target = {"channel": clicked[0], "ts": clicked[1]}
        enqueue(session, key, "chat.update", {**target, **payload}, priority=Priority.CLICK)
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
    enqueue(
        session,
        key,
        "chat.update",
        {"channel": alert.channel_id, **payload},
        thread_from=post,
        priority=Priority.ALERT,
    )
    return True
