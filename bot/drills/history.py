"""A runbook's recent runs and drills (``/runbook history RB-04``), and the
last runs of every runbook (App Home): a few indexed queries, newest first."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.drills.views import RunRow
from bot.store.models import Incident, Run, StepDecision, Validation


async def recent_runs(
    session: AsyncSession,
    runbook_id: str | None = None,
    *,
    limit: int = 10,
    since: datetime | None = None,
) -> list[RunRow]:
    """The newest runs (``since``: started then or later, e.g. the App Home's period)."""
    query = (
        select(
            Run.id,
            Run.runbook_id,
            Run.incident_id,
            Run.started_at,
            Run.ended_at,
            Run.state,
            Run.started_by,
            Incident.drill,
            Incident.drill_environment,
            Validation.result,
            Validation.reason,
        )
        .join(Incident, Incident.id == Run.incident_id)
        .outerjoin(Validation, Validation.run_id == Run.id)
        .order_by(Run.started_at.desc(), Run.id.desc())
        .limit(limit)
    )
    if runbook_id is not None:
        query = query.where(Run.runbook_id == runbook_id)
    if since is not None:
        query = query.where(Run.started_at >= since)
    rows = (await session.execute(query)).all()
    if not rows:
        return []
    ids = [r.id for r in rows]
    deciders: dict[int, list[str]] = {}
    skipped: dict[int, int] = {}
    decisions = await session.execute(
        select(
            StepDecision.run_id,
            StepDecision.decided_by,
            func.min(StepDecision.decided_at),
            func.sum(case((StepDecision.decision == "skipped", 1), else_=0)),
        )
        .where(StepDecision.run_id.in_(ids))
        .group_by(StepDecision.run_id, StepDecision.decided_by)
        .order_by(StepDecision.run_id, func.min(StepDecision.decided_at))
    )
    for run_id, who, _first, skips in decisions:
        deciders.setdefault(run_id, []).append(who)
        skipped[run_id] = skipped.get(run_id, 0) + int(skips or 0)
    return [
        RunRow(
            run_id=r.id,
            runbook_id=r.runbook_id,
            incident_key=f"INC-{r.incident_id}",
            started_at=r.started_at,
            ended_at=r.ended_at,
            state=r.state,
            drill=bool(r.drill),
            environment=r.drill_environment,
            validation=r.result,
            reason=r.reason,
            started_by=r.started_by,
            deciders=tuple(deciders.get(r.id, ())),
            skipped=skipped.get(r.id, 0),
        )
        for r in rows
    ]
