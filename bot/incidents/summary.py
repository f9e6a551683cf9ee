"""The resolve summary's figures (SPEC §5, §7): decisions, updates, missed
reminder windows, time to acknowledge against the target, each run's RTO."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.models import Incident, Run, StepDecision, TimelineEvent
from bot.store.states import EventKind


async def incident_stats(
    session: AsyncSession, incident: Incident, target_seconds: float | None = None
) -> dict[str, Any]:
    """Figures for the resolve summary (``target_seconds``: the level's response target)."""
    counts = dict(
        (
            await session.execute(
                select(TimelineEvent.kind, func.count())
                .where(TimelineEvent.incident_id == incident.id)
                .group_by(TimelineEvent.kind)
            )
        ).all()
    )
    first_decision = (
        await session.execute(
            select(func.min(StepDecision.decided_at))
            .join(Run, Run.id == StepDecision.run_id)
            .where(Run.incident_id == incident.id)
        )
    ).scalar()
    reminder_data = (
        await session.execute(
            select(TimelineEvent.data).where(
                TimelineEvent.incident_id == incident.id,
                # A window whose reminder joined one still waiting is missed too.
                TimelineEvent.kind.in_((EventKind.REMINDER_SENT, EventKind.REMINDER_JOINED)),
            )
        )
    ).scalars()
    missed = sum(int((data or {}).get("windows", 1)) for data in reminder_data)
    rto_runs = await _rto_runs(session, incident)
    return {
        "rto_runs": rto_runs,
        "target_seconds": target_seconds,
        "missed_windows": missed,
        "approved": int(counts.get(EventKind.STEP_APPROVED, 0)),
        "skipped": int(counts.get(EventKind.STEP_SKIPPED, 0)),
        "updates": int(counts.get(EventKind.STATUS_UPDATE, 0)),
        "reminders": int(counts.get(EventKind.REMINDER_SENT, 0)),
        "notes": int(counts.get(EventKind.NOTE, 0)),
        "runs": int(counts.get(EventKind.RUNBOOK_STARTED, 0)),
        "first_decision_at": first_decision,
    }


async def _rto_runs(session: AsyncSession, incident: Incident) -> list[dict[str, Any]]:
    """The incident's runs that had an RTO, in start order."""
    return [
        {
            "runbook_id": runbook_id,
            "state": state,
            "started_at": started,
            "ended_at": ended,
            "rto_seconds": float(rto),
        }
        for runbook_id, state, started, ended, rto in (
            await session.execute(
                select(
                    Run.runbook_id,
                    Run.state,
                    Run.started_at,
                    Run.ended_at,
                    Run.snapshot[("meta", "rto_seconds")].as_float(),
                )
                .where(Run.incident_id == incident.id)
                .order_by(Run.id)
            )
        ).all()
        if rto
    ]


def resolved_data(incident: Incident, stats: dict[str, Any]) -> dict[str, Any]:
    """The resolve summary's figures as the ``incident_resolved`` event keeps them (JSON)."""
    data = {k: v for k, v in stats.items() if k not in ("first_decision_at", "rto_runs")}
    ack = incident.acknowledged_at
    data["priority"] = incident.priority
    data["acknowledged_by"] = incident.acknowledged_by
    data["ack_seconds"] = round((ack - incident.opened_at).total_seconds(), 3) if ack else None
    target = stats.get("target_seconds")
    data["target_met"] = bool(ack and target and data["ack_seconds"] <= target)
    data["roles"] = dict(incident.roles or {})
    data["rto"] = [
        {
            "runbook_id": run["runbook_id"],
            "state": run["state"],
            "rto_seconds": run["rto_seconds"],
            "seconds": round((run["ended_at"] - run["started_at"]).total_seconds(), 3)
            if run["ended_at"]
            else None,
            "met": bool(
                run["state"] == "completed"
                and run["ended_at"]
                and (run["ended_at"] - run["started_at"]).total_seconds() <= run["rto_seconds"]
            ),
        }
        for run in stats.get("rto_runs", [])
    ]
    return data
