"""Every Slack message a run owes, enqueued in the caller's transaction.

The transitions (``decide.py``, ``ending.py``, ``flows.py``) decide *what*
happened; this module says it in Slack: which payload, under which ordering
key, at which priority, collapsing with what. Renderers stay pure in
``blocks.py``; reads stay in ``queries.py``.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.incidents.messages import refresh_declared
from bot.runs import blocks, executions, gates
from bot.runs.engine import Decision, DecisionRecord, FlowStep, RunState
from bot.runs.queries import load_state, partial_approvals, run_info, run_message_ref
from bot.slack.outbox import enqueue, enqueue_now
from bot.slack.pace import Priority
from bot.store.models import Incident, OutboxMessage, Run
from bot.store.states import OutboxState, RunStatus, run_key, run_message_key

# Where a clicked message is: {"channel": …, "ts": …}.
MessageRef = dict[str, str]


def enqueue_run_update(
    session: AsyncSession,
    run: Run,
    info: blocks.RunInfo,
    state: RunState,
    run_row: OutboxMessage | None,
    *,
    priority: Priority = Priority.OTHER,
) -> None:
    """Keep the run message's progress current (its ts, or its pending row's).

    ``priority``: a click's (``Priority.CLICK``) when a click moved the run —
    it shares its run's queue of updates with the next click's step update."""
    update = {"channel": run.channel_id, **blocks.run_message(info, state, ended_at=run.ended_at)}
    if run.message_ts:
        update["ts"] = run.message_ts
    # Superseded by a newer progress update before it went: only the newest goes.
    enqueue(
        session,
        run_key(run.id),
        "chat.update",
        update,
        thread_from=run_row,
        collapse=run_message_key(run.id),
        priority=priority,
    )


def enqueue_step(
    session: AsyncSession,
    run_id: int,
    step: FlowStep,
    info: blocks.RunInfo,
    roles: dict[str, str] | None,
    thread: dict[str, str],
    *,
    thread_from: OutboxMessage | int | None,
    priority: Priority = Priority.OTHER,
) -> None:
    """Post a step in the run's thread: its context messages first when it is too
    long for one message, then the step with its buttons (the one decisions update)."""
    payloads = blocks.step_messages(
        run_id, step, roles, drill=info.drill, source=info.source, incident_key=info.incident_key
    )
    for payload in payloads:
        enqueue(
            session,
            run_key(run_id),
            "chat.postMessage",
            {**thread, **payload},
            thread_from=thread_from,
            priority=priority,
        )


async def run_started(
    session: AsyncSession, run: Run, info: blocks.RunInfo, state: RunState, roles: dict[str, str]
) -> None:
    """The run message, then its first step threaded under it."""
    # Inserted at once: the first step threads under it by its id.
    run_msg = await enqueue_now(
        session,
        run_key(run.id),
        "chat.postMessage",
        {"channel": run.channel_id, **blocks.run_message(info, state)},
        on_delivered=run_key(run.id),
        priority=Priority.CLICK,
    )
    first = state.current()
    if first is not None:
        thread = {"channel": run.channel_id}
        enqueue_step(
            session,
            run.id,
            first,
            info,
            roles,
            thread,
            thread_from=run_msg,
            priority=Priority.CLICK,
        )
    incident = await session.get(Incident, run.incident_id)
    if incident is not None:
        await refresh_declared(session, incident)  # Resolve's confirmation names the run


def step_decided(
    session: AsyncSession,
    run: Run,
    info: blocks.RunInfo,
    step: FlowStep,
    record: DecisionRecord,
    approvers: tuple[str, ...],
    message: MessageRef,
    *,
    note: str | None = None,
    reason: str | None = None,
) -> None:
    """The clicked step shows its decision (buttons gone; ``note``: how its action
    ended; ``reason``: why it was skipped)."""
    payload = blocks.decided_step_message(
        step,
        record,
        approvers,
        drill=info.drill,
        source=info.source,
        note=note,
        reason=reason,
    )
    enqueue(
        session,
        run_key(run.id),
        "chat.update",
        {**message, **payload},
        priority=Priority.CLICK,
    )


def step_partly_approved(
    session: AsyncSession,
    run: Run,
    incident: Incident,
    step: FlowStep,
    decision: Decision,
    verdict: gates.Partial,
    message: MessageRef,
) -> None:
    """The first of several approvals shown on the step (buttons kept)."""
    payload = blocks.step_message(
        run.id,
        step,
        incident.roles,
        verdict.approvers,
        decision.value,
        drill=bool(incident.drill),
        source=run_info(run, incident).source,
        incident_key=incident.key,
    )
    enqueue(
        session, run_key(run.id), "chat.update", {**message, **payload}, priority=Priority.CLICK
    )


def run_ended(
    session: AsyncSession,
    run: Run,
    info: blocks.RunInfo,
    summary: dict[str, Any],
    thread: dict[str, str],
    run_row: OutboxMessage | None,
    *,
    completed: bool,
) -> None:
    """The end's summary in the run's thread; a completion is also said in the
    channel, where people look."""
    key = run_key(run.id)
    enqueue(
        session,
        key,
        "chat.postMessage",
        {**thread, **summary},
        thread_from=run_row,
        priority=Priority.CLICK,
    )
    if completed:
        enqueue(
            session,
            key,
            "chat.postMessage",
            {"channel": run.channel_id, **summary},
            priority=Priority.CLICK,
        )


def rollback_done(
    session: AsyncSession,
    run: Run,
    info: blocks.RunInfo,
    state: RunState,
    thread: dict[str, str],
    run_row: OutboxMessage | None,
) -> None:
    enqueue(
        session,
        run_key(run.id),
        "chat.postMessage",
        {**thread, **blocks.rollback_done_message(info, state)},
        thread_from=run_row,
    )


def completion_summary(
    info: blocks.RunInfo, state: RunState, now: datetime, verdict: str | None
) -> dict[str, Any]:
    return blocks.completion_message(info, state, now, verdict=verdict)


def abort_summary(
    info: blocks.RunInfo, state: RunState, user_id: str, now: datetime, verdict: str | None
) -> dict[str, Any]:
    return blocks.aborted_message(info, state, user_id, now, verdict=verdict)


async def refresh_run_messages(
    session: AsyncSession, incident: Incident, skip: Collection[int] = ()
) -> None:
    """Re-render the run messages of the incident's runs (its priority, roles,
    acknowledgement or state changed: they carry its buttons), but those in
    ``skip`` (just ended, already re-rendered)."""
    runs = (
        await session.execute(select(Run).where(Run.incident_id == incident.id).order_by(Run.id))
    ).scalars()
    for run in [r for r in runs if r.id not in skip]:
        state = await load_state(session, run)
        _thread, run_row = await run_message_ref(session, run)
        enqueue_run_update(session, run, run_info(run, incident), state, run_row)
        step = state.current() if run.state == RunStatus.RUNNING else None
        if step is not None and step.approval is not None and step.approval.roles:
            await _refresh_gated_step(session, run, incident, step)


async def refresh_incident_messages(session: AsyncSession, incident: Incident) -> None:
    """The incident's declare message and its run messages, as it now stands."""
    await refresh_declared(session, incident)
    await refresh_run_messages(session, incident)


