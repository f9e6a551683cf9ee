"""What the bot does with each class of Slack error, through real processes
(``runbook-bot serve`` with its worker, PostgreSQL, the Slack stand-in with
Slack's limits on): revoked token, channel gone, missing scope, an error it
does not know, a message Slack will not take, a call that may have taken
effect (``fatal_error``, 5xx after storing), and 429."""

from __future__ import annotations

import asyncio
import json
import re
import time
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.store.models import OutboxMessage, SlackProblem, TimelineEvent
from tests import process_support
from tests.process_support import drained, scalar
from tests.rig import Call, SlackStandIn
from tests.test_crash_safety import posts_with, start_run
from tests.test_e2e_runbook import is_step

db = process_support.db
make_process = process_support.make_process


async def health(bot: Any) -> tuple[int, dict[str, Any]]:
    async with bot.http.get(bot.url + "/healthz") as resp:
        return resp.status, json.loads(await resp.text())


async def until(check: Any, timeout: float = 20.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, f"timed out: {what}"
        await asyncio.sleep(0.1)


async def test_a_revoked_token_holds_everything_then_delivers_each_message_once(
    make_process: Any, slack: SlackStandIn, db: AsyncEngine
) -> None:
    bot = make_process()
    await bot.start()
    _, step1 = await start_run(bot, slack, db)
    slack.revoke_token()
    # Acknowledged and stored while Slack refuses the token.
    assert (await bot.click(step1, "step_approve", "UBOB")).status == 200

    async def unhealthy() -> bool:
        status, body = await health(bot)
        return status == 503 and body.get("slack") == "token_revoked"

    await until(unhealthy, what="/healthz naming token_revoked")
    await bot.wait_log("reinstall the app")
    metrics = await bot.metrics()
    assert re.search(r"^runbook_bot_slack_unusable 1\.0$", metrics, re.M)
    assert (await bot.command("/incident", "note still stored", user_id="UBOB")).status == 200
    # Held: after the first refusals, nothing but the probe (auth.test at most
    # every 30 s) reaches Slack.
    before = [r.method for r in slack.rejected if r.method.startswith("chat.")]
    await asyncio.sleep(3)
    refused = [r.method for r in slack.rejected]
    assert [m for m in refused if m.startswith("chat.")] == before, refused
    assert 1 <= len(before) <= 3 and refused.count("auth.test") <= 2, refused
    slack.restore_token()
    step2 = (await slack.wait_for("chat.postMessage", is_step, count=2, timeout=45))[1]
    await drained(db, timeout=30)
    assert "Step 2 of" in step2.args["text"]
    assert len(posts_with(slack, "Step 2 of")) == 1
    assert (await health(bot))[0] == 200
    notes = await scalar(db, select(TimelineEvent.text).where(TimelineEvent.kind == "note"))
    assert notes == "still stored"


async def test_an_archived_channel_fails_at_once_and_pauses_its_reminders(
    make_process: Any, slack: SlackStandIn, db: AsyncEngine
) -> None:
    bot = make_process(STATUS_UPDATE_INTERVAL="2")
    await bot.start()
    assert (await bot.command("/incident", "declare Queue stuck")).status == 200
    await slack.wait_for("chat.postMessage", lambda c: "declared" in c.args["text"])
    slack.archive_channel("C_INC")
    await process_support.wait_rejected(slack, "chat.postMessage", timeout=15)
    await bot.wait_log("will not take messages in channel C_INC")
    await drained(db)
    failed = (
        await scalar(
            db, select(OutboxMessage.attempts).where(OutboxMessage.state == "failed").limit(1)
        )
    ) or 0
    assert failed == 1  # no retry loop
    problem = await scalar(
        db, select(SlackProblem.error).where(SlackProblem.scope == "channel:C_INC")
    )
    assert problem == "is_archived"
    metrics = await bot.metrics()
    assert re.search(r"^runbook_bot_slack_channels_unreachable 1\.0$", metrics, re.M)
    tried = len([r for r in slack.rejected if r.method == "chat.postMessage"])
    await asyncio.sleep(6)  # three reminder intervals: none tried
    assert len([r for r in slack.rejected if r.method == "chat.postMessage"]) == tried


async def test_a_missing_scope_is_named_and_holds_up_nothing(
    make_process: Any, slack: SlackStandIn, db: AsyncEngine
) -> None:
    bot = make_process()
    await bot.start()
    slack.require_scope("chat.postMessage", "chat:write.public")
    assert (await bot.command("/incident", "declare Checkout errors")).status == 200
    await bot.wait_log("lacks the scope chat:write.public")
    await drained(db)
    slack.reset_conditions()
    assert (await bot.command("/incident", "update Rolled back")).status == 200
    await slack.wait_for("chat.postMessage", lambda c: "Rolled back" in str(c.args))


async def test_an_unknown_error_gives_up_and_the_step_comes_with_its_buttons(
    make_process: Any, slack: SlackStandIn, db: AsyncEngine
) -> None:
    bot = make_process()
    await bot.start()
    _, step1 = await start_run(bot, slack, db)
    slack.fail("chat.postMessage", status=200, error="something_unheard_of", times=5)
    assert (await bot.click(step1, "step_approve", "UBOB")).status == 200
    short = (
        await slack.wait_for(
            "chat.postMessage", lambda c: "Slack would not take" in str(c.args), timeout=30
        )
    )[0]
    await bot.wait_log("posted a short stand-in")
    # Its buttons decide step 2: the run goes on.
    assert (await bot.click(short, "step_approve", "UCAROL")).status == 200
    steps = await slack.wait_for("chat.postMessage", lambda c: "Step 3 of" in c.args["text"])
    assert len(steps) == 1


async def test_a_message_slack_will_not_take_is_replaced_by_a_short_one(
    make_process: Any, slack: SlackStandIn, db: AsyncEngine
) -> None:
    bot = make_process()
    await bot.start()
    _, step1 = await start_run(bot, slack, db)
    slack.fail("chat.postMessage", status=200, error="msg_blocks_too_long", times=1)
    assert (await bot.click(step1, "step_approve", "UBOB")).status == 200
    short = (
        await slack.wait_for("chat.postMessage", lambda c: "msg_blocks_too_long" in str(c.args))
    )[0]
    assert "Approve" in str(short.args["blocks"]) and short.args.get("thread_ts")
    assert (await bot.click(short, "step_approve", "UCAROL")).status == 200
    await slack.wait_for("chat.postMessage", lambda c: "Step 3 of" in c.args["text"])


async def test_fatal_error_and_5xx_after_storing_are_looked_up_never_posted_twice(
    make_process: Any, slack: SlackStandIn, db: AsyncEngine
) -> None:
    bot = make_process()
    await bot.start()
    _, step1 = await start_run(bot, slack, db)

    def step(n: int) -> Any:
        return lambda args: f"Step {n} of" in str(args.get("text", ""))

    slack.fail_after_store("chat.postMessage", error="fatal_error", predicate=step(2))
    assert (await bot.click(step1, "step_approve", "UBOB")).status == 200
    step2 = (await slack.wait_for("chat.postMessage", is_step, count=2, timeout=20))[1]
    slack.fail_after_store("chat.postMessage", status=503, predicate=step(3))
    assert (await bot.click(step2, "step_approve", "UBOB")).status == 200
    await slack.wait_for("chat.postMessage", is_step, count=3, timeout=20)
    await drained(db, timeout=30)
    assert len(posts_with(slack, "Step 2 of")) == 1
    assert len(posts_with(slack, "Step 3 of")) == 1
    looked = slack.calls_to("conversations.replies")
    assert len(looked) >= 2  # each was looked up before it could go again


async def test_a_429_holds_its_bucket_for_retry_after(
    make_process: Any, slack: SlackStandIn, db: AsyncEngine
) -> None:
    bot = make_process()
    await bot.start()
    slack.fail("chat.postMessage", status=429, retry_after=2, times=1)
    _, step1 = await start_run(bot, slack, db)
    assert (await bot.click(step1, "step_approve", "UBOB")).status == 200
    await slack.wait_for("chat.postMessage", is_step, count=2, timeout=20)
    await drained(db)
    assert slack.retried_early == {}, slack.retried_early
    assert slack.rate_limited == 0  # the only 429 was the injected one
    posted: list[Call] = slack.calls_to("chat.postMessage")
    assert len({c.ts for c in posted}) == len(posted) == 3


def test_the_app_home_names_a_channel_the_bot_cannot_post_in() -> None:
    from datetime import UTC, datetime

    from bot.home.view import HomeData, home_view
    from tests.rig import validate_view

    data = HomeData(
        now=datetime.now(UTC),
        incidents=(),
        open_count=0,
        slack_problems={"channel:C_INC": "is_archived", "auth": "token_revoked"},
    )
    view = home_view(data)
    assert validate_view(view) == []
    text = json.dumps(view["blocks"])
    assert "<#C_INC>" in text and "is_archived" in text and "unarchive it" in text
    assert "⚠️" not in json.dumps(home_view(HomeData(data.now, (), 0))["blocks"])
