"""A postmortem draft from the database: one query per part (the incident, its
timeline, its runs, its follow-ups, the people's handles) and two per runbook
with a step skipped here (its recent runs, their skips by step), rendered by
``bot/incidents/postmortem_render.py``.

``runbook-bot postmortem`` of a 5,000-event incident must print in well under
a second (``bench/postmortem.py``): so no query per event, the events' JSON
``data`` is read only where the draft uses it (a skipped step's index), and
the statements are SQL text with ``:name`` parameters run by ``read_draft``
through any ``fetch``. The command runs them straight over the driver
(``bot/store/direct.py``), without importing SQLAlchemy, whose import alone
took longer than the queries; the playground's page runs the same text
through its session (``load_draft``). One loader, so the two cannot disagree.

The drivers hand values back differently (asyncpg: aware datetimes; sqlite3:
times as text, booleans as 0/1; SQLAlchemy's asyncpg: JSON decoded): JSON is
selected as text and decoded here (``_json``), times made aware UTC (``_time``).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from bot.incidents.followup_text import FollowupView
from bot.incidents.postmortem_render import Draft, Feedback, Head, RunRow, skip_reason, step_text
from bot.incidents.priority import PriorityPolicy
from bot.incidents.timeline_render import EventRow
from bot.store.states import EventKind

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

RECENT_RUNS = 20  # "recent": a runbook's last runs, drills excluded
_CHUNK = 500  # bound parameters per IN list, well under either database's limit

Rows = Sequence[Sequence[Any]]
# (sql, params) → the rows; ``:name`` parameters, as SQLAlchemy's ``text()``.
Fetch = Callable[[str, Mapping[str, Any]], Awaitable[Rows]]

_SQL = {
    "postgresql": {
        "rto": "CAST(runs.snapshot #>> '{meta,rto_seconds}' AS FLOAT)",
        "false": "false",
    },
    "sqlite": {
        "rto": "CAST(JSON_EXTRACT(runs.snapshot, '$.meta.rto_seconds') AS FLOAT)",
        "false": "0",
    },
}


def _json(value: str | None) -> Any:
    # Selected as text (``CAST(… AS TEXT)``): every driver then hands back the
    # same thing, where SQLAlchemy's asyncpg would have decoded it already.
    return None if value is None else json.loads(value)


def _time(value: Any) -> Any:
    """A time column's value as an aware UTC datetime (SQLite: text, UTC)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _in_list(name: str, values: Sequence[Any], params: dict[str, Any]) -> str:
    """``(:name0, :name1, …)``, binding ``values`` in ``params``."""
    for i, value in enumerate(values):
        params[f"{name}{i}"] = value
    return "(" + ", ".join(f":{name}{i}" for i in range(len(values))) + ")"


async def load_draft(
    sessions: async_sessionmaker[AsyncSession], incident_id: int, policy: PriorityPolicy
) -> Draft | None:
    """``read_draft`` through a SQLAlchemy session (the playground's page)."""
    # Here, not at the top: `runbook-bot postmortem` imports this module without SQLAlchemy.
    from sqlalchemy import text

    async with sessions() as session:

        async def fetch(sql: str, params: Mapping[str, Any]) -> Rows:
            return (await session.execute(text(sql), dict(params))).all()

        bind = session.bind
        dialect = (
            "postgresql" if bind is not None and bind.dialect.name == "postgresql" else "sqlite"
        )
        return await read_draft(fetch, dialect, incident_id, policy)


async def read_draft(
    fetch: Fetch, dialect: str, incident_id: int, policy: PriorityPolicy
) -> Draft | None:
    """``dialect``: ``postgresql`` or ``sqlite``. None if there is no such incident."""
    sql = _SQL[dialect]
    head = await _head(fetch, incident_id, policy)
    if head is None:
        return None
    events = await _events(fetch, incident_id)
    runs = await _runs(fetch, sql, incident_id)
    followups = await _followups(fetch, incident_id)
    feedback = await _feedback(fetch, sql, events, runs)
    people = {e.actor for e in events if e.actor} | set(head.roles.values())
    people |= {f.owner for f in followups if f.owner}
    people |= {u for u in (head.opened_by, head.resolved_by, head.acknowledged_by) if u}
    handles = await _handles(fetch, people)
    return Draft(head, events, runs, followups, feedback, handles)


async def _head(fetch: Fetch, incident_id: int, policy: PriorityPolicy) -> Head | None:
    rows = await fetch(
        "SELECT id, title, priority, drill, CAST(roles AS TEXT), opened_at, opened_by, "
        "acknowledged_at, acknowledged_by, resolved_at, resolved_by FROM incidents WHERE id = :id",
        {"id": incident_id},
    )
    if not rows:
        return None
    (id_, title, priority, drill, roles, opened_at, opened_by) = rows[0][:7]
    acknowledged_at, acknowledged_by, resolved_at, resolved_by = rows[0][7:]
    return Head(
        key=f"INC-{id_}",
        title=title,
        priority=priority,
        drill=bool(drill),
        roles=dict(_json(roles) or {}),
        opened_at=_time(opened_at),
        opened_by=opened_by,
        acknowledged_at=_time(acknowledged_at),
        acknowledged_by=acknowledged_by,
        resolved_at=_time(resolved_at),
        resolved_by=resolved_by,
        target_seconds=policy.target_for(priority),
    )


