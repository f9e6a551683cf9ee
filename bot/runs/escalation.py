"""``ESCALATION_ACTION``: the action the bot runs itself (actor null) when a
response target is missed or an RTO passes — e.g. a page to the on-call.

At most once per deadline: the execution row and ``action_started`` are
written in the transaction that fires the deadline (``bot/incidents/
deadlines.py``, which marks it ``fired_at``), and the action starts only after
that commit, in a task of its own, so the deadline loop never waits for it. Its
end is recorded in a transaction of its own (``action_succeeded`` /
``action_failed``). A process that dies while the action runs leaves the row
``running``; the next process to start finds it (its owner's lock is gone) and
runs it again only if the action is ``idempotent`` — with the same
``Idempotency-Key`` — else records that it may have run.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.incidents.service import add_event
from bot.runbook.actions import CommandAction, HttpAction
from bot.runs.executions import finish, result_data
from bot.runs.executor import Outcome, run_action
from bot.slack.owner import LIVE_OWNERS_SQL, LeaseOwner
from bot.store.executions import Execution
from bot.store.models import utcnow
from bot.store.states import EventKind, ExecutionState
from bot.tasks import cancel_and_wait

__all__ = ["Escalation", "Started", "escalation_for"]

log = logging.getLogger("runbook_bot.escalation")

MAX_AT_ONCE = 8  # a burst of missed targets pages in parallel, not all at once
FINISH_RETRIES = 5  # recording the end waits out a short database outage
IN_DOUBT = "may have run: the bot stopped while it ran; not run again (not idempotent)"


@dataclass(frozen=True, slots=True)
class Started:
    """An escalation recorded in the deadline's transaction, to start after its commit."""

    execution_id: int
    incident_id: int
    run_id: int | None
    variables: dict[str, str]


def escalation_for(
    name: str | None,
    actions: Mapping[str, HttpAction | CommandAction] | None,
    path: str,
    *,
    broken: bool = False,
) -> tuple[HttpAction | CommandAction | None, str | None]:
    """The action ``ESCALATION_ACTION`` names, or the line that says why there is none."""
    if not name:
        return None, None
    if actions is None:
        return None, (
            f"ESCALATION_ACTION '{name}': there is no actions file ({path}); "
            "no escalation action will run"
        )
    if broken:
        return None, (
            f"ESCALATION_ACTION '{name}': {path} has errors (see runbook-bot lint); "
            "no escalation action will run"
        )
    action = actions.get(name)
    if action is None:
        known = ", ".join(sorted(actions)) or "none"
        return None, (
            f"ESCALATION_ACTION '{name}' is not an action of {path} (its actions: {known}); "
            "no escalation action will run"
        )
    return action, None


