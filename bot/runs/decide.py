"""Deciding a step: one transaction that checks the step's approval gate,
records the decision (or a partial approval), appends the timeline and
enqueues the Slack messages it owes. Runs in the worker, on a click the
listener committed to the intake before acknowledging.

The gate is checked under the run's row lock *and* the incident's (its roles
say who the commander is): a role change and a click on a gated step are
serialized by the database, so a click never passes on a role that was being
taken away, nor is refused on one being given. User groups are resolved by the
caller before this transaction (``group_members``), since asking Slack must
not happen under a lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot.drills.validation import Verdict
from bot.incidents.clocks import RTO_KINDS, disarm
from bot.incidents.response import acknowledge
from bot.incidents.service import add_event
from bot.runs import blocks, engine, gates
from bot.runs.drills import validate_drill, verdict_line
from bot.runs.engine import Decision, DecisionRecord, FlowStep
from bot.runs.queries import (
    enqueue_run_update,
    enqueue_step,
    load_state,
    lock_run,
    partial_approvals,
    run_info,
    run_key,
    run_message_ref,
)
from bot.slack.outbox import enqueue
from bot.slack.pace import Priority
from bot.store.models import Incident, Run, StepDecision, utcnow


@dataclass(frozen=True, slots=True)
class DecideResult:
    accepted: engine.Accepted | None
    refused: engine.Refused | None
    run: Run | None
    incident_key: str = ""
    partial: gates.Partial | None = None  # a gated step's first of several approvals


async def decide_step(
    session: AsyncSession,
    *,
    run_id: int,
    step_index: int,
    decision: Decision,
    user_id: str,
    message_channel: str,
    message_ts: str,
    postgres: bool,
    at: datetime | None = None,
    group_members: gates.Members | None = None,
) -> DecideResult:
    """Record one decision; ``at`` is when the click arrived (defaults to now).
    ``group_members``: user group → its members (None: Slack could not say),
    for the groups the step's gate names."""
    now = at or utcnow()
    run = await lock_run(session, run_id, postgres)
    if run is None:
        return DecideResult(None, engine.Refused(engine.Refusal.UNKNOWN_STEP), None)
    state = await load_state(session, run)
    outcome = engine.decide(state, step_index, decision, user_id, now)
    if isinstance(outcome, engine.Refused):
        return DecideResult(None, outcome, run)
    # Locked after the run (the order every flow takes): its roles decide the
    # gate, and the first decision acknowledges it.
    incident = await session.get(Incident, run.incident_id, with_for_update=postgres or None)
    assert incident is not None
    step = outcome.step
    approvers: tuple[str, ...] = ()
    if step.approval is not None:
        prior = (
            await partial_approvals(session, run, step.index) if step.approval.people > 1 else []
        )
        verdict = gates.judge(
            step.approval, user_id, decision.value, incident.roles or {}, group_members or {}, prior
        )
        if isinstance(verdict, gates.Refuse):
            refused = engine.Refused(engine.Refusal.NOT_ALLOWED, detail=verdict.text)
            return DecideResult(None, refused, run, incident.key)
        if isinstance(verdict, gates.Partial):
            await _record_partial(
                session,
                run,
                incident,
                step,
                decision,
                user_id,
                verdict,
                now,
                {"channel": message_channel, "ts": message_ts},
            )
            return DecideResult(None, None, run, incident.key, partial=verdict)
        approvers = verdict.approvers
    # One INSERT ... ON CONFLICT DO NOTHING instead of SAVEPOINT + INSERT +
    # RELEASE: the unique (run, step) constraint stays the backstop.
    insert = postgresql.insert if postgres else sqlite.insert
    inserted = (
        await session.execute(
            insert(StepDecision)
            .values(
                run_id=run.id,
                step_index=step_index,
                decision=decision.value,
                decided_by=user_id,
                decided_at=now,
            )
            .on_conflict_do_nothing()
            .returning(StepDecision.id)
        )
    ).first()
    if inserted is None:
        # Another transaction won a race the row lock did not cover: the
        # unique (run, step) constraint decides; report the winner.
        existing = (
            await session.execute(
                select(StepDecision).where(
                    StepDecision.run_id == run_id, StepDecision.step_index == step_index
                )
            )
        ).scalar_one()
        record = DecisionRecord(
            existing.step_index,
            Decision(existing.decision),
            existing.decided_by,
            existing.decided_at,
        )
        return DecideResult(
            None, engine.Refused(engine.Refusal.ALREADY_DECIDED, existing=record), run
        )
    incident_id = incident.id
    incident_key = incident.key
    kind = "step_approved" if decision is Decision.APPROVED else "step_skipped"
    where = "Rollback" if step.rollback else step.phase
    add_event(
        session,
        incident_id,
        kind,
        user_id,
        f"{run.runbook_id} {where} step {step.position}/{step.total}: {step.text[:500]}",
        run_id=run.id,
        at=now,
        data={
            "step_index": step.index,
            "phase": step.phase,
            "position": step.position,
            "rollback": step.rollback,
            **({"approvers": list(approvers)} if len(approvers) > 1 else {}),
        },
    )
    await acknowledge(session, incident, user_id=user_id, via="step_decision", at=now)
    key = run_key(run.id)
    info = run_info(run, incident)
    new_state = outcome.state
    enqueue(
        session,
        key,
        "chat.update",
        {
            "channel": message_channel,
            "ts": message_ts,
            **blocks.decided_step_message(
                step, outcome.record, approvers, drill=info.drill, source=info.source
            ),
        },
        priority=Priority.CLICK,
    )
    thread, run_row = await run_message_ref(session, run)
    drill: Verdict | None = None
    if outcome.run_completed:
        run.state = new_state.status.value
        run.ended_at = now
        await disarm(session, incident_id, RTO_KINDS, run.id)
        if info.drill:
            drill = await validate_drill(session, run, info, new_state, now, completed=True)
        add_event(
            session,
            incident_id,
            "runbook_completed",
            None,
            f"Runbook {run.runbook_id} completed: "
            f"{new_state.counts()[Decision.APPROVED]} approved, "
            f"{new_state.counts()[Decision.SKIPPED]} skipped",
            run_id=run.id,
            at=now,
            data=dict(new_state.counts()),
        )
    if outcome.rollback_completed:
        run.rollback_state = new_state.rollback_status.value
    if not step.rollback:
        enqueue_run_update(session, run, info, new_state, run_row, priority=Priority.CLICK)
    if outcome.next_step is not None:
        step = outcome.next_step
        enqueue_step(
            session,
            run.id,
            step,
            info,
            incident.roles,
            thread,
            thread_from=run_row,
            priority=Priority.CLICK,
        )
    if outcome.run_completed:
        summary = blocks.completion_message(info, new_state, now, verdict=verdict_line(drill))
        enqueue(
            session,
            key,
            "chat.postMessage",
            {**thread, **summary},
            thread_from=run_row,
            priority=Priority.CLICK,
        )
        # Also say it in the channel, where people look.
        enqueue(
            session,
            key,
            "chat.postMessage",
            {"channel": run.channel_id, **summary},
            priority=Priority.CLICK,
        )
    if outcome.rollback_completed:
        enqueue(
            session,
            key,
            "chat.postMessage",
            {**thread, **blocks.rollback_done_message(info, new_state)},
            thread_from=run_row,
        )
    return DecideResult(outcome, None, run, incident_key)


