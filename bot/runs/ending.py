"""Ending a run — completed by its last decision or aborted — one sequence for
both: the RTO clock disarmed, state and ``ended_at`` set, a drill's validation
recorded, the counted timeline event, the run message's last update, the
summary in its thread (and, aborted, the first rollback step)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.drills.validation import Verdict
from bot.incidents.clocks import RTO_KINDS, disarm
from bot.incidents.messages import refresh_declared
from bot.incidents.service import add_event
from bot.runs import messaging
from bot.runs.blocks import RunInfo
from bot.runs.drills import validate_drill, verdict_line
from bot.runs.engine import Decision, FlowStep, RunState
from bot.runs.queries import run_message_ref
from bot.store.models import Incident, Run
from bot.store.states import EventKind


async def end_run(
    session: AsyncSession,
    run: Run,
    incident: Incident,
    info: RunInfo,
    state: RunState,
    now: datetime,
    *,
    completed: bool,
    user_id: str | None = None,
    first_rollback_step: FlowStep | None = None,
    pending_step: FlowStep | None = None,
) -> None:
    """``state``: the run's state after its last decision (``completed``) or
    after the abort by ``user_id``; ``pending_step``: the step an abort left
    waiting (its buttons are removed); ``info.ended_note``: why, when the
    incident's resolve ended the run."""
    await disarm(session, incident.id, RTO_KINDS, run.id)  # the run is no longer going
    run.state = state.status
    if not completed:
        run.rollback_state = state.rollback_status
    run.ended_at = now
    verdict: Verdict | None = None
    if completed and info.drill:
        verdict = await validate_drill(session, run, info, state, now, completed=True)
    _end_event(session, run, incident, state, now, completed=completed, user_id=user_id)
    if not completed and info.drill:
        verdict = await validate_drill(session, run, info, state, now, completed=False)
    thread, run_row = await run_message_ref(session, run)
    messaging.enqueue_run_update(session, run, info, state, run_row)
    if completed:
        summary = messaging.completion_summary(info, state, now, verdict_line(verdict))
    else:
        summary = messaging.abort_summary(info, state, user_id or "", now, verdict_line(verdict))
    messaging.run_ended(session, run, info, summary, thread, run_row, completed=completed)
    if pending_step is not None:
        why = info.ended_note or f"Run aborted by <@{user_id or ''}>"
        await messaging.step_ended(session, run, info, pending_step, why)
    if not info.ended_note:  # a resolve re-renders the incident's message itself
        await refresh_declared(session, incident)
    if first_rollback_step is not None:
        messaging.enqueue_step(
            session, run.id, first_rollback_step, info, incident.roles, thread, thread_from=run_row
        )


def _end_event(
    session: AsyncSession,
    run: Run,
    incident: Incident,
    state: RunState,
    now: datetime,
    *,
    completed: bool,
    user_id: str | None,
) -> None:
    counts = state.counts()
    approved, skipped = counts[Decision.APPROVED], counts[Decision.SKIPPED]
    if completed:
        kind, actor = EventKind.RUNBOOK_COMPLETED, None
        text = f"Runbook {run.runbook_id} completed: {approved} approved, {skipped} skipped"
        data: dict[str, object] = {str(k): v for k, v in counts.items()}
    else:
        kind, actor = EventKind.RUNBOOK_ABORTED, user_id
        text = f"Runbook {run.runbook_id} aborted after {approved} approved, {skipped} skipped"
        data = {"rollback_steps": len(state.rollback_steps)}
    add_event(session, incident.id, kind, actor, text, run_id=run.id, at=now, data=data)
