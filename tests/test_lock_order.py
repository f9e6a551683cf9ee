"""A resolve racing clicks on the same incident never deadlocks (PostgreSQL).

``/incident resolve`` locks the incident and then ends its runs (locking each
run); a click, an abort or an action's claim on a run lock the run's incident
first too, then the run. Many rounds of a resolve started together with
several clicks and an abort on the incident's run, each in its own
transaction as the listener and the worker run them: none fails (PostgreSQL
would abort one with "deadlock detected" if the orders differed), and every
round ends consistent — the incident resolved once, its run ended once, at
most one decision on the clicked step, none after the resolve.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.incidents.flows import Request, act_on_open
from bot.runs import engine
from bot.runs.aborting import abort
from bot.runs.flows import decide_step, start_run
from bot.runs.resolving import resolve as resolve_with_runs
from bot.store.db import make_engine, make_sessionmaker
from bot.store.models import Incident, Run, StepDecision, TimelineEvent
from bot.store.states import EventKind, IncidentState, RunStatus
from tests.flow_support import POLICY, runbook

ROUNDS = 40
CHANNEL = "C1"


class NoIntake:
    """Nothing acknowledged waits in the intake here: the clicks run directly."""

    async def drain(self, ordering_key: str, limit: int = 100) -> None:
        return None

    async def drain_channel(self, channel_id: str) -> None:
        return None


@pytest.fixture
async def pool(clean_db: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(clean_db, pool_size=8)
    yield make_sessionmaker(engine)
    await engine.dispose()


async def open_run(sessions: async_sessionmaker[AsyncSession]) -> tuple[int, int]:
    async with sessions() as session, session.begin():
        started = await start_run(
            session,
            runbook=runbook(),
            channel_id=CHANNEL,
            user_id="U1",
            summary=None,
            incident_id=None,
            policy=POLICY,
        )
    return started.run.incident_id, started.run.id


async def click(
    sessions: async_sessionmaker[AsyncSession], go: asyncio.Event, run_id: int, user: str
) -> Any:
    await go.wait()
    async with sessions() as session, session.begin():
        return await decide_step(
            session,
            run_id=run_id,
            step_index=0,
            decision=engine.Decision.APPROVED,
            user_id=user,
            message_channel=CHANNEL,
            message_ts="1.0002",
        )


async def resolve(
    sessions: async_sessionmaker[AsyncSession], go: asyncio.Event, incident_id: int
) -> Any:
    await go.wait()
    action = resolve_with_runs("U9", policy=POLICY, postmortem_due=None)
    return await act_on_open(sessions, Request(CHANNEL, "U9"), incident_id, action)


async def abort_button(
    sessions: async_sessionmaker[AsyncSession], go: asyncio.Event, run_id: int
) -> Any:
    await go.wait()
    return await abort(sessions, NoIntake(), user_id="U3", run_id=run_id)


async def count(session: AsyncSession, *where: Any) -> int:
    return int(await session.scalar(select(func.count(TimelineEvent.id)).where(*where)) or 0)


async def test_resolve_racing_clicks_and_abort_never_deadlocks(
    pool: async_sessionmaker[AsyncSession],
) -> None:
    for _ in range(ROUNDS):
        incident_id, run_id = await open_run(pool)
        go = asyncio.Event()
        racers: list[Awaitable[Any]] = [
            click(pool, go, run_id, "U2"),
            resolve(pool, go, incident_id),
            click(pool, go, run_id, "U4"),
            abort_button(pool, go, run_id),
            click(pool, go, run_id, "U5"),
        ]
        tasks = [asyncio.ensure_future(r) for r in racers]
        await asyncio.sleep(0)
        go.set()
        async with asyncio.timeout(60):
            await asyncio.gather(*tasks)  # a deadlock or any other error fails here

        async with pool() as session:
            incident = await session.get(Incident, incident_id)
            run = await session.get(Run, run_id)
            assert incident is not None and run is not None
            assert incident.state == IncidentState.RESOLVED and incident.resolved_at is not None
            assert run.state != RunStatus.RUNNING and run.ended_at is not None
            assert run.ended_at <= incident.resolved_at
            mine = TimelineEvent.incident_id == incident_id
            assert (
                await count(session, mine, TimelineEvent.kind == EventKind.INCIDENT_RESOLVED) == 1
            )
            ended = TimelineEvent.kind.in_([EventKind.RUNBOOK_ABORTED, EventKind.RUNBOOK_COMPLETED])
            assert await count(session, mine, ended) == 1
            decisions = list(
                (
                    await session.execute(select(StepDecision).where(StepDecision.run_id == run_id))
                ).scalars()
            )
            assert len(decisions) <= 1
            assert all(d.decided_at <= incident.resolved_at for d in decisions)
