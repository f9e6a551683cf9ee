"""Insights over the last N days (SPEC §8), drills excluded, computed in SQL.

Per priority: incidents, median and p90 time to acknowledge and to resolve.
Per runbook: runs, completion rate, median duration of completed runs, RTO met,
the most skipped steps. PostgreSQL aggregates with ``percentile_cont``;
SQLite has no percentile function, so there the durations come back sorted,
one column per group, and are interpolated the same way (``percentile``).
Time to acknowledge and to resolve come from ``incidents.acknowledged_at`` /
``resolved_at`` (set in the transactions that append ``incident_acknowledged``
/ ``incident_resolved``); runs from ``runs`` and ``step_decisions``. Nothing
loads events into Python: each figure is one grouped query over indexed rows
(``incidents.opened_at``, ``runs.started_at``, migration 0008).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Float, and_, case, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from bot.drills.stats_render import PriorityStats, RunbookStats, Stats, percentile
from bot.runbook import Library
from bot.store.models import Incident, Run, StepDecision, utcnow

SKIPPED_SHOWN = 3


def _seconds(later: Any, earlier: Any, postgres: bool) -> ColumnElement[float]:
    if postgres:
        return cast(func.extract("epoch", later - earlier), Float)
    return (func.julianday(later) - func.julianday(earlier)) * 86400.0


async def _percentiles(
    session: AsyncSession,
    group: ColumnElement[Any],
    values: Sequence[ColumnElement[float]],
    source: Any,
    postgres: bool,
) -> dict[Any, list[tuple[float | None, float | None]]]:
    """Per group: (median, p90) of each value column (NULLs ignored)."""
    if postgres:
        cols = []
        for value in values:
            cols += [
                func.percentile_cont(0.5).within_group(value),
                func.percentile_cont(0.9).within_group(value),
            ]
        rows = await session.execute(select(group, *cols).select_from(source).group_by(group))
        return {
            r[0]: [(r[1 + 2 * i], r[2 + 2 * i]) for i in range(len(values))] for r in rows.all()
        }
    out: dict[Any, list[tuple[float | None, float | None]]] = {}
    for i, value in enumerate(values):
        sorted_rows = await session.execute(
            select(group, value).select_from(source).where(value.isnot(None)).order_by(group, value)
        )
        by_group: dict[Any, list[float]] = {}
        for key, seconds in sorted_rows:
            by_group.setdefault(key, []).append(float(seconds))
        for key, ordered in by_group.items():
            slot = out.setdefault(key, [(None, None)] * len(values))
            slot[i] = (percentile(ordered, 0.5), percentile(ordered, 0.9))
    return out


async def compute_stats(
    session: AsyncSession,
    library: Library,
    *,
    days: int = 90,
    now: datetime | None = None,
    levels: Sequence[str] = (),
) -> Stats:
    """``levels``: ``PRIORITY_LEVELS`` names, most urgent first (the rows' order)."""
    now = now or utcnow()
    since = now - timedelta(days=days)
    postgres = session.bind is not None and session.bind.dialect.name == "postgresql"
    real = and_(Incident.drill.is_(False), Incident.opened_at >= since)

    # --- per priority: acknowledgement and resolution times ---------------------
    per_incident = (
        select(
            Incident.priority.label("priority"),
            _seconds(Incident.acknowledged_at, Incident.opened_at, postgres).label("tta"),
            _seconds(Incident.resolved_at, Incident.opened_at, postgres).label("ttr"),
        )
        .where(real)
        .subquery()
    )
    counts = await session.execute(
        select(
            per_incident.c.priority,
            func.count(),
            func.count(per_incident.c.tta),
            func.count(per_incident.c.ttr),
        ).group_by(per_incident.c.priority)
    )
    pct = await _percentiles(
        session,
        per_incident.c.priority,
        [per_incident.c.tta, per_incident.c.ttr],
        per_incident,
        postgres,
    )
    priorities = []
    for name, total, n_acked, n_resolved in counts.all():
        (tta_med, tta_p90), (ttr_med, ttr_p90) = pct.get(name, [(None, None), (None, None)])
        priorities.append(
            PriorityStats(
                str(name),
                int(total),
                int(n_acked),
                int(n_resolved),
                tta_med,
                tta_p90,
                ttr_med,
                ttr_p90,
            )
        )

    # --- per runbook -----------------------------------------------------------
    rto_of = {rb.id: rb.rto_seconds for rb in library.runbooks.values() if rb.rto_seconds}
    rto = func.coalesce(
        Run.snapshot[("meta", "rto_seconds")].as_float(),
        case({k: v for k, v in rto_of.items()}, value=Run.runbook_id) if rto_of else None,
    )
    duration = _seconds(Run.ended_at, Run.started_at, postgres)
    per_run = (
        select(
            Run.id.label("run_id"),
            Run.runbook_id.label("runbook_id"),
            Run.state.label("state"),
            duration.label("duration"),
            case((Run.state == "completed", duration)).label("completed_duration"),
            rto.label("rto"),
        )
        .join(Incident, Incident.id == Run.incident_id)
        .where(Incident.drill.is_(False), Run.started_at >= since)
        .subquery()
    )
    ended = per_run.c.state != "running"
    runbook_rows = await session.execute(
        select(
            per_run.c.runbook_id,
            func.count(),
            func.sum(case((per_run.c.state == "completed", 1), else_=0)),
            func.sum(case((and_(ended, per_run.c.rto.isnot(None)), 1), else_=0)),
            func.sum(
                case(
                    (
                        and_(per_run.c.state == "completed", per_run.c.duration <= per_run.c.rto),
                        1,
                    ),
                    else_=0,
                )
            ),
        ).group_by(per_run.c.runbook_id)
    )
    medians = await _percentiles(
        session, per_run.c.runbook_id, [per_run.c.completed_duration], per_run, postgres
    )
    skipped = await _most_skipped(session, since)
    runbooks = []
    for runbook_id, runs, completed, with_rto, rto_met in runbook_rows.all():
        median = medians.get(runbook_id, [(None, None)])[0][0]
        runbooks.append(
            RunbookStats(
                runbook_id=runbook_id,
                runs=int(runs),
                completed=int(completed or 0),
                median_duration=median,
                rto_runs=int(with_rto or 0),
                rto_met=int(rto_met or 0),
                skipped=_label_skips(library, runbook_id, skipped.get(runbook_id, [])),
            )
        )
    order = {name: i for i, name in enumerate(levels)}
    priorities.sort(key=lambda p: (order.get(p.priority, len(order)), p.priority))
    runbooks.sort(key=lambda r: (-r.runs, r.runbook_id))
    return Stats(days=days, since=since, until=now, priorities=priorities, runbooks=runbooks)


async def _most_skipped(session: AsyncSession, since: datetime) -> dict[str, list[tuple[int, int]]]:
    """Per runbook: (step index, times skipped), most skipped first, top few."""
    count = func.count().label("n")
    ranked = (
        select(
            Run.runbook_id,
            StepDecision.step_index,
            count,
            func.row_number()
            .over(
                partition_by=Run.runbook_id,
                order_by=(func.count().desc(), StepDecision.step_index),
            )
            .label("rank"),
        )
        .join(Run, Run.id == StepDecision.run_id)
        .join(Incident, Incident.id == Run.incident_id)
        .where(
            StepDecision.decision == "skipped",
            Incident.drill.is_(False),
            Run.started_at >= since,
        )
        .group_by(Run.runbook_id, StepDecision.step_index)
        .subquery()
    )
    rows = await session.execute(
        select(ranked.c.runbook_id, ranked.c.step_index, ranked.c.n)
        .where(ranked.c.rank <= SKIPPED_SHOWN)
        .order_by(ranked.c.runbook_id, ranked.c.rank)
    )
    out: dict[str, list[tuple[int, int]]] = {}
    for runbook_id, index, n in rows:
        out.setdefault(runbook_id, []).append((int(index), int(n)))
    return out


def _label_skips(
    library: Library, runbook_id: str, skips: list[tuple[int, int]]
) -> list[tuple[str, int]]:
    runbook = library.get(runbook_id)
    steps = runbook.steps if runbook is not None else ()
    labels = []
    for index, n in skips:
        if index < len(steps):
            phase, step = steps[index]
            first = step.text.strip().split("\n", 1)[0].replace("*", "").replace("`", "")
            short = first if len(first) <= 50 else first[:49] + "…"
            labels.append((f"{phase.name} {step.number} ({short})", n))
        else:
            labels.append((f"step #{index + 1}", n))
    return labels
