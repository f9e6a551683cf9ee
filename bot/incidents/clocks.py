"""Arming and disarming the durable clocks (``deadlines`` rows), inside the
caller's transaction; ``deadlines.py`` fires them. SPEC §7."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.models import Deadline, Incident

RESPONSE_TARGET = "response_target"
RTO_WARNING = "rto_warning"
RTO_BREACH = "rto_breach"
RTO_KINDS = (RTO_WARNING, RTO_BREACH)
INCIDENT_CLOCKS = (RESPONSE_TARGET, *RTO_KINDS)  # what resolving ends
FOLLOWUP_DUE = "followup_due"
POSTMORTEM_DUE = "postmortem_due"
WARN_AT = 0.8  # of the RTO

_PENDING = Deadline.fired_at.is_(None)


def arm(
    session: AsyncSession, kind: str, incident_id: int, due_at: datetime, run_id: int | None = None
) -> None:
    session.add(Deadline(kind=kind, incident_id=incident_id, run_id=run_id, due_at=due_at))


def arm_response_target(session: AsyncSession, incident: Incident, target_seconds: float) -> None:
    arm(
        session,
        RESPONSE_TARGET,
        incident.id,
        incident.opened_at + timedelta(seconds=target_seconds),
    )


def arm_rto(
    session: AsyncSession, incident_id: int, run_id: int, started_at: datetime, rto_seconds: float
) -> datetime:
    """The 80 % warning and the breach; returns the RTO deadline."""
    deadline = started_at + timedelta(seconds=rto_seconds)
    arm(
        session,
        RTO_WARNING,
        incident_id,
        started_at + timedelta(seconds=WARN_AT * rto_seconds),
        run_id,
    )
    arm(session, RTO_BREACH, incident_id, deadline, run_id)
    return deadline


async def disarm(
    session: AsyncSession,
    incident_id: int,
    kinds: Sequence[str] | None = None,
    run_id: int | None = None,
) -> None:
    """Drop pending clocks that no longer matter (acknowledged, resolved, run ended)."""
    stmt = delete(Deadline).where(Deadline.incident_id == incident_id, _PENDING)
    if kinds is not None:
        stmt = stmt.where(Deadline.kind.in_(kinds))
    if run_id is not None:
        stmt = stmt.where(Deadline.run_id == run_id)
    await session.execute(stmt)


async def move_response_target(session: AsyncSession, incident: Incident, target: float) -> bool:
    """A priority change: the pending target now counts the new level's time
    from when the incident opened. False when none is pending (already fired,
    or acknowledged)."""
    result = await session.execute(
        update(Deadline)
        .where(Deadline.incident_id == incident.id, Deadline.kind == RESPONSE_TARGET, _PENDING)
        .values(due_at=incident.opened_at + timedelta(seconds=target))
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
