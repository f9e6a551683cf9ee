"""Run clicked on a step: a decision judged by the step's gate whose outcome is
an execution, recorded (``executions.claim``) in the click's transaction.

Like Approve (``decide.py``): under the run's lock and the incident's, the
step must be the current one of a run still going on an incident not
resolved, and the gate must allow the clicker (a ``2 people`` step records the
first Run as a partial approval, as Approve does, and starts the action on the
second person's). Then the execution row is inserted; the action itself runs
after the commit, in the worker (``action_runner.py``), never before the ack.
Two clicks find one execution: the second is told it is running.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.incidents.response import acknowledge
from bot.incidents.service import add_event
from bot.runs import action_blocks, engine, executions, gates
from bot.runs.decide import Click, action_running, judge_click, record_partial, step_label
from bot.runs.engine import Decision, FlowStep
from bot.runs.queries import load_state, lock_incident_then_run, run_info
from bot.runs.step_blocks import action_preview
from bot.slack.blockkit import truncate
from bot.slack.groups import Members
from bot.slack.outbox import enqueue
from bot.slack.pace import Priority
from bot.store.executions import Execution
from bot.store.models import Incident, Run, utcnow
from bot.store.states import EventKind, ExecutionState, IncidentState, run_key

__all__ = ["NO_ACTION", "RunResult", "run_step", "show_running"]

NO_ACTION = "This step has no action that can be run. Nothing changed."


@dataclass(frozen=True, slots=True)
class RunResult:
    execution_id: int | None = None  # started: the worker runs it after the commit
    refused: engine.Refused | None = None
    partial: gates.Partial | None = None


async def run_step(
    session: AsyncSession,
    click: Click,
    *,
    owner: int | None,
    at: datetime | None = None,
    group_members: Members | None = None,
) -> RunResult:
    """Judge one Run click and, when it starts the action, record its execution
    (``owner``: this process's, which runs it)."""
    now = at or utcnow()
    # Incident first, then run: the order every flow takes (a resolve too).
    locked = await lock_incident_then_run(session, click.run_id)
    if locked is None:
        return RunResult(refused=engine.Refused(engine.Refusal.UNKNOWN_STEP))
    incident, run = locked
    state = await load_state(session, run)
    outcome = engine.decide(state, click.step_index, Decision.APPROVED, click.user_id, now)
    if isinstance(outcome, engine.Refused):
        return RunResult(refused=outcome)
    step = outcome.step
    if step.action is None or action_preview(step) is None:
        return RunResult(refused=engine.Refused(engine.Refusal.ACTION, detail=NO_ACTION))
    if incident.state == IncidentState.RESOLVED:  # its runs ended with it
        return RunResult(refused=engine.Refused(engine.Refusal.RUN_ENDED))
    busy = await executions.running(session, run.id, step.index)
    if busy is not None:
        return RunResult(refused=action_running(busy.started_by))
    if step.approval is not None:
        verdict = await judge_click(session, run, incident, step, click, group_members)
        if isinstance(verdict, gates.Refuse):
            detail = verdict.text
            return RunResult(refused=engine.Refused(engine.Refusal.NOT_ALLOWED, detail=detail))
        if isinstance(verdict, gates.Partial):
            await record_partial(session, run, incident, step, click, verdict, now)
            return RunResult(partial=verdict)
    execution = await executions.claim(
        session,
        incident_id=incident.id,
        run_id=run.id,
        step_index=step.index,
        action_id=step.action,
        user_id=click.user_id,
        owner=owner,
        at=now,
        result={"message": dict(click.message)},
    )
    if execution is None:  # a concurrent claim won (the run's lock makes this rare)
        return RunResult(refused=action_running(None))
    started(session, run, incident, step, execution, now)
    await acknowledge(session, incident, user_id=click.user_id, via="step_decision", at=now)
    return RunResult(execution_id=execution.id)


def started(
    session: AsyncSession,
    run: Run,
    incident: Incident,
    step: FlowStep,
    execution: Execution,
    now: datetime,
) -> None:
    """The execution's ``action_started`` event, and the step shown running."""
    by = execution.started_by
    attempt = f" (attempt {execution.attempt})" if execution.attempt > 1 else ""
    if (execution.result or {}).get("rerun_of"):
        attempt += ", rerun by the bot: it is idempotent and was cut short"
    runs = truncate(action_preview(step) or "", 200)
    add_event(
        session,
        incident.id,
        EventKind.ACTION_STARTED,
        by,
        f"{step_label(run, step)}: action {execution.action_id} started{attempt}: {runs}",
        run_id=run.id,
        at=now,
        data={
            "action": execution.action_id,
            "execution": execution.id,
            "step_index": step.index,
            "attempt": execution.attempt,
            **{k: v for k, v in (execution.result or {}).items() if k == "rerun_of"},
        },
    )
    show_running(session, run, incident, step, execution)


def ran(execution: Execution) -> action_blocks.Ran:
    """An execution as its messages show it."""
    result = execution.result or {}
    duration = result.get("duration_s")
    return action_blocks.Ran(
        execution.id,
        execution.attempt,
        execution.started_by,
        execution.started_at,
        str(result.get("result") or ""),
        execution.state == ExecutionState.SUCCEEDED,
        float(duration) if duration is not None else None,
    )


def show_running(
    session: AsyncSession, run: Run, incident: Incident, step: FlowStep, execution: Execution
) -> None:
    message = (execution.result or {}).get("message")
    if not message:
        return
    info = run_info(run, incident)
    payload = action_blocks.running_message(
        step, ran(execution), drill=info.drill, source=info.source
    )
    enqueue(
        session, run_key(run.id), "chat.update", {**message, **payload}, priority=Priority.CLICK
    )
