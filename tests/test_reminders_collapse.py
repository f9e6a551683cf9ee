"""A reminder still waiting for Slack is not joined by another for the same
incident (SPEC §12): the waiting one takes the newer text and stands for
every window it covers, one ``reminder_sent`` per message. Through the real
app: a signed slash command, the Web API stand-in, real PostgreSQL."""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import func, select

from bot.store.models import OutboxMessage
from tests.conftest import BotFactory
from tests.rig import SlackStandIn
from tests.test_reminders import events, reminders

INTERVAL = 1.0


async def waiting_reminders(bot) -> int:
    async with bot.ctx.sessions() as session:
        query = select(func.count(OutboxMessage.id)).where(
            OutboxMessage.collapse_key == "reminder:1", OutboxMessage.state == "pending"
        )
        return int((await session.execute(query)).scalar() or 0)


async def test_a_waiting_reminder_is_not_joined_by_another(
    make_bot: BotFactory, slack: SlackStandIn
) -> None:
    bot = await make_bot(status_update_interval=INTERVAL)
    # Slack takes the declaration but holds its answer: the incident's later
    # messages (its reminders) wait behind it, as behind Slack's pace.
    held = slack.hold("chat.postMessage", lambda a: "declared" in a.get("text", ""))
    assert (await bot.command("/incident", "declare Checkout errors")).status == 200
    await held.wait()
    deadline = time.monotonic() + 15
    while not await events(bot, kind="reminder_joined"):  # a second one came due
        assert time.monotonic() < deadline, "no second reminder came due"
        await asyncio.sleep(0.05)
    assert len(await events(bot, kind="reminder_sent")) == 1
    assert await waiting_reminders(bot) == 1
    held.release()
    (first,) = await slack.wait_for(
        "chat.postMessage", lambda c: "status update" in c.args.get("text", "")
    )
    assert "INC-1" in first.args["text"]
    assert (await bot.command("/incident", "resolve INC-1")).status == 200
    await slack.wait_for("chat.postMessage", lambda c: "resolved" in c.args.get("text", ""))
    await bot.settle()
    # One reminder_sent per reminder posted; the summary counts every window missed.
    assert len(reminders(slack)) == len(await events(bot, kind="reminder_sent"))
    counted = await events(bot, kind="reminder_sent") + await events(bot, kind="reminder_joined")
    missed = sum(e.data["windows"] for e in counted)
    assert missed >= 2
    (summary,) = [c for c in slack.calls_to("chat.postMessage") if "resolved" in c.args["text"]]
    assert f"{missed} reminder windows missed" in summary.args["text"] + str(summary.args["blocks"])
