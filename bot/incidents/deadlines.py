"""Durable deadlines: response targets and RTO clocks (SPEC §7).

Each clock is a ``deadlines`` row with its due time. The scheduling is the
reminders' (``bot/incidents/due.py``): one APScheduler job wakes at the
earliest pending ``due_at``; LISTEN/NOTIFY (migration 0006's trigger) moves the
wake earlier when another process adds or moves one. At each wake the due rows
are claimed ``FOR UPDATE SKIP LOCKED``, their incidents and runs locked the same
way, and in one transaction each gets its timeline event, its Slack message in
the outbox and ``fired_at`` — so several processes fire each once, a restart
loses none, and a bot that was down fires each late, once.

Lock order: everywhere else takes run → incident → deadline (a decision, a
priority change, a resolve); a claim takes deadline first, so it never *waits*
for a run or an incident (SKIP LOCKED): one that is busy is left pending for
the next round, a few milliseconds later. No deadlock either way.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.incidents import clock_blocks, followups, postmortem_due
from bot.incidents.clocks import FOLLOWUP_DUE, POSTMORTEM_DUE, RESPONSE_TARGET, RTO_WARNING
from bot.incidents.due import DueJob
from bot.incidents.priority import PriorityPolicy
from bot.incidents.service import add_event, incident_view
from bot.slack.delivery import OutboxWorker
from bot.slack.outbox import enqueue
from bot.slack.pace import Priority
from bot.store.models import Deadline, Incident, OutboxMessage, Run, utcnow
from bot.store.states import EventKind, IncidentState, RunStatus, incident_key, run_key
from bot.timefmt import format_duration

if TYPE_CHECKING:
    from bot.metrics import Metrics

log = logging.getLogger(__name__)

_PENDING = Deadline.fired_at.is_(None)
_DEADLINE_COLUMNS = (
    Deadline.id,
    Deadline.kind,
    Deadline.incident_id,
    Deadline.run_id,
    Deadline.followup_id,
    Deadline.due_at,
)
# Everything ``incident_view`` reads.
_INCIDENT_COLUMNS = (
    Incident.id,
    Incident.channel_id,
    Incident.title,
    Incident.state,
    Incident.opened_by,
    Incident.opened_at,
    Incident.resolved_by,
    Incident.resolved_at,
    Incident.last_update_at,
    Incident.priority,
    Incident.roles,
    Incident.acknowledged_at,
    Incident.acknowledged_by,
    Incident.drill,
    Incident.drill_environment,
    Incident.thread_ts,
)
_RUN_COLUMNS = (
    Run.id,
    Run.state,
    Run.channel_id,
    Run.message_ts,
    Run.runbook_id,
    Run.started_at,
    Run.snapshot[("meta", "rto_seconds")].as_float().label("rto_seconds"),
)


class Escalator(Protocol):
    """``ESCALATION_ACTION`` (``bot/runs/escalation.py``): recorded in the
    deadline's transaction, started after its commit, off this loop."""

    def announce(self) -> None: ...

    async def record(
        self, session: AsyncSession, incident: Any, run: Any, reason: str, at: datetime
    ) -> object | None: ...

    def start(self, started: list[Any]) -> None: ...

    async def begin(self, *, postgres: bool) -> None: ...

    async def stop(self) -> None: ...


# --- firing ----------------------------------------------------------------------