async def _events(fetch: Fetch, incident_id: int) -> list[EventRow]:
    # Decoding every event's JSON was a third of the load time; only a
    # skipped step's is read (its index, for the runbook feedback).
    rows = await fetch(
        "SELECT at, kind, actor, text, run_id, "
        "CAST(CASE WHEN kind = :skipped THEN data END AS TEXT) AS data "
        "FROM timeline_events WHERE incident_id = :id ORDER BY at, id",
        {"id": incident_id, "skipped": EventKind.STEP_SKIPPED.value},
    )
    return [
        EventRow(_time(at), kind, actor, text, run_id, _json(data))
        for at, kind, actor, text, run_id, data in rows
    ]


async def _runs(fetch: Fetch, sql: Mapping[str, str], incident_id: int) -> list[RunRow]:
    rows = await fetch(
        "SELECT id, runbook_id, runbook_title, state, started_by, started_at, ended_at, "
        f"{sql['rto']} FROM runs WHERE incident_id = :id ORDER BY started_at, id",
        {"id": incident_id},
    )
    return [
        RunRow(
            id_,
            runbook_id,
            title,
            state,
            started_by,
            _time(started_at),
            _time(ended_at),
            None if rto is None else float(rto),
        )
        for id_, runbook_id, title, state, started_by, started_at, ended_at, rto in rows
    ]


async def _followups(fetch: Fetch, incident_id: int) -> list[FollowupView]:
    rows = await fetch(
        "SELECT id, incident_id, text, owner, due_at, done_at FROM followups "
        "WHERE incident_id = :id ORDER BY id",
        {"id": incident_id},
    )
    return [
        FollowupView(id_, incident, text, owner, _time(due_at), _time(done_at))
        for id_, incident, text, owner, due_at, done_at in rows
    ]


async def _handles(fetch: Fetch, user_ids: Iterable[str]) -> dict[str, str]:
    """The known handles of ``user_ids`` (the ``people`` table; unknown ids left out)."""
    wanted = sorted(set(user_ids))
    handles: dict[str, str] = {}
    for start in range(0, len(wanted), _CHUNK):
        params: dict[str, Any] = {}
        listed = _in_list("u", wanted[start : start + _CHUNK], params)
        rows = await fetch(f"SELECT user_id, name FROM people WHERE user_id IN {listed}", params)
        handles.update({user_id: name for user_id, name in rows})
    return handles


async def _feedback(
    fetch: Fetch, sql: Mapping[str, str], events: list[EventRow], runs: list[RunRow]
) -> list[Feedback]:
    """Each step skipped here, with how many of its runbook's recent runs skipped it."""
    runbook_of = {r.id: r.runbook_id for r in runs}
    skipped = [e for e in events if e.kind == EventKind.STEP_SKIPPED and e.run_id in runbook_of]
    wanted: dict[str, set[int]] = {}
    for e in skipped:
        wanted.setdefault(runbook_of[e.run_id], set()).add(_step_index(e))  # type: ignore[index]
    counted = {rb: await _recent_skips(fetch, sql, rb, steps) for rb, steps in wanted.items()}
    out = []
    for e in skipped:
        runbook_id = runbook_of[e.run_id]  # type: ignore[index]
        index = _step_index(e)
        of_runs, skips = counted[runbook_id]
        step = step_text(e).split(": ", 1)[-1]
        reason = skip_reason(e)
        out.append(Feedback(runbook_id, index, step, e.actor, skips.get(index, 0), of_runs, reason))
    return out


def _step_index(e: EventRow) -> int:
    return int((e.data or {}).get("step_index", -1))


async def _recent_skips(
    fetch: Fetch, sql: Mapping[str, str], runbook_id: str, steps: set[int]
) -> tuple[int, dict[int, int]]:
    """How many recent runs ``runbook_id`` has, and how many of them skipped each step."""
    recent = (
        "SELECT runs.id FROM runs JOIN incidents ON incidents.id = runs.incident_id "
        f"WHERE runs.runbook_id = :rb AND incidents.drill IS {sql['false']} "
        f"ORDER BY runs.started_at DESC, runs.id DESC LIMIT {RECENT_RUNS}"
    )
    counted = await fetch(f"SELECT count(*) FROM ({recent}) AS recent", {"rb": runbook_id})
    params: dict[str, Any] = {"rb": runbook_id, "skipped": "skipped"}
    listed = _in_list("s", sorted(steps), params)
    rows = await fetch(
        "SELECT step_index, count(id) FROM step_decisions "
        f"WHERE run_id IN (SELECT id FROM ({recent}) AS recent) "
        f"AND step_index IN {listed} AND decision = :skipped GROUP BY step_index",
        params,
    )
    return int(counted[0][0] or 0), {int(index): int(count) for index, count in rows}