async def _record_partial(
    session: AsyncSession,
    run: Run,
    incident: Incident,
    step: FlowStep,
    decision: Decision,
    user_id: str,
    verdict: gates.Partial,
    now: datetime,
    message: dict[str, str],
) -> None:
    """The first of several approvals: recorded, shown on the step (buttons kept)."""
    where = "Rollback" if step.rollback else step.phase
    add_event(
        session,
        incident.id,
        "step_approval_partial",
        user_id,
        f"{run.runbook_id} {where} step {step.position}/{step.total}: "
        f"{len(verdict.approvers)} of {verdict.needed} "
        f"{'approvals' if decision is Decision.APPROVED else 'to skip'}",
        run_id=run.id,
        at=now,
        data={
            "step_index": step.index,
            "decision": decision.value,
            "approvers": list(verdict.approvers),
            "needed": verdict.needed,
        },
    )
    # Someone is on it: that acknowledges the incident too.
    await acknowledge(session, incident, user_id=user_id, via="step_decision", at=now)
    enqueue(
        session,
        run_key(run.id),
        "chat.update",
        {
            **message,
            **blocks.step_message(
                run.id,
                step,
                incident.roles,
                verdict.approvers,
                decision.value,
                drill=bool(incident.drill),
                source=run_info(run, incident).source,
            ),
        },
        priority=Priority.CLICK,
    )
