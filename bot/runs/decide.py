"""Deciding a step: one transaction that checks the step's approval gate,
records the decision (or a partial approval), appends the timeline and
enqueues the Slack messages it owes. Runs in the worker, on a click the
listener committed to the intake before acknowledging.

One function per outcome of the engine: ``_insert_decision`` (the race's
loser is told who won), ``record_partial`` (a gate's first of several
approvals), ``_next_step`` (the run goes on), ``ending.end_run`` (the last
step: shared with the abort). The messages are ``messaging.py``'s.

The gate is checked under the incident's row lock *and* the run's (its roles
say who the commander is): a role change and a click on a gated step are
serialized by the database, so a click never passes on a role that was being
taken away, nor is refused on one being given. User groups are resolved by the
caller before this transaction (``group_members``), since asking Slack must
not happen under a lock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.incidents.messages import refresh_declared
from bot.incidents.response import acknowledge
from bot.incidents.service import add_event
from bot.runs import engine, executions, gates, messaging
from bot.runs.ending import end_run
from bot.runs.engine import Decision, DecisionRecord, FlowStep
from bot.runs.queries import (
    load_state,
    lock_incident_then_run,
    partial_approvals,
    run_info,
    run_message_ref,
)
from bot.slack.groups import Members
from bot.slack.pace import Priority
from bot.store.backend import backend
from bot.store.models import Incident, Run, StepDecision, utcnow
from bot.store.states import EventKind, IncidentState


@dataclass(frozen=True, slots=True)
class DecideResult:
    accepted: engine.Accepted | None
    refused: engine.Refused | None
    run: Run | None
    incident_key: str = ""
    partial: gates.Partial | None = None  # a gated step's first of several approvals


@dataclass(frozen=True, slots=True)
class Click:
    """One decision as clicked: which step, what, by whom, on which message."""

    run_id: int
    step_index: int
    decision: Decision
    user_id: str
    message: messaging.MessageRef  # {"channel": …, "ts": …} of the clicked step
    reason: str | None = None  # a skip's, as typed in its modal


async def decide_step(
    session: AsyncSession,
    *,
    run_id: int,
    step_index: int,
    decision: Decision,
    user_id: str,
    message_channel: str,
    message_ts: str,
    at: datetime | None = None,
    group_members: Members | None = None,
    reason: str | None = None,
) -> DecideResult:
    """Record one decision; ``at`` is when the click arrived (defaults to now).
    ``group_members``: user group → its members (None: Slack could not say),
    for the groups the step's gate names. ``reason``: why it was skipped."""
    where = {"channel": message_channel, "ts": message_ts}
    click = Click(run_id, step_index, decision, user_id, where, reason)
    now = at or utcnow()
    # The incident is locked too, before the run (the order every flow takes):
    # its roles decide the gate, and the first decision acknowledges it.
    locked = await lock_incident_then_run(session, run_id)
    if locked is None:
        return DecideResult(None, engine.Refused(engine.Refusal.UNKNOWN_STEP), None)
    incident, run = locked
    outcome = engine.decide(await load_state(session, run), step_index, decision, user_id, now)
    if isinstance(outcome, engine.Refused):
        return DecideResult(None, outcome, run)
    if outcome.step.action is not None:
        busy = await executions.running(session, run_id, step_index)
        if busy is not None:  # its end decides the step (or reopens it)
            return DecideResult(None, action_running(busy.started_by), run)
    if incident.state == IncidentState.RESOLVED:  # its runs ended with it
        return DecideResult(None, engine.Refused(engine.Refusal.RUN_ENDED), run, incident.key)
    approvers: tuple[str, ...] = ()
    if outcome.step.approval is not None:
        verdict = await judge_click(session, run, incident, outcome.step, click, group_members)
        if isinstance(verdict, gates.Refuse):
            refused = engine.Refused(engine.Refusal.NOT_ALLOWED, detail=verdict.text)
            return DecideResult(None, refused, run, incident.key)
        if isinstance(verdict, gates.Partial):
            await record_partial(session, run, incident, outcome.step, click, verdict, now)
            return DecideResult(None, None, run, incident.key, partial=verdict)
        approvers = verdict.approvers
    lost = await apply_decision(session, run, incident, outcome, click, approvers, now)
    if lost is not None:
        return DecideResult(None, lost, run)
    return DecideResult(outcome, None, run, incident.key)


async def apply_decision(
    session: AsyncSession,
    run: Run,
    incident: Incident,
    outcome: engine.Accepted,
    click: Click,
    approvers: tuple[str, ...],
    now: datetime,
    *,
    action: Mapping[str, Any] | None = None,
) -> engine.Refused | None:
    """Record an accepted decision and move the run on (the next step, or its
    end); the refusal telling a race's loser who won. ``action``: the
    execution whose success approved the step (``{action, execution, note}``)."""
    lost = await _insert_decision(session, click, now)
    if lost is not None:
        return lost
    await _record_decision(session, run, incident, outcome, click, approvers, now, action)
    info = run_info(run, incident)
    if outcome.run_completed:
        await end_run(session, run, incident, info, outcome.state, now, completed=True)
    else:
        await _next_step(session, run, incident, outcome)
    return None


def action_running(by: str | None) -> engine.Refused:
    who = f" (started by <@{by}>)" if by else ""
    text = f"This step's action is running{who}: its result decides the step. Nothing changed."
    return engine.Refused(engine.Refusal.ACTION, detail=text)


