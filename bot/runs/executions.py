"""An action's executions, at most once: claimed (committed) before it starts,
finished after, and those cut short by a dead process found afterwards.

``claim`` inserts the step's next attempt with ``ON CONFLICT DO NOTHING``: of
two clicks (or two processes) one inserts the row and starts the action, the
other gets None. A step that has an execution running or succeeded gets no
new one; after a failure or an execution in doubt, Run again is the next
attempt.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.runs.executor import Outcome
from bot.slack.owner import LIVE_OWNERS_SQL
from bot.store.backend import backend
from bot.store.executions import Execution
from bot.store.models import utcnow
from bot.store.states import ExecutionState

__all__ = ["claim", "cut_short", "finish", "result_data", "running"]

_BUSY = (ExecutionState.RUNNING, ExecutionState.SUCCEEDED)


async def claim(
    session: AsyncSession,
    *,
    incident_id: int,
    run_id: int,
    step_index: int,
    action_id: str,
    user_id: str | None,
    owner: int | None,
    at: datetime | None = None,
    result: dict[str, Any] | None = None,
) -> Execution | None:
    """The step's next execution, recorded as running; None when one runs or ran.

    The caller holds the incident's and the run's row locks (a Run click, a
    rerun after a crash: every decision on the run takes them), so the check
    for a running one and the next attempt's number are read by one claim at a
    time; the unique (run, step, attempt) key still keeps a second claim out
    if a caller did not. ``result``: what the row keeps from the start (the
    step message's ref).
    """
    mine = (Execution.run_id == run_id) & (Execution.step_index == step_index)
    busy = await session.scalar(
        select(Execution.id).where(mine, Execution.state.in_(_BUSY)).limit(1)
    )
    if busy is not None:
        return None
    last = await session.scalar(select(func.max(Execution.attempt)).where(mine))
    values = {
        "incident_id": incident_id,
        "run_id": run_id,
        "step_index": step_index,
        "attempt": (last or 0) + 1,
        "action_id": action_id,
        "state": ExecutionState.RUNNING,
        "started_by": user_id,
        "started_at": at or utcnow(),
        "owner": owner,
        "result": result or {},
    }
    insert = backend(session).insert(Execution).values(**values)
    new_id = await session.scalar(
        insert.on_conflict_do_nothing(index_elements=["run_id", "step_index", "attempt"]).returning(
            Execution.id
        )
    )
    return None if new_id is None else await session.get(Execution, new_id)


async def running(session: AsyncSession, run_id: int, step_index: int) -> Execution | None:
    """The step's execution still running, if any (a decision waits for it)."""
    return await session.scalar(
        select(Execution)
        .where(
            Execution.run_id == run_id,
            Execution.step_index == step_index,
            Execution.state == ExecutionState.RUNNING,
        )
        .limit(1)
    )


def result_data(execution: Execution, outcome: Outcome) -> dict[str, Any]:
    """What the timeline and the row keep of an outcome (the tail is already masked)."""
    return {
        "action": execution.action_id,
        "execution": execution.id,
        "code": outcome.code,
        "result": outcome.summary,
        "duration_s": round(outcome.duration_s, 3),
        "tail": outcome.tail,
    }


async def finish(
    session: AsyncSession, execution: Execution, outcome: Outcome, at: datetime | None = None
) -> bool:
    """Record how it ended; False when it is no longer running (marked in doubt meanwhile)."""
    state = ExecutionState.SUCCEEDED if outcome.ok else ExecutionState.FAILED
    done = await session.execute(
        update(Execution)
        .where(Execution.id == execution.id, Execution.state == ExecutionState.RUNNING)
        .values(
            state=state,
            ended_at=at or utcnow(),
            result={**(execution.result or {}), **result_data(execution, outcome)},
        )
    )
    return bool(getattr(done, "rowcount", 0))


async def cut_short(session: AsyncSession, *, all_running: bool = False) -> list[Execution]:
    """Running executions whose process is gone, marked in doubt (never rerun here).

    On PostgreSQL an owner is alive while it holds its advisory lock; with
    ``all_running`` (SQLite: one process, asked at its start) every running one.
    """
    # A step's executions only: the escalation action's (no step) are
    # ``bot/runs/escalation.py``'s to recover.
    query = select(Execution).where(
        Execution.state == ExecutionState.RUNNING, Execution.step_index.is_not(None)
    )
    if not all_running:
        query = query.where(
            (Execution.owner.is_(None)) | text(f"executions.owner <> ALL({LIVE_OWNERS_SQL})")
        )
    rows = list((await session.scalars(query.with_for_update(skip_locked=True))).all())
    for row in rows:
        row.state = ExecutionState.IN_DOUBT
        row.ended_at = utcnow()
    return rows
