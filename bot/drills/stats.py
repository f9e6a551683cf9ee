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

The statements are SQL text with ``:name`` parameters, run by ``read_stats``
through any ``fetch``: ``runbook-bot stats`` runs them straight over the driver
(``bot/store/direct.py``), without importing SQLAlchemy, which alone took longer
than the query; the App Home runs the same text through its session
(``compute_stats``). One set of statements, so the two cannot disagree.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from bot.drills.stats_render import PriorityStats, RunbookStats, Stats, percentile
from bot.runbook import Library

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

SKIPPED_SHOWN = 3
REASONS_SHOWN = 2  # the latest reasons given for skipping each step

Rows = Sequence[Sequence[Any]]
# (sql, params) → the rows; ``:name`` parameters, as SQLAlchemy's ``text()``.
Fetch = Callable[[str, Mapping[str, Any]], Awaitable[Rows]]


@dataclass(frozen=True, slots=True)
class _Dialect:
    postgres: bool
    seconds: str  # seconds from {earlier} to {later}, a float
    snapshot_rto: str  # the run's own RTO (runs.snapshot → meta.rto_seconds), a float
    false: str  # what ``incidents.drill`` holds when it is not a drill
    event_data: str  # {key} of ``timeline_events.data`` as text


_DIALECTS = {
    "postgresql": _Dialect(
        True,
        "CAST(EXTRACT(epoch FROM {later} - {earlier}) AS FLOAT)",
        "CAST(runs.snapshot #>> '{meta,rto_seconds}' AS FLOAT)",
        "false",
        "(timeline_events.data ->> '{key}')",
    ),
    "sqlite": _Dialect(
        False,
        "(julianday({later}) - julianday({earlier})) * 86400.0",
        "CAST(JSON_EXTRACT(runs.snapshot, '$.meta.rto_seconds') AS FLOAT)",
        "0",
        "CAST(JSON_EXTRACT(timeline_events.data, '$.{key}') AS TEXT)",
    ),
}


def _since_param(since: datetime, d: _Dialect) -> object:
    # SQLite holds times as text in SQLAlchemy's format, UTC (bot/store/models.py
    # UTCDateTime), and compares them as text: the bound value must match it.
    if d.postgres:
        return since
    return since.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _per_incident(d: _Dialect) -> str:
    tta = d.seconds.format(later="acknowledged_at", earlier="opened_at")
    ttr = d.seconds.format(later="resolved_at", earlier="opened_at")
    return (
        f"SELECT priority, {tta} AS tta, {ttr} AS ttr FROM incidents "
        f"WHERE drill IS {d.false} AND opened_at >= :since"
    )


def _per_run(d: _Dialect, rto_of: Mapping[str, float], params: dict[str, Any]) -> str:
    """One row per run; ``rto``: the snapshot's, else the library's (bound in ``params``)."""
    duration = d.seconds.format(later="runs.ended_at", earlier="runs.started_at")
    rto = d.snapshot_rto
    if rto_of:
        whens = []
        for i, (runbook_id, seconds) in enumerate(rto_of.items()):
            params[f"rb{i}"], params[f"rto{i}"] = runbook_id, float(seconds)
            whens.append(f"WHEN :rb{i} THEN CAST(:rto{i} AS FLOAT)")
        rto = f"coalesce({rto}, CASE runs.runbook_id {' '.join(whens)} END)"
    return (
        "SELECT runs.runbook_id AS runbook_id, runs.state AS state, "
        f"{duration} AS duration, "
        f"CASE WHEN runs.state = 'completed' THEN {duration} END AS completed_duration, "
        f"{rto} AS rto "
        "FROM runs JOIN incidents ON incidents.id = runs.incident_id "
        f"WHERE incidents.drill IS {d.false} AND runs.started_at >= :since"
    )