async def judge_click(
    session: AsyncSession,
    run: Run,
    incident: Incident,
    step: FlowStep,
    click: Click,
    group_members: Members | None,
) -> gates.Verdict:
    assert step.approval is not None
    prior = await partial_approvals(session, run, step.index) if step.approval.people > 1 else []
    return gates.judge(
        step.approval,
        click.user_id,
        click.decision.value,
        incident.roles or {},
        group_members or {},
        prior,
        incident.key,
    )


async def _insert_decision(
    session: AsyncSession, click: Click, now: datetime
) -> engine.Refused | None:
    """Insert the decision; None, or the refusal telling the race's loser who won."""
    # One INSERT ... ON CONFLICT DO NOTHING instead of SAVEPOINT + INSERT +
    # RELEASE: the unique (run, step) constraint stays the backstop.
    insert = backend(session).insert
    inserted = (
        await session.execute(
            insert(StepDecision)
            .values(
                run_id=click.run_id,
                step_index=click.step_index,
                decision=click.decision.value,
                decided_by=click.user_id,
                decided_at=now,
            )
            .on_conflict_do_nothing()
            .returning(StepDecision.id)
        )
    ).first()
    if inserted is not None:
        return None
    # Another transaction won a race the row lock did not cover: the
    # unique (run, step) constraint decides; report the winner.
    existing = (
        await session.execute(
            select(StepDecision).where(
                StepDecision.run_id == click.run_id, StepDecision.step_index == click.step_index
            )
        )
    ).scalar_one()
    record = DecisionRecord(
        existing.step_index, Decision(existing.decision), existing.decided_by, existing.decided_at
    )
    return engine.Refused(engine.Refusal.ALREADY_DECIDED, existing=record)


def _because(click: Click) -> str:
    """A skip's reason as the timeline line ends with it."""
    if click.decision is Decision.SKIPPED and click.reason:
        return f" — skipped because: {click.reason}"
    return ""


def step_label(run: Run, step: FlowStep) -> str:
    """How the timeline names a step: "RB-04 Mitigate step 2/5"."""
    where = "Rollback" if step.rollback else step.phase
    return f"{run.runbook_id} {where} step {step.position}/{step.total}"


async def _record_decision(
    session: AsyncSession,
    run: Run,
    incident: Incident,
    outcome: engine.Accepted,
    click: Click,
    approvers: tuple[str, ...],
    now: datetime,
    action: Mapping[str, Any] | None = None,
) -> None:
    """The decision's timeline event, the incident acknowledged, the step updated."""
    step = outcome.step
    approved = click.decision is Decision.APPROVED
    add_event(
        session,
        incident.id,
        EventKind.STEP_APPROVED if approved else EventKind.STEP_SKIPPED,
        click.user_id,
        f"{step_label(run, step)}: {step.text[:500]}{_because(click)}",
        run_id=run.id,
        at=now,
        data={
            "step_index": step.index,
            "phase": step.phase,
            "position": step.position,
            "rollback": step.rollback,
            **({"approvers": list(approvers)} if len(approvers) > 1 else {}),
            **({"reason": click.reason} if click.reason and not approved else {}),
            **({k: action[k] for k in ("action", "execution")} if action else {}),
        },
    )
    if await acknowledge(session, incident, user_id=click.user_id, via="step_decision", at=now):
        await refresh_declared(session, incident)  # its Acknowledge button goes
    info = run_info(run, incident)
    note = str(action["note"]) if action and action.get("note") else None
    messaging.step_decided(
        session,
        run,
        info,
        step,
        outcome.record,
        approvers,
        click.message,
        note=note,
        reason=click.reason,
    )


async def _next_step(
    session: AsyncSession, run: Run, incident: Incident, outcome: engine.Accepted
) -> None:
    """The run goes on: its progress, the next step, or a finished rollback."""
    info = run_info(run, incident)
    thread, run_row = await run_message_ref(session, run)
    if outcome.rollback_completed:
        run.rollback_state = outcome.state.rollback_status
    if not outcome.step.rollback:
        messaging.enqueue_run_update(
            session, run, info, outcome.state, run_row, priority=Priority.CLICK
        )
    if outcome.next_step is not None:
        messaging.enqueue_step(
            session,
            run.id,
            outcome.next_step,
            info,
            incident.roles,
            thread,
            thread_from=run_row,
            priority=Priority.CLICK,
        )
    if outcome.rollback_completed:
        messaging.rollback_done(session, run, info, outcome.state, thread, run_row)


async def record_partial(
    session: AsyncSession,
    run: Run,
    incident: Incident,
    step: FlowStep,
    click: Click,
    verdict: gates.Partial,
    now: datetime,
) -> None:
    """The first of several approvals: recorded, shown on the step (buttons kept)."""
    wanted = "approvals" if click.decision is Decision.APPROVED else "to skip"
    add_event(
        session,
        incident.id,
        EventKind.STEP_APPROVAL_PARTIAL,
        click.user_id,
        f"{step_label(run, step)}: {len(verdict.approvers)} of {verdict.needed} {wanted}"
        f"{_because(click)}",
        run_id=run.id,
        at=now,
        data={
            "step_index": step.index,
            "decision": click.decision.value,
            "approvers": list(verdict.approvers),
            "needed": verdict.needed,
            **({"reason": click.reason} if click.reason else {}),
        },
    )
    # Someone is on it: that acknowledges the incident too.
    if await acknowledge(session, incident, user_id=click.user_id, via="step_decision", at=now):
        await refresh_declared(session, incident)
    messaging.step_partly_approved(
        session, run, incident, step, click.decision, verdict, click.message
    )