class Escalation:
    """Records, starts and finishes the escalation action's executions."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        action: HttpAction | CommandAction | None,
        *,
        owner: LeaseOwner,
        problem: str | None = None,
        environ: Mapping[str, str] | None = None,
        drain_seconds: float = 10.0,
    ) -> None:
        self._sessions = sessions
        self.action = action
        self.problem = problem
        self._owner = owner
        self._environ = environ
        self._drain = drain_seconds
        self._limit = asyncio.Semaphore(MAX_AT_ONCE)
        self._tasks: set[asyncio.Task[None]] = set()
        self._watch: asyncio.Task[None] | None = None

    def announce(self) -> None:
        """One line at start: what runs, or why nothing will."""
        if self.problem:
            log.error("%s", self.problem)
        elif self.action is not None:
            log.info(
                "escalation action '%s' (%s) runs when a response target is missed "
                "or an RTO passes",
                self.action.id,
                self.action.preview,
            )

    async def record(
        self, session: AsyncSession, incident: Any, run: Any, reason: str, at: datetime
    ) -> Started | None:
        """In the deadline's transaction: the execution row and ``action_started``."""
        if self.action is None or incident.drill:
            return None  # a drill pages nobody
        variables = {
            "incident": f"INC-{incident.id}",
            "priority": str(incident.priority or ""),
            "reason": reason,
            "channel": str(incident.channel_id or ""),
            "runbook": str(run.runbook_id) if run is not None else "",
        }
        row = Execution(
            incident_id=incident.id,
            run_id=run.id if run is not None else None,
            step_index=None,
            attempt=1,
            action_id=self.action.id,
            state=ExecutionState.RUNNING,
            started_by=None,
            started_at=at,
            owner=await self._owner.ensure(),
            result={"variables": variables},
        )
        session.add(row)
        await session.flush()
        data = {"action": self.action.id, "execution": row.id, "reason": reason}
        text_ = f"Escalation: started {self.action.id} ({reason})"
        add_event(
            session,
            incident.id,
            EventKind.ACTION_STARTED,
            None,
            text_,
            run_id=row.run_id,
            at=at,
            data=data,
        )
        return Started(row.id, incident.id, row.run_id, variables)

    def start(self, started: list[Started]) -> None:
        """After the deadline's commit: each in a task of its own."""
        for item in started:
            task = asyncio.create_task(self._run(item), name=f"escalation-{item.execution_id}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run(self, item: Started) -> None:
        assert self.action is not None
        async with self._limit:
            outcome = await run_action(
                self.action, item.variables, execution_id=item.execution_id, environ=self._environ
            )
        log_at = logging.INFO if outcome.ok else logging.WARNING
        what = f"escalation {self.action.id} for INC-{item.incident_id}: {outcome.summary}"
        log.log(log_at, "%s", what)
        for attempt in range(FINISH_RETRIES):
            try:
                await self._finish(item, outcome)
                return
            except Exception:
                if attempt == FINISH_RETRIES - 1:
                    log.exception("escalation %d: could not record its end", item.execution_id)
                    return
                await asyncio.sleep(2.0 * (attempt + 1))

    async def _finish(self, item: Started, outcome: Outcome) -> None:
        async with self._sessions() as session, session.begin():
            execution = await session.get(Execution, item.execution_id)
            if execution is None or not await finish(session, execution, outcome):
                return  # marked in doubt meanwhile: that said what is known
            kind = EventKind.ACTION_SUCCEEDED if outcome.ok else EventKind.ACTION_FAILED
            add_event(
                session,
                item.incident_id,
                kind,
                None,
                f"Escalation: {execution.action_id} {outcome.summary}",
                run_id=execution.run_id,
                at=utcnow(),
                data=result_data(execution, outcome),
            )

    async def begin(self, *, postgres: bool, check_seconds: float = 5.0) -> None:
        """Look for escalations cut short now, then (PostgreSQL: other processes
        may die meanwhile) every ``check_seconds``."""
        await self._resume_logged(postgres=postgres)
        if postgres:
            self._watch = asyncio.create_task(self._watching(check_seconds), name="escalations")

    async def _watching(self, seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds)
            await self._resume_logged(postgres=True)

    async def _resume_logged(self, *, postgres: bool) -> None:
        try:
            await self.resume(postgres=postgres)
        except Exception as exc:  # database down: the rows wait for the next look
            log.warning("escalation: could not look for actions cut short (%r)", exc)

    async def resume(self, *, postgres: bool) -> int:
        """At start: escalations whose process died while they ran.

        Run again when the action is idempotent (same execution, so the same
        ``Idempotency-Key``); otherwise marked in doubt with ``action_failed``.
        On SQLite (one process) every running one at start is such a one."""
        async with self._sessions() as session, session.begin():
            query = select(Execution).where(
                Execution.state == ExecutionState.RUNNING, Execution.step_index.is_(None)
            )
            if postgres:
                dead = text(f"executions.owner <> ALL({LIVE_OWNERS_SQL})")
                query = query.where(Execution.owner.is_(None) | dead)
            rows = list((await session.scalars(query.with_for_update(skip_locked=True))).all())
            again = [row for row in rows if self._reruns(row)]
            owner = await self._owner.ensure() if again else None
            for row in rows:
                if row in again:
                    row.owner = owner
                    self._restarted(session, row)
                else:
                    self._in_doubt(session, row)
        self.start([_started(row) for row in again])
        return len(rows)

    def _reruns(self, row: Execution) -> bool:
        action = self.action
        return action is not None and action.id == row.action_id and action.idempotent

    def _restarted(self, session: AsyncSession, row: Execution) -> None:
        data = {"action": row.action_id, "execution": row.id, "again": True}
        message = f"Escalation: started {row.action_id} again after a restart (idempotent)"
        add_event(
            session,
            row.incident_id,
            EventKind.ACTION_STARTED,
            None,
            message,
            run_id=row.run_id,
            data=data,
        )

    def _in_doubt(self, session: AsyncSession, row: Execution) -> None:
        row.state = ExecutionState.IN_DOUBT
        row.ended_at = utcnow()
        data = {"action": row.action_id, "execution": row.id, "code": None, "result": IN_DOUBT}
        message = f"Escalation: {row.action_id} {IN_DOUBT}"
        add_event(
            session,
            row.incident_id,
            EventKind.ACTION_FAILED,
            None,
            message,
            run_id=row.run_id,
            data=data,
        )

    async def stop(self) -> None:
        """Let running actions end (up to ``drain_seconds``), then cancel the rest:
        those stay ``running`` and the next start finds them."""
        await cancel_and_wait(self._watch)
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=self._drain)
        for task in list(self._tasks):
            await cancel_and_wait(task)


def _started(row: Execution) -> Started:
    variables = dict((row.result or {}).get("variables") or {})
    return Started(row.id, row.incident_id, row.run_id, variables)
