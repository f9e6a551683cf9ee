"""Run transitions called directly against PostgreSQL: start, decide (a step,
the last step, a lost race), abort. Rows and outbox payloads, no Slack."""

from __future__ import annotations

from sqlalchemy import select

from bot.runs import engine
from bot.runs.flows import abort_run, decide_step, start_run
from bot.slack.pace import Priority
from bot.store.models import Deadline, Run, StepDecision
from bot.store.states import EventKind, RollbackStatus, RunStatus, run_key, run_message_key
from tests.flow_support import POLICY, kinds, outbox, runbook, sessions

__all__ = ["sessions"]


async def _start(sessions):  # type: ignore[no-untyped-def]
    async with sessions() as session, session.begin():
        started = await start_run(
            session,
            runbook=runbook(),
            channel_id="C1",
            user_id="U1",
            summary="disk full",
            incident_id=None,
            policy=POLICY,
        )
    return started


async def test_start_opens_an_incident_records_the_run_and_owes_run_message_then_step_one(
    sessions,
) -> None:
    started = await _start(sessions)
    assert started.created_incident and started.deadline is not None
    async with sessions() as session:
        run = await session.get(Run, started.run.id)
        assert run is not None and run.state == RunStatus.RUNNING
        assert run.rollback_state == RollbackStatus.NONE
        assert await kinds(session) == [EventKind.INCIDENT_OPENED, EventKind.RUNBOOK_STARTED]
        rows = [r for r in await outbox(session) if r.ordering_key == run_key(run.id)]
        assert [r.method for r in rows] == ["chat.postMessage", "chat.postMessage"]
        assert rows[0].on_delivered == run_key(run.id)  # the run message: its ts goes here
        assert rows[1].thread_from == rows[0].id  # step 1 threads under it
        assert "Drain the node" in str(rows[1].payload)
        assert {r.priority for r in rows} == {Priority.CLICK}
        deadlines = (await session.execute(select(Deadline.kind))).scalars().all()
        assert sorted(deadlines) == ["response_target", "rto_breach", "rto_warning"]


async def test_a_decision_updates_the_step_the_run_message_and_posts_the_next(sessions) -> None:
    started = await _start(sessions)
    run_id = started.run.id
    async with sessions() as session:
        before = len(await outbox(session))
    async with sessions() as session, session.begin():
        result = await decide_step(
            session,
            run_id=run_id,
            step_index=0,
            decision=engine.Decision.APPROVED,
            user_id="U2",
            message_channel="C1",
            message_ts="1.0002",
        )
    assert result.accepted is not None and result.refused is None
    async with sessions() as session:
        rows = (await outbox(session))[before:]
        assert [(r.method, r.priority, r.collapse_key) for r in rows] == [
            ("chat.update", Priority.CLICK, None),  # the clicked step, decided
            ("chat.update", Priority.CLICK, run_message_key(run_id)),  # progress, the click's
            ("chat.postMessage", Priority.CLICK, None),  # step 2
        ]
        assert rows[0].payload["ts"] == "1.0002" and rows[0].payload["channel"] == "C1"
        assert "Restart the service" in str(rows[2].payload)
        assert (await kinds(session))[-2:] == [
            EventKind.STEP_APPROVED,
            EventKind.INCIDENT_ACKNOWLEDGED,
        ]


async def test_the_last_decision_ends_the_run_once_with_its_summary(sessions) -> None:
    started = await _start(sessions)
    run_id = started.run.id
    for index, ts in ((0, "1.1"), (1, "1.2")):
        async with sessions() as session, session.begin():
            await decide_step(
                session,
                run_id=run_id,
                step_index=index,
                decision=engine.Decision.SKIPPED if index else engine.Decision.APPROVED,
                user_id="U2",
                message_channel="C1",
                message_ts=ts,
            )
    async with sessions() as session:
        run = await session.get(Run, run_id)
        assert run is not None and run.state == RunStatus.COMPLETED and run.ended_at is not None
        events = await kinds(session)
        assert events.count(EventKind.RUNBOOK_COMPLETED) == 1 and events[-1] == (
            EventKind.RUNBOOK_COMPLETED
        )
        rows = await outbox(session)
        summaries = [r for r in rows[-2:] if r.method == "chat.postMessage"]
        assert len(summaries) == 2  # in the thread and in the channel
        assert "thread_ts" not in summaries[1].payload
        assert summaries[0].payload == {**summaries[1].payload, "channel": "C1"} | {
            k: v for k, v in summaries[0].payload.items() if k == "thread_ts"
        }
        pending = await session.execute(select(Deadline).where(Deadline.fired_at.is_(None)))
        assert [d for d in pending.scalars() if d.run_id == run_id] == []  # RTO disarmed


async def test_a_second_decision_on_a_step_is_refused_and_records_nothing(sessions) -> None:
    started = await _start(sessions)
    run_id = started.run.id
    results = []
    for user in ("U2", "U3"):
        async with sessions() as session, session.begin():
            results.append(
                await decide_step(
                    session,
                    run_id=run_id,
                    step_index=0,
                    decision=engine.Decision.APPROVED,
                    user_id=user,
                    message_channel="C1",
                    message_ts="1.1",
                )
            )
    assert results[0].accepted is not None
    assert results[1].refused is not None
    async with sessions() as session:
        decisions = (await session.execute(select(StepDecision.decided_by))).scalars().all()
        assert decisions == ["U2"]


async def test_abort_ends_the_run_with_its_summary_in_the_thread(sessions) -> None:
    started = await _start(sessions)
    run_id = started.run.id
    async with sessions() as session:
        before = len(await outbox(session))
    async with sessions() as session, session.begin():
        result = await abort_run(session, run_id=run_id, user_id="U9")
    assert result.aborted is not None
    async with sessions() as session:
        run = await session.get(Run, run_id)
        assert run is not None and run.state == RunStatus.ABORTED and run.ended_at is not None
        assert (await kinds(session))[-1] == EventKind.RUNBOOK_ABORTED
        rows = (await outbox(session))[before:]
        assert [(r.method, r.collapse_key) for r in rows] == [
            ("chat.update", run_message_key(run_id)),
            ("chat.postMessage", None),
            ("chat.update", None),  # the step left waiting: its buttons removed
        ]
        assert "U9" in str(rows[1].payload) and rows[1].priority == Priority.CLICK
        step = rows[2].payload
        assert not [b for b in step["blocks"] if b["type"] == "actions"]
        assert "Run aborted by <@U9>" in str(step["blocks"])
        assert "Steps follow in this thread" not in str(rows[0].payload)
    async with sessions() as session, session.begin():
        again = await abort_run(session, run_id=run_id, user_id="U9")
    assert again.refused is not None
