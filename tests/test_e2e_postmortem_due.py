"""The postmortem's due date through the real app: armed by resolving, one
notice to the commander when it passes (across two processes and a restart),
none once ``/incident postmortem done <link>`` recorded it."""

from __future__ import annotations

import asyncio

from bot.store.models import Incident
from tests.rig import Call, SlackStandIn
from tests.test_drills import drill
from tests.test_e2e_deadlines import BotFactory, count_events, event_data, pending_deadlines
from tests.test_e2e_followups import declared

DUE = {"postmortem_due": "2s"}


def due_notice(call: Call) -> bool:
    return call.method == "chat.postMessage" and "postmortem of INC" in call.args.get("text", "")


async def test_overdue_once_to_the_commander_across_two_processes(
    make_bot: BotFactory, slack: SlackStandIn
) -> None:
    a = await make_bot(**DUE)
    b = await make_bot(**DUE)
    parent = await declared(a, slack)
    await b.command("/incident", "role commander <@UCMD>")
    await a.command("/incident", "resolve", user_id="UANA")
    notice = (await slack.wait_for("chat.postMessage", due_notice, timeout=10))[0]
    assert notice.args["text"].startswith("📝 <@UCMD>: the postmortem of INC-1 is due")
    assert "`runbook-bot postmortem INC-1`" in notice.args["text"]
    assert notice.args["thread_ts"] == parent.ts
    await asyncio.sleep(1.0)
    await a.settle()
    await b.settle()
    assert len([c for c in slack.calls if due_notice(c)]) == 1
    assert await event_data(a, "postmortem_overdue") == [{"mentioned": "UCMD"}]


async def test_restart_then_who_resolved_is_told(make_bot: BotFactory, slack: SlackStandIn) -> None:
    first = await make_bot(**DUE)
    await declared(first, slack)
    await first.command("/incident", "resolve", user_id="UANA")
    await first.settle()
    await first.close()
    await asyncio.sleep(2.5)  # down past the due time
    second = await make_bot(**DUE)
    notice = (await slack.wait_for("chat.postMessage", due_notice, timeout=10))[0]
    assert notice.args["text"].startswith("📝 <@UANA>: the postmortem of INC-1 is due")
    await asyncio.sleep(1.0)
    await second.settle()
    assert len([c for c in slack.calls if due_notice(c)]) == 1


async def test_done_in_time_is_recorded_and_silences_it(
    make_bot: BotFactory, slack: SlackStandIn
) -> None:
    bot = await make_bot(**DUE)
    await declared(bot, slack)
    await bot.command("/incident", "resolve")
    assert await pending_deadlines(bot, "postmortem_due") == 1
    for bad in ("postmortem done", "postmortem done wiki", "postmortem done a b"):
        assert "Give the postmortem's link" in (await bot.command("/incident", bad)).text
    assert await count_events(bot, "postmortem_done") == 0
    reply = await bot.command("/incident", "postmortem INC-1 done <https://wiki.example/pm/1>")
    assert "Postmortem of INC-1 recorded" in reply.text
    assert await event_data(bot, "postmortem_done") == [{"link": "https://wiki.example/pm/1"}]
    assert await pending_deadlines(bot, "postmortem_due") == 0
    await asyncio.sleep(2.5)
    await bot.settle()
    assert not [c for c in slack.calls if due_notice(c)]
    assert await count_events(bot, "postmortem_overdue") == 0


async def test_a_drill_owes_no_postmortem(make_bot: BotFactory, slack: SlackStandIn) -> None:
    bot = await make_bot(**DUE)
    await drill(bot, slack, "RB-11 staging")
    await bot.command("/incident", "resolve INC-1")
    await bot.settle()
    async with bot.ctx.sessions() as session:
        state = (await session.get(Incident, 1)).state  # type: ignore[union-attr]
    assert state == "resolved"
    assert await pending_deadlines(bot, "postmortem_due") == 0