async def _percentiles(
    fetch: Fetch,
    d: _Dialect,
    group: str,
    values: Sequence[str],
    source: str,
    params: Mapping[str, Any],
) -> dict[Any, list[tuple[float | None, float | None]]]:
    """Per group: (median, p90) of each value column of ``source`` (NULLs ignored)."""
    if d.postgres:
        cols = ", ".join(
            f"percentile_cont(0.5) WITHIN GROUP (ORDER BY {v}), "
            f"percentile_cont(0.9) WITHIN GROUP (ORDER BY {v})"
            for v in values
        )
        rows = await fetch(f"SELECT {group}, {cols} FROM ({source}) AS s GROUP BY {group}", params)
        return {r[0]: [(r[1 + 2 * i], r[2 + 2 * i]) for i in range(len(values))] for r in rows}
    out: dict[Any, list[tuple[float | None, float | None]]] = {}
    for i, value in enumerate(values):
        sorted_rows = await fetch(
            f"SELECT {group}, {value} FROM ({source}) AS s "
            f"WHERE {value} IS NOT NULL ORDER BY {group}, {value}",
            params,
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
    """``read_stats`` through a SQLAlchemy session (the App Home's)."""
    # Here, not at the top: `runbook-bot stats` imports this module without SQLAlchemy.
    from sqlalchemy import text

    async def fetch(sql: str, params: Mapping[str, Any]) -> Rows:
        return (await session.execute(text(sql), dict(params))).all()

    postgres = session.bind is not None and session.bind.dialect.name == "postgresql"
    return await read_stats(
        fetch, "postgresql" if postgres else "sqlite", library, days=days, now=now, levels=levels
    )


async def read_stats(
    fetch: Fetch,
    dialect: str,
    library: Library,
    *,
    days: int = 90,
    now: datetime | None = None,
    levels: Sequence[str] = (),
) -> Stats:
    """``dialect``: ``postgresql`` or ``sqlite``. ``levels``: ``PRIORITY_LEVELS``
    names, most urgent first (the rows' order)."""
    d = _DIALECTS[dialect]
    now = now or datetime.now(UTC)
    since = now - timedelta(days=days)
    params: dict[str, Any] = {"since": _since_param(since, d)}

    # --- per priority: acknowledgement and resolution times ---------------------
    per_incident = _per_incident(d)
    counts = await fetch(
        f"SELECT priority, count(*), count(tta), count(ttr) FROM ({per_incident}) AS i "
        "GROUP BY priority",
        params,
    )
    pct = await _percentiles(fetch, d, "priority", ["tta", "ttr"], per_incident, params)
    priorities = []
    for name, total, n_acked, n_resolved in counts:
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
    run_params = dict(params)
    per_run = _per_run(d, rto_of, run_params)
    runbook_rows = await fetch(
        "SELECT runbook_id, count(*), "
        "sum(CASE WHEN state = 'completed' THEN 1 ELSE 0 END), "
        "sum(CASE WHEN state != 'running' AND rto IS NOT NULL THEN 1 ELSE 0 END), "
        "sum(CASE WHEN state = 'completed' AND duration <= rto THEN 1 ELSE 0 END) "
        f"FROM ({per_run}) AS r GROUP BY runbook_id",
        run_params,
    )
    medians = await _percentiles(
        fetch, d, "runbook_id", ["completed_duration"], per_run, run_params
    )
    skipped = await _most_skipped(fetch, d, params)
    reasons = await _skip_reasons(fetch, d, params)
    runbooks = []
    for runbook_id, runs, completed, with_rto, rto_met in runbook_rows:
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
                skip_reasons=_label_reasons(
                    library, runbook_id, skipped.get(runbook_id, []), reasons
                ),
            )
        )
    order = {name: i for i, name in enumerate(levels)}
    priorities.sort(key=lambda p: (order.get(p.priority, len(order)), p.priority))
    runbooks.sort(key=lambda r: (-r.runs, r.runbook_id))
    return Stats(days=days, since=since, until=now, priorities=priorities, runbooks=runbooks)


async def _most_skipped(
    fetch: Fetch, d: _Dialect, params: Mapping[str, Any]
) -> dict[str, list[tuple[int, int]]]:
    """Per runbook: (step index, times skipped), most skipped first, top few."""
    ranked = (
        "SELECT runs.runbook_id AS runbook_id, step_decisions.step_index AS step_index, "
        "count(*) AS n, row_number() OVER (PARTITION BY runs.runbook_id "
        "ORDER BY count(*) DESC, step_decisions.step_index) AS rank "
        "FROM step_decisions JOIN runs ON runs.id = step_decisions.run_id "
        "JOIN incidents ON incidents.id = runs.incident_id "
        f"WHERE step_decisions.decision = 'skipped' AND incidents.drill IS {d.false} "
        "AND runs.started_at >= :since "
        "GROUP BY runs.runbook_id, step_decisions.step_index"
    )
    rows = await fetch(
        f"SELECT runbook_id, step_index, n FROM ({ranked}) AS ranked "
        f"WHERE rank <= {SKIPPED_SHOWN} ORDER BY runbook_id, rank",
        params,
    )
    out: dict[str, list[tuple[int, int]]] = {}
    for runbook_id, index, n in rows:
        out.setdefault(runbook_id, []).append((int(index), int(n)))
    return out


async def _skip_reasons(
    fetch: Fetch, d: _Dialect, params: Mapping[str, Any]
) -> dict[tuple[str, int], list[str]]:
    """(runbook, step index) → the latest reasons given for skipping it, newest first."""
    index = f"CAST({d.event_data.format(key='step_index')} AS INTEGER)"
    reason = d.event_data.format(key="reason")
    ranked = (
        f"SELECT runs.runbook_id AS runbook_id, {index} AS step_index, {reason} AS reason, "
        f"row_number() OVER (PARTITION BY runs.runbook_id, {index} "
        "ORDER BY timeline_events.at DESC, timeline_events.id DESC) AS rank "
        "FROM timeline_events JOIN runs ON runs.id = timeline_events.run_id "
        "JOIN incidents ON incidents.id = runs.incident_id "
        f"WHERE timeline_events.kind = 'step_skipped' AND incidents.drill IS {d.false} "
        f"AND runs.started_at >= :since AND {reason} IS NOT NULL AND {reason} != ''"
    )
    rows = await fetch(
        f"SELECT runbook_id, step_index, reason FROM ({ranked}) AS ranked "
        f"WHERE rank <= {REASONS_SHOWN} ORDER BY runbook_id, step_index, rank",
        params,
    )
    out: dict[tuple[str, int], list[str]] = {}
    for runbook_id, step_index, text in rows:
        out.setdefault((runbook_id, int(step_index)), []).append(str(text))
    return out


def _label_reasons(
    library: Library,
    runbook_id: str,
    skips: list[tuple[int, int]],
    reasons: Mapping[tuple[str, int], list[str]],
) -> dict[str, tuple[str, ...]]:
    """The most skipped steps' labels (as ``_label_skips`` writes them) → their reasons."""
    labels = _label_skips(library, runbook_id, skips)
    return {
        label: tuple(reasons[(runbook_id, index)])
        for (index, _), (label, _) in zip(skips, labels, strict=True)
        if (runbook_id, index) in reasons
    }


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
