"""Reading runs back: their state, their messages, the runs in a channel.

Shared by the run flows; each function works inside the caller's transaction
and only reads (the messages a run owes are ``messaging.py``'s).
"""

from __future__ import annotations

from collections import OrderedDict

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.runs import blocks, engine
from bot.runs.engine import Decision, DecisionRecord, RunState
from bot.store.backend import backend
from bot.store.models import Incident, OutboxMessage, Run, StepDecision, TimelineEvent
from bot.store.states import EventKind, IncidentState, RunStatus, run_key


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
        incident_id=incident.id,
        acknowledged=incident.acknowledged_at is not None,
        incident_open=incident.state == IncidentState.OPEN,
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


async def lock_run(session: AsyncSession, run_id: int) -> Run | None:
    query = select(Run).where(Run.id == run_id)
    if backend(session).postgres:
        # Clicks on one run queue here; the database decides, not process memory.
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def lock_incident_then_run(session: AsyncSession, run_id: int) -> tuple[Incident, Run] | None:
    """Row-lock (PostgreSQL) the run's incident, then the run: the one order
    every flow takes. A resolve locks the incident and then ends its runs; a
    click locking the run first and its incident second could deadlock with it."""
    incident_id = await session.scalar(select(Run.incident_id).where(Run.id == run_id))
    if incident_id is None:
        return None
    incident = await session.get(Incident, incident_id, with_for_update=backend(session).row_lock)
    run = await lock_run(session, run_id)
    if incident is None or run is None:
        return None
    return incident, run


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


async def partial_approvals(
    session: AsyncSession, run: Run, step_index: int
) -> list[tuple[str, str]]:
    """``(user, decision)`` of the step's earlier partial approvals, oldest first."""
    rows = await session.execute(
        select(TimelineEvent.actor, TimelineEvent.data)
        .where(
            TimelineEvent.incident_id == run.incident_id,
            TimelineEvent.run_id == run.id,
            TimelineEvent.kind == EventKind.STEP_APPROVAL_PARTIAL,
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
    query = select(Run).where(Run.channel_id == channel_id, Run.state == RunStatus.RUNNING)
    if incident_id is not None:
        query = query.where(Run.incident_id == incident_id)
    return list((await session.execute(query.order_by(Run.id))).scalars())


async def running_runs_of(session: AsyncSession, incident_id: int) -> list[Run]:
    """The incident's runs still going (ended with it when it is resolved)."""
    query = select(Run).where(Run.incident_id == incident_id, Run.state == RunStatus.RUNNING)
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