async def step_ended(
    session: AsyncSession, run: Run, info: blocks.RunInfo, step: FlowStep, why: str
) -> None:
    """The step that was waiting when the run ended: its buttons removed, why said."""
    posted = await _posted_step(session, run, step)
    if posted is None:
        return
    message = blocks.ended_step_message(step, why, drill=info.drill, source=info.source)
    enqueue(
        session,
        run_key(run.id),
        "chat.update",
        {"channel": run.channel_id, **message},
        thread_from=posted,
        priority=Priority.CLICK,
    )


async def _posted_step(session: AsyncSession, run: Run, step: FlowStep) -> int | None:
    """The outbox row of the step's own message (the one with its buttons)."""
    block_id = f"step:{run.id}:{step.index}"
    recent = (
        await session.execute(
            select(OutboxMessage.id, OutboxMessage.payload)
            .where(
                OutboxMessage.ordering_key == run_key(run.id),
                OutboxMessage.method == "chat.postMessage",
                OutboxMessage.state != OutboxState.FAILED,
            )
            .order_by(OutboxMessage.id.desc())
            .limit(8)
        )
    ).all()
    return next(
        (
            row_id
            for row_id, payload in recent
            if any(b.get("block_id") == block_id for b in (payload or {}).get("blocks", []))
        ),
        None,
    )


async def _refresh_gated_step(
    session: AsyncSession, run: Run, incident: Incident, step: FlowStep
) -> None:
    """The current step's gate names a role whose holder may just have changed:
    show the new one ("needs the commander — <@U…>")."""
    if step.action is not None and await executions.running(session, run.id, step.index):
        return  # it shows its action running; its end shows the step again
    posted = await _posted_step(session, run, step)
    if posted is None:
        return
    partial = [u for u, d in await partial_approvals(session, run, step.index) if d == "approved"]
    info = run_info(run, incident)
    message = blocks.step_message(
        run.id,
        step,
        incident.roles or {},
        partial,
        drill=info.drill,
        source=info.source,
        incident_key=info.incident_key,
    )
    # ts: the step message's, once delivered (thread_from means "its ts" for chat.update).
    # A person just named the role holder and waits to see it: a click's priority.
    enqueue(
        session,
        run_key(run.id),
        "chat.update",
        {"channel": run.channel_id, **message},
        thread_from=posted,
        priority=Priority.CLICK,
    )
