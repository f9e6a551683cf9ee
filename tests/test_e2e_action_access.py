"""Who may run a step's action, end to end through signed clicks: the step's
gate judges Run as it judges Approve, a resolved incident's step refuses it,
and a forged or malformed Run changes nothing."""

from __future__ import annotations

from pathlib import Path

from tests import action_support
from tests.action_support import (
    command,
    events,
    executions,
    shown,
    started,
    updated_with,
    write_runbook,
)
from tests.conftest import BotFactory
from tests.rig import SlackStandIn
from tests.test_e2e_incident import is_step

action_secret = action_support.action_secret  # autouse: the secret in the environment


async def test_gates_judge_run_like_approve(
    make_bot: BotFactory, slack: SlackStandIn, tmp_path: Path
) -> None:
    folder = write_runbook(
        tmp_path / "rb",
        [
            "Fail over. [approval: commander] [run: flush]",
            "Purge. [approval: 2 people] [run: flush]",
        ],
        [command("flush", "0", "0")],
    )
    bot = await make_bot(runbooks_dir=folder)
    step1 = await started(bot, slack)
    await bot.command("/incident", "role commander <@UCMD>", user_id="UANA")
    await bot.settle()
    await bot.click(step1, "step_approve", user_id="UBOB")
    by_approve = (await slack.wait_for("chat.postEphemeral", lambda c: c.args["user"] == "UBOB"))[0]
    await bot.click(step1, "step_run", user_id="UBOB")
    by_run = (
        await slack.wait_for("chat.postEphemeral", lambda c: c.args["user"] == "UBOB", count=2)
    )[1]
    assert by_run.args["text"] == by_approve.args["text"]
    assert "needs the commander — <@UCMD>" in by_run.args["text"]
    assert await executions(bot) == []
    await bot.click(step1, "step_run", user_id="UCMD")
    step2 = (await slack.wait_for("chat.postMessage", is_step, count=2, timeout=20))[1]
    # Two people: the first Run is a partial approval, the second starts the action.
    await bot.click(step2, "step_run", user_id="UANA")
    await updated_with(slack, step2, "1 of 2 approvals")
    assert len(await executions(bot)) == 1
    await bot.click(step2, "step_run", user_id="UBOB")
    await slack.wait_for("chat.postMessage", lambda c: "completed" in c.args["text"], timeout=20)
    rows = await executions(bot)
    assert [(r.step_index, r.started_by, r.state) for r in rows] == [
        (0, "UCMD", "succeeded"),
        (1, "UBOB", "succeeded"),
    ]
    partial = await events(bot, "step_approval_partial")
    assert [(a, d["step_index"]) for _, a, d in partial] == [("UANA", 1)]


async def test_a_resolved_incidents_step_refuses_run_like_approve(
    make_bot: BotFactory, slack: SlackStandIn, tmp_path: Path
) -> None:
    folder = write_runbook(tmp_path / "rb", ["Flush. [run: flush]"], [command("flush", "0", "0")])
    bot = await make_bot(runbooks_dir=folder)
    step = await started(bot, slack)
    await bot.command("/incident", "resolve", user_id="UANA")
    await bot.settle()
    await bot.click(step, "step_approve", user_id="UBOB")
    await bot.click(step, "step_run", user_id="UBOB")
    told = await slack.wait_for("chat.postEphemeral", lambda c: c.args["user"] == "UBOB", count=2)
    assert told[0].args["text"] == told[1].args["text"]
    assert "Nothing changed" in told[1].args["text"]
    assert await executions(bot) == []


async def test_a_forged_run_changes_nothing(
    make_bot: BotFactory, slack: SlackStandIn, tmp_path: Path
) -> None:
    folder = write_runbook(tmp_path / "rb", ["Look."], [command("flush", "0", "0")])
    bot = await make_bot(runbooks_dir=folder)
    step = await started(bot, slack)
    channel = step.args["channel"]
    for value in ("nope", "1:0"):  # malformed; a step without an action
        body = bot.signer.block_action(
            "step_run", value, message_ts=step.ts, channel_id=channel, user_id="UEVE"
        )
        assert (await bot.send(body, "click")).status == 200
    told = await slack.wait_for("chat.postEphemeral", lambda c: c.args["user"] == "UEVE", count=2)
    texts = sorted(c.args["text"] for c in told)
    assert texts == [
        "That button is malformed. Nothing changed.",
        "This step has no action that can be run. Nothing changed.",
    ]
    await bot.settle()
    assert await executions(bot) == [] and await events(bot, "action_started") == []
    assert "step_approve" in shown(slack, step)