class Deadlines(DueJob):
    job_id = "deadlines"
    name = "deadlines"

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        outbox: OutboxWorker,
        policy: PriorityPolicy,
        postgres: bool,
        metrics: Metrics | None = None,
        max_sleep: float = 30.0,
        batch: int = 200,
        escalation: Escalator | None = None,
    ) -> None:
        super().__init__(sessions, postgres=postgres, max_sleep=max_sleep, batch=batch)
        self._outbox = outbox
        self._policy = policy
        self._metrics = metrics
        self._escalation = escalation
        self.fired = 0

    async def start(self) -> None:
        await super().start()
        if self._escalation is not None:
            self._escalation.announce()
            await self._escalation.begin(postgres=self._postgres)

    async def stop(self) -> None:
        await super().stop()
        if self._escalation is not None:
            await self._escalation.stop()

    async def earliest(self, session: AsyncSession) -> datetime | None:
        return (await session.execute(select(func.min(Deadline.due_at)).where(_PENDING))).scalar()

    async def send_due(self, now: datetime | None = None) -> int:
        """Claim and fire due deadlines (up to one batch). Returns how many were handled."""
        now = now or utcnow()
        # Columns, not ORM objects: at scale a round is hundreds of rows.
        claim = (
            select(*_DEADLINE_COLUMNS)
            .where(_PENDING, Deadline.due_at <= now)
            .order_by(Deadline.due_at, Deadline.id)
            .limit(self._batch)
        )
        if self._postgres:
            claim = claim.with_for_update(skip_locked=True)
        posted: dict[str, int] = {}
        escalated: list[object] = []
        async with self._sessions() as session, session.begin():
            due = list((await session.execute(claim)).all())
            if not due:
                return 0
            incidents = await self._lock(
                session, Incident, _INCIDENT_COLUMNS, {d.incident_id for d in due}
            )
            runs = await self._lock(session, Run, _RUN_COLUMNS, {d.run_id for d in due if d.run_id})
            handled = []
            for deadline in due:
                incident = incidents.get(deadline.incident_id)
                run = runs.get(deadline.run_id) if deadline.run_id else None
                if incident is None or (deadline.run_id and run is None):
                    continue  # busy in another transaction: the next round takes it
                if await self._fire(session, deadline, incident, run, now, escalated):
                    posted[deadline.kind] = posted.get(deadline.kind, 0) + 1
                handled.append(deadline.id)
            if handled:
                await session.execute(
                    update(Deadline).where(Deadline.id.in_(handled)).values(fired_at=now),
                    execution_options={"synchronize_session": False},
                )
        if posted:
            self._outbox.notify()
        if escalated and self._escalation is not None:
            self._escalation.start(escalated)  # committed: now it may run
        self.fired += len(handled)
        if self._metrics is not None:
            for kind, count in posted.items():
                self._metrics.deadlines.labels(kind).inc(count)
        return len(handled)

    async def _lock(
        self, session: AsyncSession, model: Any, columns: tuple, ids: set[int]
    ) -> dict[int, Any]:
        """The rows' ``columns`` (never a run's snapshot: every step's text),
        locked — or left out when another transaction holds them."""
        if not ids:
            return {}
        query = select(*columns).where(model.id.in_(ids))
        if self._postgres:
            query = query.with_for_update(skip_locked=True, of=model)
        return {row.id: row for row in (await session.execute(query)).all()}

    async def _fire(
        self,
        session: AsyncSession,
        deadline: Any,
        incident: Any,
        run: Any,
        now: datetime,
        escalated: list[object],
    ) -> bool:
        """Record and post what the deadline means now; False when it no longer
        applies (acknowledged, resolved, the run ended, or the warning is moot).
        A missed target or a breach also records the escalation action in ``escalated``."""
        if deadline.kind == FOLLOWUP_DUE:  # owed after the incident too
            return await followups.fire_overdue(session, deadline, incident, now)
        if deadline.kind == POSTMORTEM_DUE:
            return await postmortem_due.fire_overdue(session, incident, now)
        if incident.state != IncidentState.OPEN:
            return False
        late = round(max(0.0, (now - deadline.due_at).total_seconds()), 3)
        if deadline.kind == RESPONSE_TARGET:
            if not self._response_target(session, deadline, incident, now, late):
                return False
            await self._escalate(session, incident, None, _missed(incident), now, escalated)
            return True
        if run is None or run.state != RunStatus.RUNNING:
            return False
        rto = float(run.rto_seconds or 0)
        if rto <= 0:
            return False
        breach_at = run.started_at + timedelta(seconds=rto)
        data = {"runbook_id": run.runbook_id, "rto_seconds": rto, "late_seconds": late}
        data["due_at"] = deadline.due_at.isoformat()
        if deadline.kind == RTO_WARNING:
            if now >= breach_at:
                return False  # the bot was down past the breach too: that one says it all
            await self._rto_warning(session, incident, run, rto, breach_at, now, data)
        else:
            self._rto_breach(session, incident, run, rto, now, data)
            reason = f"{run.runbook_id} still running after its RTO ({_rto_text(rto)})"
            await self._escalate(session, incident, run, reason, now, escalated)
        return True

    async def _escalate(
        self,
        session: AsyncSession,
        incident: Any,
        run: Any,
        reason: str,
        now: datetime,
        escalated: list[object],
    ) -> None:
        if self._escalation is not None:
            started = await self._escalation.record(session, incident, run, reason, now)
            if started is not None:
                escalated.append(started)

    async def _rto_warning(
        self,
        session: AsyncSession,
        incident: Any,
        run: Any,
        rto: float,
        breach_at: datetime,
        now: datetime,
        data: dict[str, Any],
    ) -> None:
        add_event(
            session,
            incident.id,
            EventKind.RTO_WARNING,
            None,
            f"RTO warning: {run.runbook_id} has used 80 % of its RTO",
            run_id=run.id,
            at=now,
            data=data,
        )
        payload = clock_blocks.rto_warning_message(
            f"INC-{incident.id}",
            run.runbook_id,
            rto,
            breach_at,
            now,
            drill=bool(incident.drill),
        )
        thread, parent = await _run_thread(session, run)
        enqueue(
            session,
            run_key(run.id),
            "chat.postMessage",
            {**thread, **payload},
            thread_from=parent,
            priority=Priority.ESCALATION,
        )

    def _rto_breach(
        self,
        session: AsyncSession,
        incident: Any,
        run: Any,
        rto: float,
        now: datetime,
        data: dict[str, Any],
    ) -> None:
        add_event(
            session,
            incident.id,
            EventKind.RTO_BREACHED,
            None,
            f"RTO breached: {run.runbook_id} still running after its RTO",
            run_id=run.id,
            at=now,
            data=data,
        )
        payload = clock_blocks.rto_breach_message(
            f"INC-{incident.id}",
            incident.priority,
            run.runbook_id,
            rto,
            run.started_at,
            self._policy.escalation_contact,
            drill=bool(incident.drill),
        )
        enqueue(
            session,
            run_key(run.id),
            "chat.postMessage",
            {"channel": run.channel_id, **payload},
            priority=Priority.ESCALATION,
        )

    def _response_target(
        self,
        session: AsyncSession,
        deadline: Any,
        incident: Any,
        now: datetime,
        late: float,
    ) -> bool:
        if incident.acknowledged_at is not None:
            return False
        target = (deadline.due_at - incident.opened_at).total_seconds()
        add_event(
            session,
            incident.id,
            EventKind.RESPONSE_TARGET_MISSED,
            None,
            _missed(incident),
            at=now,
            data={
                "priority": incident.priority,
                "target_seconds": target,
                "due_at": deadline.due_at.isoformat(),
                "late_seconds": late,
                "escalated_to": self._policy.escalation_contact,
            },
        )
        payload = clock_blocks.response_target_message(
            incident_view(incident), target, self._policy.escalation_contact
        )
        enqueue(
            session,
            incident_key(incident.id),
            "chat.postMessage",
            {"channel": incident.channel_id, **payload},
            priority=Priority.ESCALATION,
        )
        return True


def _rto_text(rto: float) -> str:
    return format_duration(timedelta(seconds=rto))


def _missed(incident: Any) -> str:
    return f"INC-{incident.id} ({incident.priority}) not acknowledged within its response target"


async def _run_thread(session: AsyncSession, run: Any) -> tuple[dict, OutboxMessage | None]:
    """The run message's thread: its ts, or the outbox row that will have it."""
    if run.message_ts:
        return {"channel": run.channel_id, "thread_ts": run.message_ts}, None
    row = (
        await session.execute(
            select(OutboxMessage).where(OutboxMessage.on_delivered == run_key(run.id))
        )
    ).scalar_one_or_none()
    return {"channel": run.channel_id}, row
