"""The responder's first minutes: every command answers, bad input changes
nothing. Signed requests into the real app, real PostgreSQL, the Slack stand-in."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from bot.incidents.blocks import EventView
from bot.incidents.timeline_blocks import describe
from bot.store.models import Incident, StepDecision, TimelineEvent
from tests.rig import SlackStandIn
from tests.rig.botserver import BotServer, new_trigger
from tests.test_e2e_incident import declare, snapshot
from tests.test_e2e_runbook import is_step, start


async def incidents(bot: BotServer) -> list[tuple[str, str, str]]:
    async with bot.ctx.sessions() as session:
        rows = (await session.execute(select(Incident).order_by(Incident.id))).scalars()
        return [(i.key, i.priority, i.title) for i in rows]


async def test_declare_reads_sev_and_p_levels_as_runbooks_do(
    bot: BotServer, slack: SlackStandIn
) -> None:
    for text in ("sev1 Checkout errors", "P2 Search slow"):
        answer = await bot.command("/incident", f"declare {text}")
        assert answer.status == 200 and answer.text == ""
    await slack.wait_for(
        "chat.postMessage", lambda c: "INC-1 (critical) declared" in c.args["text"]
    )
    await slack.wait_for("chat.postMessage", lambda c: "INC-2 (high) declared" in c.args["text"])
    assert await incidents(bot) == [
        ("INC-1", "critical", "Checkout errors"),
        ("INC-2", "high", "Search slow"),
    ]
    answer = await bot.command("/incident", "priority INC-2 sev4")
    assert answer.status == 200 and answer.text == ""
    await bot.settle()
    assert (await incidents(bot))[1][1] == "low"


@pytest.mark.parametrize(
    ("command", "text"),
    [
        ("/incident", "declare urgent Checkout errors"),
        ("/incident", "declare sev9 Checkout errors"),
        ("/incident", "declare p7 Checkout errors"),
        ("/incident", "declare critcal Checkout errors"),
        ("/incident", "priority INC-1 p7"),
        ("/incident", "priority INC-1 urgent"),
        ("/runbook", "start RB-04 urgent Checkout errors"),
        ("/runbook", "start RB-04 sev9"),
    ],
)
async def test_a_word_that_looks_like_a_level_is_refused_with_the_levels(
    bot: BotServer, slack: SlackStandIn, command: str, text: str
) -> None:
    await declare(bot, slack, "Disk full")
    await bot.settle()
    before = await snapshot(bot)
    answer = await bot.command(command, text)
    assert answer.status == 200
    assert "is not a priority level" in answer.text, answer.text
    assert "`critical` (respond within 15 min)" in answer.text and "`SEV1`" in answer.text
    assert "Nothing changed" in answer.text
    await asyncio.sleep(0.3)  # a wrongly started run or post would show by now
    assert await snapshot(bot) == before
    assert await incidents(bot) == [("INC-1", "medium", "Disk full")]


async def test_unknown_command_is_answered_not_left_unhandled(
    bot: BotServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    answer = await bot.command("/runbok", "start RB-04")
    assert answer.status == 200
    assert answer.text.startswith("Unknown command `/runbok`. Did you mean `/runbook`?")
    assert "`/runbook help`" in answer.text and "`/incident help`" in answer.text
    # Bolt's "[Suggestion] You can handle this type of event…" stub is not printed.
    assert not [r for r in caplog.records if "Unhandled request" in r.getMessage()]
    assert not [r for r in caplog.records if "@app.command" in r.getMessage()]


@pytest.mark.parametrize(
    ("command", "text", "expected"),
    [
        ("/runbook", "strat RB-04", "Unknown subcommand `strat`. Did you mean `start`?"),
        ("/runbook", "shwo RB-04", "Did you mean `show`?"),
        ("/incident", "decalre Checkout", "Unknown subcommand `decalre`. Did you mean `declare`?"),
        ("/incident", "resolv", "Did you mean `resolve`?"),
        ("/incident", "frobnicate", "Unknown subcommand `frobnicate`. Try `/incident help`."),
    ],
)
async def test_subcommand_typos_are_answered_with_did_you_mean(
    bot: BotServer, command: str, text: str, expected: str
) -> None:
    answer = await bot.command(command, text)
    assert answer.status == 200
    assert expected in answer.text, answer.text


async def test_declared_message_names_the_incident_in_its_hints(
    bot: BotServer, slack: SlackStandIn
) -> None:
    posted = await declare(bot, slack, "Checkout errors")
    text = str(posted.args.get("blocks") or posted.args.get("text"))
    assert "`/incident update INC-1`" in text  # acknowledging is its button


async def test_show_names_the_file_relative_to_the_runbooks_folder(bot: BotServer) -> None:
    answer = await bot.command("/runbook", "show RB-04")
    footer = str(answer.body["blocks"][-1])
    assert "`RB-04.md`" in footer, footer
    assert str(bot.settings.runbooks_dir) not in str(answer.body)


async def skip_events(bot: BotServer) -> list[TimelineEvent]:
    async with bot.ctx.sessions() as session:
        query = select(TimelineEvent).where(TimelineEvent.kind == "step_skipped")
        return list((await session.execute(query.order_by(TimelineEvent.id))).scalars())


async def test_skip_asks_why_and_records_the_reason_once(
    bot: BotServer, slack: SlackStandIn
) -> None:
    step1 = await start(bot, slack)
    await bot.settle()
    # The click is acked and answered with a modal (views.open, after the ack); nothing is
    # decided until the modal is submitted — closing it changes nothing.
    trigger = new_trigger()
    clicked = await bot.click(step1, "step_skip", user_id="UBOB", trigger_id=trigger)
    assert clicked.status == 200 and clicked.body in (None, "", {})
    [opened] = await slack.wait_for("views.open", lambda c: c.args["trigger_id"] == trigger)
    view = opened.args["view"]
    assert view["callback_id"] == "step_skip_reason" and view["blocks"][1]["optional"] is True
    assert "Step 1 of" in view["blocks"][0]["text"]["text"]
    await asyncio.sleep(0.3)
    assert await skip_events(bot) == []

    submission = bot.signer.view_submission(
        view["callback_id"],
        {"reason": {"text": "  Link already\nrevoked by hand "}},
        private_metadata=view["private_metadata"],
        user_id="UBOB",
        view_id="VSKIP0001",
    )
    first = await bot.send(submission, "view")
    again = await bot.send(submission, "view")  # submitted twice (a double click on Skip step)
    assert first.status == again.status == 200
    await bot.settle()
    [event] = await skip_events(bot)
    assert event.data["reason"] == "Link already revoked by hand"
    assert event.text.endswith("— skipped because: Link already revoked by hand")
    async with bot.ctx.sessions() as session:
        assert len((await session.execute(select(StepDecision))).scalars().all()) == 1
    # The step says who skipped it and why; the double submit told nobody anything.
    updates = await slack.wait_for("chat.update", lambda c: c.args["ts"] == step1.ts)
    assert "“Link already revoked by hand”" in str(updates[-1].args["blocks"])
    assert slack.calls_to("chat.postEphemeral") == []

    # An empty reason skips too.
    step2 = (await slack.wait_for("chat.postMessage", is_step, count=2))[1]
    assert (await bot.skip(step2, user_id="UBOB", reason="")).status == 200
    await bot.settle()
    events = await skip_events(bot)
    assert len(events) == 2 and "reason" not in events[1].data
    assert "skipped because" not in events[1].text


async def test_a_tampered_skip_modal_is_refused_in_the_modal(bot: BotServer) -> None:
    body = bot.signer.view_submission(
        "step_skip_reason", {"reason": {"text": "x"}}, private_metadata='{"run":"x"}'
    )
    answer = await bot.send(body, "view")
    assert answer.status == 200
    assert answer.body["response_action"] == "errors" and "malformed" in str(answer.body)


def test_the_timeline_keeps_a_skip_reason_whole_after_a_long_step() -> None:
    reason = "Link already revoked by hand"
    text = f"RB-04 Mitigate step 2/5: {'x' * 500} — skipped because: {reason}"
    event = EventView(datetime.now(UTC), "step_skipped", "UBOB", text, {"reason": reason})
    line = describe(event)
    assert line.startswith("⏭️ Step skipped: RB-04 Mitigate step 2/5: xxx")
    assert line.endswith(" — because “Link already revoked by hand” · by <@UBOB>")
