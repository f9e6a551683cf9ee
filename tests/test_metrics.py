"""/metrics tells an operator what is owed to Slack and whether reminders keep up,
read from the database, so it is right whichever process delivers."""

from __future__ import annotations

import asyncio
import re

from tests.rig import SlackStandIn
from tests.rig.botserver import BotServer


def gauge(text: str, name: str) -> float:
    match = re.search(rf"^{name} ([0-9.e+-]+)$", text, re.MULTILINE)
    assert match, f"{name} missing from /metrics"
    return float(match.group(1))


async def scrape(bot: BotServer) -> str:
    async with bot.http.get(bot.url + "/metrics") as response:
        assert response.status == 200
        return await response.text()


async def wait_for_gauge(bot: BotServer, name: str, value: float, timeout: float = 10) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while gauge(await scrape(bot), name) != value:
        assert asyncio.get_running_loop().time() < deadline, f"{name} never reached {value}"
        await asyncio.sleep(0.05)


async def test_metrics_show_owed_messages_and_open_incidents(
    bot: BotServer, slack: SlackStandIn
) -> None:
    before = await scrape(bot)
    assert gauge(before, "runbook_bot_open_incidents") == 0
    assert gauge(before, "runbook_bot_outbox_pending") == 0
    slack.fail("chat.postMessage", status=503, times=1000)  # Slack is down
    response = await bot.command("/runbook", "start RB-04")
    assert response.status == 200
    # The start was committed before the ack and is acted on right after it.
    await wait_for_gauge(bot, "runbook_bot_open_incidents", 1)
    during = await scrape(bot)
    assert gauge(during, "runbook_bot_intake_pending") == 0
    assert gauge(during, "runbook_bot_intake_failed") == 0
    assert gauge(during, "runbook_bot_outbox_pending") >= 2  # run message + first step
    assert gauge(during, "runbook_bot_reminders_overdue") == 0
    assert 'runbook_bot_requests_total{kind="command",status="200"} 1.0' in during
    slack.reset_faults()  # Slack is back: the outbox drains
    bot.ctx.outbox.notify()
    await slack.wait_for("chat.postMessage", count=2, timeout=30)
    await bot.settle(timeout=30)
    after = await scrape(bot)
    assert gauge(after, "runbook_bot_outbox_pending") == 0
    assert gauge(after, "runbook_bot_outbox_oldest_pending_seconds") == 0
