"""Executions at most once, against PostgreSQL: concurrent claims, attempts, a dead owner."""

from __future__ import annotations

import asyncio

from sqlalchemy import select, text

from bot.runs.executions import claim, cut_short, finish
from bot.runs.executor import Outcome
from bot.runs.flows import start_run
from bot.slack.owner import OWNER_LOCK_CLASS
from bot.store.executions import Execution
from bot.store.states import ExecutionState
from tests.flow_support import POLICY, runbook, sessions

__all__ = ["sessions"]


async def _run(sessions) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    async with sessions() as session, session.begin():
        started = await start_run(
            session,
            runbook=runbook(),
            channel_id="C1",
            user_id="U1",
            summary="cache",
            incident_id=None,
            policy=POLICY,
        )
    return started.run.incident_id, started.run.id


async def _claim(sessions, incident: int, run: int, user: str, owner: int = 1):  # type: ignore[no-untyped-def]
    async with sessions() as session, session.begin():
        row = await claim(
            session,
            incident_id=incident,
            run_id=run,
            step_index=0,
            action_id="flush",
            user_id=user,
            owner=owner,
        )
        return None if row is None else row.id


async def test_two_concurrent_claims_record_one_execution(sessions) -> None:
    incident, run = await _run(sessions)
    won = await asyncio.gather(*(_claim(sessions, incident, run, f"U{n}") for n in range(2)))
    async with sessions() as session:
        seen = [
            (r.id, r.attempt, r.state) for r in (await session.scalars(select(Execution))).all()
        ]
    assert sum(w is not None for w in won) == 1, (won, seen)
    # Running: a third click starts nothing either.
    assert await _claim(sessions, incident, run, "U3") is None
    async with sessions() as session:
        rows = (await session.scalars(select(Execution))).all()
    assert [(r.attempt, r.state) for r in rows] == [(1, ExecutionState.RUNNING)]


async def test_failure_allows_the_next_attempt_and_success_none(sessions) -> None:
    incident, run = await _run(sessions)
    first = await _claim(sessions, incident, run, "U1")
    async with sessions() as session, session.begin():
        row = await session.get(Execution, first)
        assert row is not None
        assert await finish(session, row, Outcome(False, "failed with exit code 2", 2, "x", 0.1))
    second = await _claim(sessions, incident, run, "U2")
    async with sessions() as session, session.begin():
        row = await session.get(Execution, second)
        assert row is not None and row.attempt == 2
        assert await finish(session, row, Outcome(True, "succeeded", 0, "ok", 0.2))
    assert await _claim(sessions, incident, run, "U3") is None
    async with sessions() as session:
        rows = (await session.scalars(select(Execution).order_by(Execution.id))).all()
    assert [(r.state, r.result["code"], r.result["tail"]) for r in rows] == [
        (ExecutionState.FAILED, 2, "x"),
        (ExecutionState.SUCCEEDED, 0, "ok"),
    ]


async def test_running_execution_of_a_dead_owner_is_in_doubt_a_live_ones_is_not(
    sessions,
) -> None:
    incident, run = await _run(sessions)
    live, dead = 4242, 4343
    async with sessions() as holder:
        # The live owner's advisory lock, as bot/slack/owner.py holds it.
        await holder.execute(text(f"SELECT pg_advisory_lock({OWNER_LOCK_CLASS}, {live})"))
        kept = await _claim(sessions, incident, run, "U1", owner=live)
        async with sessions() as session, session.begin():
            assert await cut_short(session) == []
        async with sessions() as session, session.begin():
            row = await session.get(Execution, kept)
            assert row is not None
            row.owner = dead  # as if the process that claimed it died
        async with sessions() as session, session.begin():
            found = await cut_short(session)
        assert [r.id for r in found] == [kept]
        await holder.execute(text(f"SELECT pg_advisory_unlock({OWNER_LOCK_CLASS}, {live})"))
    async with sessions() as session:
        row = await session.get(Execution, kept)
        assert row is not None and row.state == ExecutionState.IN_DOUBT
    # In doubt: never rerun by itself, but Run again is the next attempt.
    again = await _claim(sessions, incident, run, "U2")
    assert again is not None and again != kept
