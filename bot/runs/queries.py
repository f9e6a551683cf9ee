"""Reading runs back: their state, their messages, the runs in a channel.

Shared by the run flows in ``runs.py``; each function works inside the
caller's transaction.
"""

from __future__ import annotations

from collections import OrderedDict

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.runs import blocks, engine
from bot.runs.engine import Decision, DecisionRecord, FlowStep, RunState
from bot.slack.outbox import enqueue
from bot.slack.pace import Priority
from bot.store.models import Incident, OutboxMessage, Run, StepDecision, TimelineEvent


def run_key(run_id: int) -> str:
    return f"run:{run_id}"


def run_info(run: Run, incident: Incident) -> blocks.RunInfo:
    """The run as its messages show it, with its incident's priority and roles."""
    meta = (run.snapshot or {}).get("meta", {})
    return blocks.RunInfo(
        run_id=run.id,
        incident_key=incident.key,
        priority=incident.priority,
        roles=dict(incident.roles or {}),
        rto_seconds=meta.get("rto_seconds"),
        runbook_id=run.runbook_id,
        runbook_title=run.runbook_title,
        started_by=run.started_by,
        started_at=run.started_at,
        summary=meta.get("summary"),
        owner=meta.get("owner"),
        severity=meta.get("severity"),
        rto=meta.get("rto"),
        content_hash=run.content_hash,
        drill=meta.get("drill") is not None,
        drill_environment=meta.get("drill"),
        path=meta.get("path"),
    )


async def load_state(session: AsyncSession, run: Run) -> RunState:
    # Columns, not ORM entities: this runs in front of every click's ack.
    rows = await session.execute(
        select(
            StepDecision.step_index,
            StepDecision.decision,
            StepDecision.decided_by,
            StepDecision.decided_at,
        ).where(StepDecision.run_id == run.id)
    )
    records = [DecisionRecord(i, Decision(d), by, at) for i, d, by, at in rows]
    return engine.state_from_snapshot(
        run.snapshot, status=run.state, rollback_status=run.rollback_state, decisions=records
    )


async def lock_run(session: AsyncSession, run_id: int, postgres: bool) -> Run | None:
    query = select(Run).where(Run.id == run_id)
    if postgres:
        # Clicks on one run queue here; the database decides, not process memory.
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def run_message_ref(session: AsyncSession, run: Run) -> tuple[dict, OutboxMessage | None]:
    """Where the run message is: its ts if delivered, else its outbox row."""
    if run.message_ts:
        return {"channel": run.channel_id, "thread_ts": run.message_ts}, None
    row = (
        await session.execute(
            select(OutboxMessage).where(OutboxMessage.on_delivered == run_key(run.id))
        )
    ).scalar_one_or_none()
    return {"channel": run.channel_id}, row


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
    it shares its run's queue of updates with the next click's step update,
    which would otherwise wait behind it whenever Slack's update budget is
    busy."""
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
        collapse=f"run-message:{run.id}",
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
    payloads = blocks.step_messages(run_id, step, roles, drill=info.drill, source=info.source)
    for payload in payloads:
        enqueue(
            session,
            run_key(run_id),
            "chat.postMessage",
            {**thread, **payload},
            thread_from=thread_from,
            priority=priority,
        )


async def refresh_run_messages(session: AsyncSession, incident: Incident) -> None:
    """Re-render the run messages of the incident's runs still going (their
    priority or roles changed)."""
    runs = (
        await session.execute(
            select(Run).where(Run.incident_id == incident.id, Run.state == "running")
        )
    ).scalars()
    for run in runs:
        state = await load_state(session, run)
        _thread, run_row = await run_message_ref(session, run)
        enqueue_run_update(session, run, run_info(run, incident), state, run_row)
        step = state.current()
        if step is not None and step.approval is not None and step.approval.roles:
            await _refresh_gated_step(session, run, incident, step)


async def _refresh_gated_step(
    session: AsyncSession, run: Run, incident: Incident, step: FlowStep
) -> None:
    """The current step's gate names a role whose holder may just have changed:
    show the new one ("needs the commander — <@U…>")."""
    block_id = f"step:{run.id}:{step.index}"
    recent = (
        await session.execute(
            select(OutboxMessage.id, OutboxMessage.payload)
            .where(
                OutboxMessage.ordering_key == run_key(run.id),
                OutboxMessage.method == "chat.postMessage",
                OutboxMessage.state != "failed",
            )
            .order_by(OutboxMessage.id.desc())
            .limit(8)
        )
    ).all()
    posted = next(
        (
            row_id
            for row_id, payload in recent
            if any(b.get("block_id") == block_id for b in (payload or {}).get("blocks", []))
        ),
        None,
    )
    if posted is None:
        return
    partial = [u for u, d in await partial_approvals(session, run, step.index) if d == "approved"]
    info = run_info(run, incident)
    message = blocks.step_message(
        run.id, step, incident.roles or {}, partial, drill=info.drill, source=info.source
    )
    # ts: the step message's, once delivered (thread_from means "its ts" for chat.update).
    enqueue(
        session,
        run_key(run.id),
        "chat.update",
        {"channel": run.channel_id, **message},
        thread_from=posted,
    )


async def partial_approvals(
    session: AsyncSession, run: Run, step_index: int
) -> list[tuple[str, str]]:
    """``(user, decision)`` of the step's earlier partial approvals, oldest first."""
    rows = await session.execute(
        select(TimelineEvent.actor, TimelineEvent.data)
        .where(
            TimelineEvent.incident_id == run.incident_id,
            TimelineEvent.run_id == run.id,
            TimelineEvent.kind == "step_approval_partial",
        )
        .order_by(TimelineEvent.id)
    )
    return [
        (actor, str((data or {}).get("decision", "approved")))
        for actor, data in rows
        if actor and (data or {}).get("step_index") == step_index
    ]


async def current_run_in_channel(
    session: AsyncSession, channel_id: str, incident_id: int | None = None
) -> list[Run]:
    query = select(Run).where(Run.channel_id == channel_id, Run.state == "running")
    if incident_id is not None:
        query = query.where(Run.incident_id == incident_id)
    return list((await session.execute(query.order_by(Run.id))).scalars())


class GateGroups:
    """The user groups each step's approval gate names, per run — read once per
    run in a process (a run's snapshot never changes): after a run's first
    click no query, and a gated step's groups are resolved before the run is
    locked."""

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._runs: OrderedDict[int, dict[int, tuple[str, ...]]] = OrderedDict()

    async def for_step(
        self, session: AsyncSession, run_id: int, step_index: int
    ) -> tuple[str, ...]:
        groups = self._runs.get(run_id)
        if groups is None:
            snapshot = (
                await session.execute(select(Run.snapshot).where(Run.id == run_id))
            ).scalar()
            groups = {}
            for part in ("steps", "rollback"):
                for step in (snapshot or {}).get(part, []):
                    names = tuple((step.get("approval") or {}).get("groups") or ())
                    if names:
                        groups[int(step["index"])] = names
            self._runs[run_id] = groups
            while len(self._runs) > self._size:
                self._runs.popitem(last=False)
        else:
            self._runs.move_to_end(run_id)
        return groups.get(step_index, ())
