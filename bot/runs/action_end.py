"""An execution's end, and executions cut short by a dead process.

``conclude`` records how an action ended in one transaction: the execution
row, ``action_succeeded`` / ``action_failed``, the output's tail in the run's
thread, and then — success — the step approved and the run moved on exactly as
after Approve (``decide.apply_decision``), or — failure — the step open again
with Run again / Skip.

``recover`` marks the running executions of dead processes in doubt
(``executions.cut_short``): it may have run, so it is never rerun by itself —
the step offers Run again / Skip — unless its action is ``idempotent``, which
is rerun once (a rerun cut short in turn is left in doubt).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.incidents.service import add_event
from bot.runs import action_blocks, engine, executions
from bot.runs.decide import Click, apply_decision, step_label
from bot.runs.engine import Decision, FlowStep
from bot.runs.executor import Outcome
from bot.runs.queries import load_state, lock_incident_then_run, run_info, run_message_ref
from bot.runs.running import ran, started
from bot.slack.outbox import enqueue
from bot.slack.pace import Priority
from bot.store.executions import Execution
from bot.store.models import Incident, Run, utcnow
from bot.store.states import EventKind, IncidentState, run_key

__all__ = ["IN_DOUBT", "Found", "conclude", "recover"]

IN_DOUBT = "the bot stopped while it ran: it may have run"


@dataclass(frozen=True, slots=True)
class Found:
    """An execution with its run, incident and step, locked in that order."""

    execution: Execution
    run: Run
    incident: Incident
    step: FlowStep
    state: engine.RunState


async def _load(session: AsyncSession, execution: Execution) -> Found | None:
    if execution.run_id is None or execution.step_index is None:
        return None  # not a step's (the bot's own escalation)
    locked = await lock_incident_then_run(session, execution.run_id)
    if locked is None:
        return None
    incident, run = locked
    state = await load_state(session, run)
    if not 0 <= execution.step_index < len(state.steps):
        return None
    return Found(execution, run, incident, state.steps[execution.step_index], state)


async def conclude(
    session: AsyncSession, execution_id: int, outcome: Outcome, at: datetime | None = None
) -> bool:
    """Record an execution's end; False when it was no longer running (marked in
    doubt meanwhile: the people were already offered Run again)."""
    now = at or utcnow()
    execution = await session.get(Execution, execution_id)
    if execution is None:
        return False
    found = await _load(session, execution)
    if not await executions.finish(session, execution, outcome, now):
        return False
    await session.refresh(execution)
    if found is None:
        return True
    _ended_event(session, found, outcome, now)
    await _post_output(session, found, outcome)
    if outcome.ok and await _approve(session, found, now):
        return True
    _show_end(session, found, action_blocks.result_line(ran(execution)))
    return True


def _ended_event(session: AsyncSession, found: Found, outcome: Outcome, now: datetime) -> None:
    execution = found.execution
    kind = EventKind.ACTION_SUCCEEDED if outcome.ok else EventKind.ACTION_FAILED
    add_event(
        session,
        found.incident.id,
        kind,
        execution.started_by,
        f"{step_label(found.run, found.step)}: action {execution.action_id} "
        f"{outcome.summary} after {outcome.duration_s:.1f}s",
        run_id=found.run.id,
        at=now,
        data={
            **executions.result_data(execution, outcome),
            "step_index": found.step.index,
            "attempt": execution.attempt,
        },
    )


async def _post_output(session: AsyncSession, found: Found, outcome: Outcome) -> None:
    """The output's tail in the run's thread (paced like every message)."""
    run = found.run
    thread, run_row = await run_message_ref(session, run)
    info = run_info(run, found.incident)
    payload = action_blocks.output_message(
        found.step, ran(found.execution), outcome.tail, drill=info.drill
    )
    enqueue(
        session, run_key(run.id), "chat.postMessage", {**thread, **payload}, thread_from=run_row
    )


async def _approve(session: AsyncSession, found: Found, now: datetime) -> bool:
    """Success approves the step, as its runner's Approve would have (the gate
    was judged when Run was clicked); False when the run moved on meanwhile."""
    execution = found.execution
    by = execution.started_by or found.run.started_by
    outcome = engine.decide(found.state, found.step.index, Decision.APPROVED, by, now)
    message = (execution.result or {}).get("message")
    if isinstance(outcome, engine.Refused) or not message:
        return False
    click = Click(found.run.id, found.step.index, Decision.APPROVED, by, message)
    if found.incident.state == IncidentState.RESOLVED:
        return False
    action: dict[str, Any] = {
        "action": execution.action_id,
        "execution": execution.id,
        "note": action_blocks.result_line(ran(execution)),
    }
    lost = await apply_decision(
        session, found.run, found.incident, outcome, click, (), now, action=action
    )
    return lost is None


def _show_end(session: AsyncSession, found: Found, line: str, *, doubt: bool = False) -> None:
    """The step after a failure (or an execution in doubt): open with Run again /
    Skip while it is still the run's current step, else just how it ended."""
    execution, run, incident, step = found.execution, found.run, found.incident, found.step
    message = (execution.result or {}).get("message")
    if not message:
        return
    info = run_info(run, incident)
    current = found.state.current()
    still_open = (
        current is not None
        and current.index == step.index
        and incident.state != IncidentState.RESOLVED
    )
    if not still_open:
        payload = action_blocks.stopped_message(step, line, drill=info.drill, source=info.source)
    elif doubt:
        payload = action_blocks.in_doubt_message(
            run.id, step, ran(execution), incident.roles, drill=info.drill, source=info.source
        )
    else:
        payload = action_blocks.failed_message(
            run.id, step, ran(execution), incident.roles, drill=info.drill, source=info.source
        )
    enqueue(
        session, run_key(run.id), "chat.update", {**message, **payload}, priority=Priority.CLICK
    )


