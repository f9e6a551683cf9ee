"""Running the actions of Run clicks, in the worker (never in a request handler).

An execution reaches ``ActionRunner.start`` after its row was committed
(``running.run_step`` in the click's transaction): the runner runs the action
from the run's snapshot with its timeout, then records its end
(``action_end.conclude``). A shutdown cancels what runs (a program is killed);
the row stays ``running`` under this process's owner id, whose advisory lock
goes with the process — so the next bot, or another process now, finds it cut
short and marks it in doubt (``action_end.recover``), as after a ``kill -9``.

The owner id is the runner's own (``bot/slack/owner.py``): on PostgreSQL an
advisory lock on a connection of its own, held as long as the process lives.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TypeVar

from pydantic import TypeAdapter
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.runbook.actions import Action, CommandAction, HttpAction
from bot.runs import action_end
from bot.runs.engine import FlowStep, state_from_snapshot
from bot.runs.executor import Outcome, run_action
from bot.slack.owner import LeaseOwner
from bot.store.db import is_transient
from bot.store.executions import Execution
from bot.store.models import Incident, Run
from bot.tasks import cancel_and_wait

__all__ = ["ActionRunner"]

log = logging.getLogger("runbook_bot.actions")

_ACTION: TypeAdapter[HttpAction | CommandAction] = TypeAdapter(Action)
Prepared = tuple[HttpAction | CommandAction, dict[str, str]]
T = TypeVar("T")


class ActionRunner:
    """Runs committed executions; marks those of dead processes in doubt."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        dsn: str | None,
        notify_outbox: Callable[[], None],
        check_seconds: float = 5.0,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._sessions = sessions
        self._owner = LeaseOwner(dsn)
        self._notify = notify_outbox
        self._check = check_seconds
        self._environ = environ
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.Task[None] | None = None
        self.finished = 0  # executions this process saw to their end

    async def owner_id(self) -> int | None:
        """This process's owner id for a new execution; None: it cannot run one now."""
        try:
            return await self._owner.ensure()
        except Exception as exc:
            log.warning("actions: no owner lock (%r)", exc)
            return None

    async def begin(self) -> None:
        """Look for executions cut short (before any click is acted on here),
        then keep looking every ``check_seconds``: another process may die."""
        await self.recover(first=True)
        self._loop = asyncio.create_task(self._watch(), name="actions-recover")

    async def stop(self) -> None:
        await cancel_and_wait(self._loop)
        for task in list(self._tasks):
            await cancel_and_wait(task)
        await self._owner.close()  # the lock goes: what ran is in doubt for the next bot

    def start(self, execution_id: int) -> None:
        """Run a committed execution (after its transaction's commit)."""
        task = asyncio.create_task(self._execute(execution_id), name=f"action-{execution_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def wait_idle(self) -> None:
        """Until nothing runs here (tests, the bench)."""
        while self._tasks:
            await asyncio.wait(list(self._tasks))

    async def recover(self, *, first: bool = False) -> list[int]:
        """One look for executions cut short; the reruns started."""
        owner = await self.owner_id()
        try:
            async with self._sessions() as session, session.begin():
                # SQLite: one process, so at its start every running row is a dead one's.
                sqlite = not self._owner.postgres
                cut, reruns = await action_end.recover(
                    session, owner=owner, all_running=sqlite and first
                )
        except Exception as exc:
            log.warning("actions: could not look for executions cut short (%r)", exc)
            return []
        if cut:
            log.warning("actions: %d execution(s) cut short, now in doubt", cut)
            self._notify()
        for execution_id in reruns:
            log.warning("actions: execution %d reruns (idempotent, cut short)", execution_id)
            self.start(execution_id)
        return reruns

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self._check)
            if not self._owner.postgres:
                continue  # SQLite: nobody else can die meanwhile
            await self.recover()

    async def _execute(self, execution_id: int) -> None:
        try:
            prepared = await self._retrying(lambda: self._prepare(execution_id))
        except Exception as exc:  # a snapshot this release cannot read: it never started
            log.exception("actions: execution %d could not start", execution_id)
            outcome = Outcome(False, f"could not start: {type(exc).__name__}", None, "", 0.0)
        else:
            if prepared is None:
                return
            action, variables = prepared
            outcome = await run_action(
                action, variables, execution_id=execution_id, environ=self._environ
            )
        await self._conclude(execution_id, outcome)

    async def _prepare(self, execution_id: int) -> Prepared | None:
        async with self._sessions() as session:
            execution = await session.get(Execution, execution_id)
            if execution is None or execution.run_id is None or execution.step_index is None:
                return None
            run = await session.get(Run, execution.run_id)
            incident = await session.get(Incident, execution.incident_id)
            if run is None or incident is None:
                return None
            step = state_from_snapshot(run.snapshot).steps[execution.step_index]
            action = _ACTION.validate_python(step.action_spec)
            return action, _variables(execution, run, incident, step)

    async def _conclude(self, execution_id: int, outcome: Outcome) -> None:
        """Record the end (the outcome is only in memory: a process that dies
        now leaves the execution in doubt)."""

        async def once() -> None:
            async with self._sessions() as session, session.begin():
                await action_end.conclude(session, execution_id, outcome)

        try:
            await self._retrying(once)
        except Exception:
            log.exception("actions: could not record execution %d's end", execution_id)
            return
        self.finished += 1
        self._notify()

    @staticmethod
    async def _retrying(call: Callable[[], Awaitable[T]]) -> T:
        """``call()``, again while the database is unreachable."""
        delay = 0.5
        while True:
            try:
                return await call()
            except Exception as exc:
                if not is_transient(exc):
                    raise
                log.warning("actions: database unreachable (%r); retrying", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)


def _variables(
    execution: Execution, run: Run, incident: Incident, step: FlowStep
) -> dict[str, str]:
    """``{incident}``, ``{priority}``, … as an action's values may use them."""
    return {
        "incident": incident.key,
        "priority": incident.priority or "",
        "runbook": run.runbook_id,
        "step": str(step.position),
        "user": execution.started_by or "",
        "channel": run.channel_id,
    }
