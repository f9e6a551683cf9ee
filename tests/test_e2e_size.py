"""Long runbooks end to end (signed requests into the real bot, the Slack
stand-in, real PostgreSQL): a runbook with an 18,000-character phase intro, a
step whose context is one 8,000-character line and a step whose own text is
too long for one message lints clean (a warning) and runs to the end. Every
message the bot sends stays within 10,000 characters of block text (Slack
refuses about 12,000), the step's context goes first and the step with its
buttons last, in its thread."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from sqlalchemy import select

from bot.runbook import Severity
from bot.slack.blockkit import MESSAGE_TEXT_BUDGET, block_text_length
from bot.store.models import Run
from tests.rig import Call, SlackStandIn
from tests.rig.botserver import BotServer
from tests.test_e2e_runbook import is_step, kinds

BotFactory = Callable[..., Awaitable[BotServer]]


def prose(words: int, seed: str) -> str:
    return " ".join(f"{seed}{n}" for n in range(words))


def long_runbook(folder: Path) -> Path:
    folder.mkdir(exist_ok=True)
    intro = "\n\n".join(prose(320, f"intro{k}-") for k in range(6))  # ~18,800 chars
    line = prose(1000, "line")  # one 8,000-character line
    (folder / "rb-long.md").write_text(
        f"""---
id: RB-LONG
title: Long
---

# Long

## Steps

{intro}

1. Read the paragraph below.

   {line}

2. {prose(1500, "text")}

3. Last step.

## Rollback

1. Undo it.

   {line}
"""
    )
    return folder


def within_limits(calls: list[Call]) -> None:
    """What a strict Slack checks: block text per message, and chat.update's text."""
    for call in calls:
        if "blocks" in call.args:
            size = block_text_length(call.args)
            assert size <= MESSAGE_TEXT_BUDGET, (call.method, size)
        if call.method == "chat.update":
            assert len(call.args.get("text", "")) <= 4000


async def test_a_long_runbook_runs_to_the_end_within_slack_limits(
    make_bot: BotFactory, slack: SlackStandIn, tmp_path: Path
) -> None:
    bot = await make_bot(runbooks_dir=long_runbook(tmp_path / "rb"))
    runbook = bot.ctx.library.get("RB-LONG")
    assert runbook is not None, bot.ctx.library.problems
    problems = [p for p in bot.ctx.library.problems if p.path.endswith("rb-long.md")]
    assert [p.severity for p in problems] == [Severity.WARNING]  # step 2's text is cut
    assert "step 2 of Steps: its text is" in problems[0].message

    await bot.command("/runbook", "start RB-LONG", user_id="UANA")
    current = (await slack.wait_for("chat.postMessage", is_step))[0]
    for k in (1, 2, 3):
        if k > 1:
            await bot.click(current, "step_approve", user_id="UBOB")
            current = (await slack.wait_for("chat.postMessage", is_step, count=k))[-1]
        await bot.settle()
        thread = current.args["thread_ts"]
        posts = [c for c in slack.calls_to("chat.postMessage") if c.args.get("thread_ts") == thread]
        # The step with its buttons is the last message posted in the thread so far.
        assert posts[-1] is current and f"step {k} of 3" in str(current.args["blocks"])
        if k == 1:  # the phase intro went first, in order, as context messages
            lead = [c for c in posts if "context (" in c.args["text"]]
            assert [c.args["text"] for c in lead] == [
                f"Step 1 of 3 — context ({n}/{len(lead)})" for n in range(1, len(lead) + 1)
            ]
            assert 2 <= len(lead) <= 3 and "intro0-0 " in str(lead[0].args["blocks"])
            assert "intro5-319" in str(lead[-1].args["blocks"])
            assert "line999" in str(current.args["blocks"])  # the long line, whole, with it
        if k == 2:
            assert "the rest of this step is in the runbook file" in str(current.args["blocks"])
            assert "rb-long.md" in str(current.args["blocks"])
    await bot.click(current, "step_approve", user_id="UBOB")
    await slack.wait_for("chat.postMessage", lambda c: "completed" in c.args["text"])
    await bot.settle()

    assert (await kinds(bot))[-1] == "runbook_completed"
    async with bot.ctx.sessions() as session:
        assert (await session.execute(select(Run.state))).scalar_one() == "completed"
    # Every step message was updated with its decision, buttons gone.
    steps = [c for c in slack.calls_to("chat.postMessage") if is_step(c)]
    for step in steps:
        shown = slack.message(step.args["channel"], step.ts)
        assert "Approved* by <@UBOB>" in str(shown["blocks"])
    within_limits(slack.calls)


async def test_show_timeline_and_abort_of_a_long_runbook_within_limits(
    make_bot: BotFactory, slack: SlackStandIn, tmp_path: Path
) -> None:
    bot = await make_bot(runbooks_dir=long_runbook(tmp_path / "rb"))
    show = await bot.command("/runbook", "show RB-LONG")
    assert block_text_length(show.body) <= MESSAGE_TEXT_BUDGET
    assert "RB-LONG" in str(show.body["blocks"])

    await bot.command("/runbook", "start RB-LONG", user_id="UANA")
    step1 = (await slack.wait_for("chat.postMessage", is_step))[0]
    for n in range(40):
        await bot.command("/incident", f"note {n} " + "n" * 2500, user_id="UANA")
    await bot.settle()
    timeline = await bot.command("/incident", "timeline", user_id="UANA")
    assert block_text_length(timeline.body) <= MESSAGE_TEXT_BUDGET
    assert "runbook-bot timeline INC-1" in str(timeline.body["blocks"])

    run_message = slack.calls_to("chat.postMessage")[0]
    await bot.click(run_message, "run_abort", user_id="UANA")
    rollback = (await slack.wait_for("chat.postMessage", is_step, count=2))[-1]
    assert "Rollback · step 1 of 1" in str(rollback.args["blocks"])
    assert "line999" in str(rollback.args["blocks"])
    await bot.click(rollback, "step_approve", user_id="UBOB")
    await slack.wait_for(
        "chat.postMessage", lambda c: "Rollback of RB-LONG finished" in c.args["text"]
    )
    await bot.settle()
    assert step1.ts != rollback.ts
    within_limits(slack.calls)
