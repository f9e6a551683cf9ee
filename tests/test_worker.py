"""Slack delivery and reminders in a worker beside the serving process: the
serving process only acknowledges; the worker hears about each commit through
PostgreSQL LISTEN/NOTIFY (not by polling) and delivers it."""

from __future__ import annotations

import asyncio
import time

from bot.app import build_context, start_background, stop_background
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
    worker = build_context(settings)
    # A long poll: only a notification can make delivery prompt.
    worker.outbox._poll = 30.0
    worker.intake_worker._poll = 30.0
    worker.reminders._max_sleep = 30.0
    await start_background(worker)
    try:
        assert worker.listener is not None
        await asyncio.wait_for(worker.listener.connected.wait(), 5)
        started = time.monotonic()
        await serving.command("/runbook", "start RB-04 worker test")
        step1 = (await slack.wait_for("chat.postMessage", is_step, timeout=5))[0]
        assert step1.at - started < 5  # well before the 30 s poll
        await serving.click(step1, "step_approve", user_id="UW")
        await slack.wait_for("chat.update", lambda c: c.args["ts"] == step1.ts, timeout=5)
        # The new incident's reminder reached the worker's schedule through the
        # same notification (the worker would otherwise sleep 30 s).
        reminder = await slack.wait_for(
            "chat.postMessage", lambda c: "status update" in c.args["text"], timeout=5
        )
        assert "INC-1" in reminder[0].args["text"]
        assert worker.outbox.delivered >= 3 and serving.ctx.outbox.delivered == 0
    finally:
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
