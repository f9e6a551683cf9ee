"""Follow-ups through the doors people use: signed ``/incident followup``
commands against the real app (Slack replaced by the stand-in), PostgreSQL,
the overdue notice once across two bot processes and a restart, and the
``runbook-bot followups`` command as a subprocess."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from sqlalchemy import select

from bot.store.models import Deadline, Followup
from tests.rig import Call, SlackStandIn
from tests.rig.botserver import BotServer
from tests.test_cli import run
from tests.test_e2e_deadlines import BotFactory, count_events, event_data
from tests.test_home import open_home, wait_home


def overdue(call: Call) -> bool:
    return call.method == "chat.postMessage" and "is overdue" in call.args.get("text", "")


async def declared(bot: BotServer, slack: SlackStandIn, title: str = "Queue backlog") -> Call:
    assert (await bot.command("/incident", f"declare {title}")).text == ""
    return (await slack.wait_for("chat.postMessage", lambda c: title in c.args["text"]))[0]


async def followups_in_db(bot: BotServer) -> list[Followup]:
    async with bot.ctx.sessions() as session:
        return list((await session.execute(select(Followup).order_by(Followup.id))).scalars())


async def test_add_list_and_mark_done(make_bot: BotFactory, slack: SlackStandIn) -> None:
    bot = await make_bot()
    await declared(bot, slack)
    added = await bot.command(
        "/incident", "followup Alert on queue depth <@UBOB|bob> due 3d", user_id="UANA"
    )
    assert "Follow-up *#1* added to INC-1" in added.text and "<@UBOB>" in added.text
    assert "/incident followup done 1" in added.text
    mine = await bot.command("/incident", "followup INC-1 Write the runbook step", user_id="UANA")
    assert "*#2*" in mine.text
    (first, second) = await followups_in_db(bot)
    assert (first.owner, first.created_by, second.owner) == ("UBOB", "UANA", "UANA")
    data = await event_data(bot, "followup_added")
    assert data[0]["id"] == 1 and data[0]["owner"] == "UBOB" and data[0]["due"]
    assert data[1] == {"id": 2, "text": "Write the runbook step", "owner": "UANA", "due": None}

    # Lists: the channel's, the viewer's, one incident's.
    listed = (await bot.command("/incident", "followups")).text
    assert "(2)" in listed and "Alert on queue depth" in listed
    assert (
        "Write the runbook step"
        in (await bot.command("/incident", "followups mine", user_id="UANA")).text
    )
    assert (
        "Alert on queue depth"
        not in (await bot.command("/incident", "followups mine", user_id="UANA")).text
    )
    assert (await bot.command("/incident", "followups overdue")).text == "No follow-ups overdue."

    # Done: recorded once, its deadline gone; again is a clear answer.
    assert "is done" in (await bot.command("/incident", "followup done 1", user_id="UBOB")).text
    assert "already done" in (await bot.command("/incident", "followup done #1")).text
    assert await count_events(bot, "followup_done") == 1
    async with bot.ctx.sessions() as session:
        assert not list(
            (await session.execute(select(Deadline.id).where(Deadline.followup_id == 1))).scalars()
        )
    one = (await bot.command("/incident", "followups INC-1")).text
    assert "done" in one and "open" in one


async def test_bad_input_changes_nothing(make_bot: BotFactory, slack: SlackStandIn) -> None:
    bot = await make_bot()
    assert "No incident here yet" in (await bot.command("/incident", "followup Fix it")).text
    await declared(bot, slack)
    for text, says in (
        ("followup", "Say what needs doing"),
        ("followup Fix it due someday", "Nothing was recorded"),
        ("followup Fix it due 2026-02-31", "not a date"),
        ("followup INC-99 Fix it", "There is no INC-99"),
        ("followup done", "Usage"),
        ("followup done 42", "no follow-up #42"),
        ("followups banana", "is not a choice"),
    ):
        assert says in (await bot.command("/incident", text)).text, text
    assert await followups_in_db(bot) == []
    assert await count_events(bot, "followup_added") == 0


async def test_after_resolving_and_overdue_once_across_two_processes(
    make_bot: BotFactory, slack: SlackStandIn
) -> None:
    a = await make_bot()
    b = await make_bot()
    parent = await declared(a, slack)
    await a.command("/incident", "resolve")
    # Agreed after the incident: still its follow-up, still reminded.
    await b.command("/incident", "followup Fix the retry storm <@UBOB> due 2s", user_id="UANA")
    await a.command("/incident", "followup Done in time <@UCAT> due 2s")
    await a.command("/incident", "followup done 2", user_id="UCAT")
    notice = (await slack.wait_for("chat.postMessage", overdue, timeout=10))[0]
    assert notice.args["text"].startswith("⏰ <@UBOB>: follow-up *#1* of INC-1 is overdue")
    assert notice.args["thread_ts"] == parent.ts  # in the incident's thread
    await asyncio.sleep(1.0)
    await a.settle()
    await b.settle()
    assert [c.args["text"] for c in slack.calls if overdue(c)] == [notice.args["text"]]
    assert await count_events(a, "followup_overdue") == 1
    listed = (await a.command("/incident", "followups overdue")).text
    assert "*#1*" in listed and "*#2*" not in listed


async def test_overdue_across_a_restart_posts_once(
    make_bot: BotFactory, slack: SlackStandIn
) -> None:
    first = await make_bot()
    await declared(first, slack)
    await first.command("/incident", "followup Rotate the keys <@UBOB> due 1s")
    await first.settle()
    await first.close()
    await asyncio.sleep(2.0)  # down past the due time
    assert not [c for c in slack.calls if overdue(c)]
    second = await make_bot()
    await slack.wait_for("chat.postMessage", overdue, timeout=10)
    await asyncio.sleep(1.0)
    await second.settle()
    assert len([c for c in slack.calls if overdue(c)]) == 1
    (data,) = await event_data(second, "followup_overdue")
    assert data["id"] == 1 and data["owner"] == "UBOB" and data["late_seconds"] > 0.5


async def test_cli_lists_and_fails_on_overdue(
    make_bot: BotFactory, slack: SlackStandIn, clean_db: str, tmp_path: Path
) -> None:
    bot = await make_bot()
    await declared(bot, slack)
    await bot.command("/incident", "followup Later <@UBOB> due 30d")
    url = clean_db
    listing = await asyncio.to_thread(run, ["followups"], tmp_path, DATABASE_URL=url)
    assert listing.returncode == 0 and "#1 INC-1: Later" in listing.stdout
    fine = await asyncio.to_thread(run, ["followups", "--overdue"], tmp_path, DATABASE_URL=url)
    assert fine.returncode == 0 and "No open follow-ups" in fine.stdout
    await bot.command("/incident", "followup Now <@UBOB> due 1s")
    await slack.wait_for("chat.postMessage", overdue, timeout=10)
    late = await asyncio.to_thread(
        run, ["followups", "--overdue", "--format", "json"], tmp_path, DATABASE_URL=url
    )
    assert late.returncode == 1, late.stderr
    rows = json.loads(late.stdout)
    assert [(r["id"], r["state"], r["owner"]) for r in rows] == [(2, "overdue", "UBOB")]


async def test_app_home_lists_the_viewers_follow_ups_overdue_first(
    make_bot: BotFactory, slack: SlackStandIn
) -> None:
    bot = await make_bot()
    await declared(bot, slack)
    await bot.command("/incident", "followup Later work <@UALICE> due 30d")
    await bot.command("/incident", "followup Urgent work <@UALICE> due 1s")
    await bot.command("/incident", "followup Bob's work <@UBOB>")
    await bot.command("/incident", "followup Done work <@UALICE>")
    await bot.command("/incident", "followup done 4")
    await slack.wait_for("chat.postMessage", overdue, timeout=10)
    await bot.settle()
    await open_home(bot, "UALICE")
    view = await wait_home(slack, "UALICE", lambda t: "Your follow-ups" in t)
    assert "Your follow-ups (2, 1 overdue)" in view
    assert view.index("Urgent work") < view.index("Later work")  # overdue first
    assert "Bob's work" not in view and "Done work" not in view
    assert view.index("Open incidents") < view.index("Your follow-ups") < view.index("🧪 Drills")
    await open_home(bot, "UCAROL")
    other = await wait_home(slack, "UCAROL", lambda t: "Open incidents" in t)
    assert "Your follow-ups" not in other
