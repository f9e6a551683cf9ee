"""The alerts table inside the caller's transaction (the intake worker's).

Firing: one row per firing (fingerprint + ``startsAt``); a repeat or a
retried delivery finds the row and changes nothing. Each row knows its
Alertmanager group and its *lead*: the alert whose message shows it (the
first of the group's episode; ``bot/alerts/groups.py`` sends the messages).
A delivery's alerts are recorded together: one SELECT, one INSERT, one
UPDATE. Resolved: the row says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.alerts import blocks
from bot.alerts.lookup import RunbookIndex
from bot.alerts.payload import AlertNotice
from bot.alerts.priority import priority_for_severity
from bot.incidents.service import add_event
from bot.runbook import Runbook
from bot.store.backend import backend
from bot.store.models import Alert, Incident
from bot.store.states import AlertStatus, EventKind


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
    """What one delivery did: firings recorded, repeats ignored, alerts
    resolved; the group episodes it opened (lead id → its new alerts, the
    lead first: each owes a post) and the open ones it changed (each owes an
    update of its message)."""

    posted: list[Alert] = field(default_factory=list)
    repeats: int = 0
    resolved: list[Alert] = field(default_factory=list)
    opened: dict[int, list[Alert]] = field(default_factory=dict)
    changed: set[int] = field(default_factory=set)


async def record_notices(
    session: AsyncSession,
    notices: Sequence[AlertNotice],
    *,
    group: str | None,
    index: RunbookIndex,
    channel: str,
    at: datetime,
) -> Recorded:
    """One delivery's alerts of one group, in order, in a handful of statements.

    Firing: a new row, unless the firing is already recorded (same
    fingerprint and start: a repeat or a retried delivery) or the
    fingerprint's latest firing is still open (a start re-stamped by a
    restarted Prometheus). New rows join the group's open episode (any of
    its alerts firing before this delivery), else open a new one led by the
    first of them. Resolved: the firing it ends (same start, else the
    fingerprint's latest) is marked resolved; an unknown or already
    resolved one is a repeat. ``group`` None: each alert is its own group.
    The caller sends the messages (``groups.publish``).
    """
    out = Recorded()
    fingerprints = sorted({n.fingerprint for n in notices})
    lead_id = await open_lead(session, group) if group is not None else None
    # The group's lead is locked with the delivery's alerts, in one id order (no
    # deadlock with another delivery locking some of the same rows).
    wanted = Alert.fingerprint.in_(fingerprints)
    query = select(Alert).where(or_(wanted, Alert.id == lead_id) if lead_id else wanted)
    query = query.order_by(Alert.id)
    if backend(session).postgres:
        query = query.with_for_update()  # clicks on these alerts wait (and see the result)
    locked = list((await session.execute(query)).scalars())
    lead = next((a for a in locked if a.id == lead_id), None)
    known = [a for a in locked if a.fingerprint in fingerprints]
    # An alert, or the values of one this delivery inserts.
    by_start: dict[tuple[str, datetime], Alert | dict[str, Any]] = {
        (a.fingerprint, a.starts_at): a for a in known
    }
    latest: dict[str, Alert | dict[str, Any]] = {
        a.fingerprint: a for a in known
    }  # ordered by id: the last one stays
    new: list[dict] = []
    for notice in notices:
        key = (notice.fingerprint, notice.starts_at)
        same = by_start.get(key) or latest.get(notice.fingerprint)
        if notice.status == AlertStatus.RESOLVED:
            if isinstance(same, Alert) and same.status == AlertStatus.FIRING:
                _resolve(same, notice, at)
                out.resolved.append(same)
                out.changed.add(same.lead_id or same.id)
            else:
                out.repeats += 1
            continue
        if same is not None and (key in by_start or _status(same) == AlertStatus.FIRING):
            out.repeats += 1
            continue
        runbook = index.find(notice.name, notice.runbook_url)
        values = {
            "fingerprint": notice.fingerprint,
            "alertname": notice.name[:2000],
            "status": AlertStatus.FIRING,
            "starts_at": notice.starts_at,
            "labels": notice.labels,
            "annotations": notice.annotations,
            "generator_url": notice.generator_url,
            "runbook_id": runbook.id if runbook is not None else None,
            "channel_id": channel,
            "received_at": at,
            "group_key": group,
        }
        new.append(values)
        by_start[key] = latest[notice.fingerprint] = values  # a later notice here sees it
    if new:
        out.posted = await _insert_new(session, new)
        await _lead(session, out, group, lead)
    return out


async def open_lead(session: AsyncSession, group: str) -> int | None:
    """The lead of the group's open episode (the alert holding its message);
    None when no alert of the group fires. Deliveries of a group are acted on
    one at a time, so it stays the lead until this one commits."""
    query = (
        select(Alert.lead_id)
        .where(Alert.group_key == group, Alert.status == AlertStatus.FIRING)
        .order_by(Alert.id.desc())
        .limit(1)
    )
    return (await session.execute(query)).scalar()


async def _lead(
    session: AsyncSession, out: Recorded, group: str | None, lead: Alert | None
) -> None:
    """Give the new rows their message's alert: the open episode's lead, else
    the first new one (each its own without a group)."""
    ids = [a.id for a in out.posted]
    if not ids:
        return
    if group is None:
        await session.execute(update(Alert).where(Alert.id.in_(ids)).values(lead_id=Alert.id))
        for alert in out.posted:
            alert.lead_id = alert.id
            out.opened[alert.id] = [alert]
        return
    lead_id = lead.id if lead is not None else ids[0]
    await session.execute(update(Alert).where(Alert.id.in_(ids)).values(lead_id=lead_id))
    for alert in out.posted:
        alert.lead_id = lead_id
    if lead is not None:
        out.changed.add(lead_id)
    else:
        out.opened[lead_id] = list(out.posted)


def _status(row: Alert | dict) -> str:
    return row.status if isinstance(row, Alert) else str(row["status"])


async def _insert_new(session: AsyncSession, rows: list[dict[str, Any]]) -> list[Alert]:
    """One INSERT for the new firings; a firing another delivery recorded
    first (the same alert routed twice) is skipped, not an error."""
    insert = backend(session).insert
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


def _resolve(alert: Alert, notice: AlertNotice, at: datetime) -> None:
    alert.status = AlertStatus.RESOLVED
    alert.ends_at = notice.ends_at
    alert.resolved_at = at


async def lock_alert(session: AsyncSession, alert_id: int, fingerprint: str | None) -> Alert | None:
    """The alert a button names (row-locked on PostgreSQL), if the button is
    ours (``fingerprint`` None: any alert with that id)."""
    query = select(Alert).where(Alert.id == alert_id)
    if backend(session).postgres:
        query = query.with_for_update()
    alert = (await session.execute(query)).scalar_one_or_none()
    if alert is None or (fingerprint is not None and alert.fingerprint != fingerprint):
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
        EventKind.ALERT_FIRED,
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