async def recover(
    session: AsyncSession, *, owner: int | None, all_running: bool = False
) -> tuple[int, list[int]]:
    """Mark dead processes' running executions in doubt: how many, and the ids of
    the reruns this process must start after the commit (idempotent ones, once)."""
    reruns: list[int] = []
    cut = await executions.cut_short(session, all_running=all_running)
    for execution in cut:
        found = await _load(session, execution)
        if found is None:
            continue
        _in_doubt_event(session, found)
        again = await _rerun(session, found, owner) if _may_rerun(found) else None
        if again is not None:
            reruns.append(again)
        else:
            _show_end(session, found, f"⚠️ Action {IN_DOUBT}", doubt=True)
    return len(cut), reruns


def _in_doubt_event(session: AsyncSession, found: Found) -> None:
    execution = found.execution
    add_event(
        session,
        found.incident.id,
        EventKind.ACTION_FAILED,
        execution.started_by,
        f"{step_label(found.run, found.step)}: action {execution.action_id} in doubt — {IN_DOUBT}",
        run_id=found.run.id,
        data={
            "action": execution.action_id,
            "execution": execution.id,
            "result": IN_DOUBT,
            "in_doubt": True,
            "code": None,
            "step_index": found.step.index,
            "attempt": execution.attempt,
        },
    )


def _may_rerun(found: Found) -> bool:
    spec = found.step.action_spec or {}
    execution = found.execution
    rerun = (execution.result or {}).get("rerun_of") is not None
    current = found.state.current()
    return (
        bool(spec.get("idempotent"))
        and not rerun
        and current is not None
        and current.index == found.step.index
        and found.incident.state != IncidentState.RESOLVED
    )


async def _rerun(session: AsyncSession, found: Found, owner: int | None) -> int | None:
    """An idempotent action cut short runs again once, by the bot itself."""
    execution = found.execution
    now = utcnow()
    again = await executions.claim(
        session,
        incident_id=found.incident.id,
        run_id=found.run.id,
        step_index=found.step.index,
        action_id=execution.action_id,
        user_id=execution.started_by,
        owner=owner,
        at=now,
        result={**(execution.result or {}), "rerun_of": execution.id},
    )
    if again is None:
        return None
    started(session, found.run, found.incident, found.step, again, now)
    return again.id
