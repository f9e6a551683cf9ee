"""Slack delivery and reminders in a worker beside the serving process: the
serving process only acknowledges; the worker hears about each commit through
PostgreSQL LISTEN/NOTIFY (not by polling) and delivers it."""

from __future__ import annotations

import asyncio
import time

import asyncpg

from bot.app import build_context, start_background, stop_background
from bot.intake.wakeup import CHANNEL, EVERYTHING, Wake, parse_wake
from bot.settings import load_settings
from tests.rig import SlackStandIn
from tests.rig.botserver import SIGNING_SECRET, BotServer
from tests.rig.standin import Call
from tests.test_e2e_runbook import is_step, start


async def test_http_only_bot_with_a_worker_delivers_on_notify(
    make_bot, slack: SlackStandIn, clean_db: str
) -> None:
    serving = await make_bot(worker=False, status_update_interval=1.2)
    assert serving.ctx.listener is None  # nothing delivers in the serving process
    settings = load_settings(
        slack_bot_token="xoxb-test-token",
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=slack.url,
        database_url=clean_db,
        status_update_interval=1.2,
        log_level="WARNING",
    )
    worker = build_context(settings, worker_process=True)  # as `runbook-bot worker`
    # A long poll: only a notification can make delivery prompt.
    worker.outbox._poll = 30.0
    worker.intake_worker._poll = 30.0
    worker.reminders._max_sleep = 30.0
    await start_background(worker)
    heard: list[str] = []
    spy = await asyncpg.connect(clean_db.replace("postgresql+asyncpg://", "postgresql://"))
    await spy.add_listener(CHANNEL, lambda *args: heard.append(args[-1]))
    try:
        assert worker.listener is not None
        await asyncio.wait_for(worker.listener.connected.wait(), 5)
        started = time.monotonic()
        await serving.command("/runbook", "start RB-04 worker test")
        step1 = (await slack.wait_for("chat.postMessage", is_step, timeout=5))[0]
        assert step1.at - started < 5  # well before the 30 s poll
        await serving.click(step1, "step_approve", user_id="UW")
        await slack.wait_for("chat.update", lambda c: c.args["ts"] == step1.ts, timeout=5)
        # The worker's own start transaction notified nobody (migration 0004):
        # it put the new incident's reminder on its schedule itself (it would
        # otherwise sleep 30 s).
        reminder = await slack.wait_for(
            "chat.postMessage", lambda c: "status update" in c.args["text"], timeout=5
        )
        assert "INC-1" in reminder[0].args["text"]
        assert worker.outbox.delivered >= 3 and serving.ctx.outbox.delivered == 0
        # Only the serving process's commits notified (start and click went to
        # the intake); the worker's own decisions, messages and incident did not.
        await asyncio.sleep(0.1)
        assert heard and set(heard) == {"intake"}, heard
    finally:
        await spy.close()
        await stop_background(worker)


async def test_deliveries_reuse_connections_across_a_restart(
    bot: BotServer, slack: SlackStandIn
) -> None:
    """The outbox keeps its HTTP connections to Slack alive: a run's messages
    go over a connection or two, not one each — and still after the worker
    was stopped and started again in the same process (a closed session would
    make the SDK open a connection per call)."""

    async def walk(steps: int) -> list[Call]:
        mark = len(slack.calls)
        step = await start(bot, slack)
        for _ in range(steps):
            await bot.click(step, "step_approve", user_id="UC")
            await bot.settle()
            step = [c for c in slack.calls[mark:] if is_step(c)][-1]
        await bot.settle()
        return [c for c in slack.calls[mark:] if c.method.startswith("chat.")]

    first = await walk(3)
    await bot.ctx.outbox.stop()
    bot.ctx.outbox.start()
    again = await walk(3)
    for calls in (first, again):
        assert len(calls) >= 8
        peers = {c.peer for c in calls}
        assert "" not in peers
        assert len(peers) <= 3, f"{len(calls)} calls over {len(peers)} connections"


def test_notification_payloads_wake_only_the_loop_with_work() -> None:
    assert parse_wake("intake") == Wake(intake=True)
    assert parse_wake("outbox") == Wake(outbox=True)
    due = parse_wake("2030-01-02T03:04:05+00:00")
    assert due.reminders and not (due.intake or due.outbox)
    assert due.due is not None and due.due.year == 2030
    # A database still at migration 0003 (empty payload), or a garbled one: everything.
    assert parse_wake("") == EVERYTHING
    assert parse_wake("not a date") == EVERYTHING
