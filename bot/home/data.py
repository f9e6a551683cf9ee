"""What the App Home shows, read in a handful of indexed queries (no per-incident
round trips): the most urgent open incidents with their running runbook and
progress, how many are open, drills due, the last runs."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.drills.history import recent_runs
from bot.drills.log import due_runbooks
from bot.home.view import SHOW_INCIDENTS, SHOW_RUNS, HomeData, OpenIncident
from bot.incidents.followup_text import FollowupView
from bot.incidents.followups import view_of
from bot.runbook import Library
from bot.store.models import Followup, Incident, Run, SlackProblem, StepDecision
from bot.store.states import IncidentState, RunStatus


async def open_incidents(
    session: AsyncSession, *, levels: Sequence[str] = (), limit: int = SHOW_INCIDENTS
) -> tuple[list[OpenIncident], int]:
    """The open incidents to list — most urgent level first (``levels`` in
    ``PRIORITY_LEVELS`` order), then oldest — and how many are open in all."""
    rank = (
        case({name: i for i, name in enumerate(levels)}, value=Incident.priority, else_=len(levels))
        if levels
        else None
    )
    count = (
        await session.execute(
            select(func.count(Incident.id)).where(Incident.state == IncidentState.OPEN)
        )
    ).scalar_one()
    rows = (
        await session.execute(
            select(
                Incident.id,
                Incident.title,
                Incident.opened_at,
                Incident.channel_id,
                Incident.thread_ts,
                Incident.last_update_at,
                Incident.drill,
                Incident.priority,
                Incident.roles,
            )
            .where(Incident.state == IncidentState.OPEN)
            .order_by(*([rank] if rank is not None else []), Incident.opened_at, Incident.id)
            .limit(limit)
        )
    ).all()
    ids = [r.id for r in rows]
    running: dict[int, tuple[int, str, int]] = {}
    decided: dict[int, int] = {}
    if ids:
        for run_id, incident_id, runbook_id, snapshot in await session.execute(
            select(Run.id, Run.incident_id, Run.runbook_id, Run.snapshot)
            .where(Run.incident_id.in_(ids), Run.state == RunStatus.RUNNING)
            .order_by(Run.id)
        ):
            # The newest running run of an incident is the one shown.
            running[incident_id] = (run_id, runbook_id, len((snapshot or {}).get("steps", [])))
        run_ids = [r[0] for r in running.values()]
        if run_ids:
            decided = dict(
                (
                    await session.execute(
                        select(StepDecision.run_id, func.count())
                        .where(StepDecision.run_id.in_(run_ids))
                        .group_by(StepDecision.run_id)
                    )
                ).all()
            )
    shown: list[OpenIncident] = []
    for r in rows:
        run = running.get(r.id)
        shown.append(
            OpenIncident(
                id=r.id,
                title=r.title,
                opened_at=r.opened_at,
                channel_id=r.channel_id,
                last_update_at=r.last_update_at,
                runbook_id=run[1] if run else None,
                step=min(decided.get(run[0], 0) + 1, run[2]) if run else 0,
                steps=run[2] if run else 0,
                drill=bool(r.drill),
                thread_ts=r.thread_ts,
                priority=r.priority,
                commander=(r.roles or {}).get("commander"),
            )
        )
    return shown, int(count)


async def load_home(
    session: AsyncSession,
    library: Library,
    *,
    interval_seconds: float,
    now: datetime,
    insights: Sequence[str] = (),
    insights_days: int = 90,
    levels: Sequence[str] = (),
) -> HomeData:
    incidents, count = await open_incidents(session, levels=levels)
    catalog = [(rb.id, rb.title) for rb in library.runbooks.values()]
    due = await due_runbooks(session, catalog, interval_seconds=interval_seconds, now=now)
    # The same period as the insights, so the two never disagree.
    since = now - timedelta(days=insights_days)
    runs = await recent_runs(session, limit=SHOW_RUNS, since=since)
    problems = (await session.execute(select(SlackProblem.scope, SlackProblem.error))).all()
    return HomeData(
        now=now,
        incidents=incidents,
        open_count=count,
        due=due,
        runs=runs,
        insights=insights,
        insights_days=insights_days,
        catalog_size=len(catalog),
        slack_problems={str(scope): str(error) for scope, error in problems},
    )


async def followups_of(
    session: AsyncSession, users: Sequence[str]
) -> dict[str, list[FollowupView]]:
    """Each viewer's open follow-ups (one query for a round of viewers)."""
    if not users:
        return {}
    query = select(Followup).where(Followup.owner.in_(users), Followup.done_at.is_(None))
    mine: dict[str, list[FollowupView]] = {}
    for row in (await session.execute(query.order_by(Followup.id))).scalars():
        mine.setdefault(str(row.owner), []).append(view_of(row))
    return mine
