"""The acknowledgement never waits on Slack: user-group members and the Declare
modal's channel come from caches refreshed in the background; a click whose
judgement needs what is not known yet is stored and judged once it is; a gate
naming a group the workspace lacks says so."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from bot.store.models import IntakeItem, StepDecision
from tests.conftest import BotFactory
from tests.rig import SlackStandIn
from tests.rig.botserver import BotServer, Response
from tests.test_e2e_gates import gated_runbook
from tests.test_e2e_runbook import is_step, start


async def until(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition never held"
        await asyncio.sleep(0.05)


def calls_between(slack: SlackStandIn, sent: float, received: float) -> list[str]:
    """Every Web API call (answered or refused) that reached Slack in the window."""
    made = [(c.method, c.at) for c in slack.calls] + [(r.method, r.at) for r in slack.rejected]
    return [method for method, at in made if sent <= at <= received]


async def timed(request: Awaitable[Response]) -> tuple[Response, float, float]:
    sent = time.monotonic()
    response = await request
    return response, sent, time.monotonic()


async def decisions(bot: BotServer) -> list[tuple[str, str]]:
    async with bot.ctx.sessions() as session:
        rows = await session.execute(
            select(StepDecision.decided_by, StepDecision.decision).order_by(StepDecision.id)
        )
        return [(u, d) for u, d in rows]


def ephemerals_to(slack: SlackStandIn, user: str) -> list[Any]:
    return [c for c in slack.calls_to("chat.postEphemeral") if c.args["user"] == user]


async def test_clicks_ack_while_usergroups_is_rate_limited_and_are_judged_later(
    make_bot: BotFactory, slack: SlackStandIn
) -> None:
    slack.usergroups["S_ONCALL"] = ["UGROUPIE"]
    # Slack's answer to the start-up listing: 429, Retry-After 5.
    slack.fail("usergroups.users.list", status=429, retry_after=5)
    bot = await make_bot(approvers="UBOSS,S_ONCALL")
    step1 = await start(bot, slack)
    await bot.settle()
    limited = [r for r in slack.rejected if r.method == "usergroups.users.list"]
    assert [r.status for r in limited] == [429]
    assert slack.calls_to("usergroups.users.list") == []  # members not known yet

    # Someone outside the group, then a member: both acked without asking Slack.
    mallory, m_sent, m_received = await timed(bot.click(step1, "step_approve", user_id="UMALLORY"))
    groupie, g_sent, g_received = await timed(bot.click(step1, "step_approve", user_id="UGROUPIE"))
    assert mallory.status == 200 and groupie.status == 200
    assert calls_between(slack, m_sent, m_received) == []
    assert calls_between(slack, g_sent, g_received) == []
    listed = slack.calls_to("usergroups.users.list")
    if not listed:  # still waiting out the Retry-After: the clicks wait with it
        assert await decisions(bot) == []
        assert await bot.ctx.intake_worker.pending_count() == 2

    # Once Slack answers, the clicks are judged in the order they came.
    listed = await slack.wait_for("usergroups.users.list", timeout=15)
    next_step = (await slack.wait_for("chat.postMessage", is_step, count=2))[1]
    assert next_step.at > listed[0].at
    [note] = ephemerals_to(slack, "UMALLORY")
    assert note.args["text"] == (
        "Only the configured approvers can decide steps in this workspace. Nothing changed."
    )
    await bot.settle()
    assert await decisions(bot) == [("UGROUPIE", "approved")]
    assert ephemerals_to(slack, "UGROUPIE") == []
    # Retry-After was honoured: no second listing within 5 s of the 429.
    assert listed[0].at - limited[0].at >= 4.9


async def test_a_click_waits_for_slack_at_most_so_long(
    make_bot: BotFactory, slack: SlackStandIn
) -> None:
    """Slack never answers: the click is kept, not lost, and after a bounded
    wait its sender is told the approvers could not be looked up."""
    slack.usergroups["S_ONCALL"] = ["UGROUPIE"]
    slack.fail("usergroups.users.list", status=500, times=10_000)
    bot = await make_bot(approvers="S_ONCALL")
    step1 = await start(bot, slack)
    await bot.settle()
    await bot.click(step1, "step_approve", user_id="UGROUPIE")
    assert await bot.ctx.intake_worker.pending_count() == 1
    # Two minutes pass (the click's arrival time moved back): it is answered.
    async with bot.ctx.sessions() as session, session.begin():
        items = list((await session.execute(select(IntakeItem))).scalars())
        assert len(items) == 1
        await session.execute(
            update(IntakeItem).values(received_at=items[0].received_at.replace(year=2000))
        )
    [note] = await slack.wait_for(
        "chat.postEphemeral", lambda c: c.args["user"] == "UGROUPIE", timeout=10
    )
    assert "could not be asked" in note.args["text"] and "Nothing changed" in note.args["text"]
    await bot.settle()
    assert await decisions(bot) == []


async def test_a_gate_on_a_group_the_workspace_lacks_names_it(
    make_bot: BotFactory, slack: SlackStandIn, tmp_path: Path
) -> None:
    slack.usergroups["S0SEC123"] = ["U0SEC123"]
    slack.usergroup_handles["S0SEC123"] = "security"
    bot = await make_bot(runbooks_dir=gated_runbook(tmp_path / "rb", "@secops"))
    await bot.command("/runbook", "start RB-G")
    step = (await slack.wait_for("chat.postMessage", is_step))[0]
    await bot.click(step, "step_approve", user_id="U0SEC123")
    [note] = await slack.wait_for("chat.postEphemeral", timeout=10)
    text = note.args["text"]
    assert "@secops" in text and "no user group by that name" in text
    assert "could not be asked" not in text
    await bot.settle()
    assert await decisions(bot) == []


async def test_declare_modal_without_a_cached_channel(
    make_bot: BotFactory, slack: SlackStandIn
) -> None:
    slack.channel_names["C_INC"] = "incidents"
    slack.fail("conversations.list", status=500, times=10_000)  # Slack cannot be asked
    bot = await make_bot()
    await until(lambda: any(r.method == "conversations.list" for r in slack.rejected))
    await open_home_and_click_declare(bot, slack)
    submit = declare_submission(bot, "Checkout down")
    refused, sent, received = await timed(bot.send(submit, "view"))
    assert calls_between(slack, sent, received) == []
    assert refused.body["response_action"] == "errors"
    assert "still asking Slack for #incidents" in refused.body["errors"]["title"]
    assert [c for c in slack.calls_to("chat.postMessage") if "declared" in c.args["text"]] == []

    slack.reset_faults()  # Slack answers again: the submission nudged a listing
    await until(lambda: bot.ctx.declare_channel.cached() == "C_INC")
    accepted, sent, received = await timed(
        bot.send(declare_submission(bot, "Checkout down"), "view")
    )
    assert accepted.status == 200 and not accepted.body
    assert calls_between(slack, sent, received) == []
    declared = await slack.wait_for("chat.postMessage", lambda c: "declared" in c.args["text"])
    assert declared[0].args["channel"] == "C_INC"


async def test_declare_modal_names_a_channel_slack_does_not_have(
    make_bot: BotFactory, slack: SlackStandIn
) -> None:
    bot = await make_bot(incident_channels="war-room")
    await slack.wait_for("conversations.list")
    await until(lambda: bot.ctx.declare_channel.cached() is not None)
    refused = await bot.send(declare_submission(bot, "Checkout down"), "view")
    assert "cannot find #war-room" in refused.body["errors"]["title"]


async def open_home_and_click_declare(bot: BotServer, slack: SlackStandIn) -> None:
    body = bot.signer.event({"type": "app_home_opened", "user": "UALICE", "tab": "home"})
    assert (await bot.send(body, "event")).status == 200
    await until(lambda: "UALICE" in slack.home_views)
    click = bot.signer.view_block_action(
        "home_declare", slack.home_views["UALICE"], user_id="UALICE"
    )
    response, sent, received = await timed(bot.send(click, "click"))
    assert response.status == 200
    assert calls_between(slack, sent, received) == []
    await slack.wait_for("views.open")  # after the ack


def declare_submission(bot: BotServer, title: str) -> bytes:
    return bot.signer.view_submission(
        "home_declare_modal", {"title": {"title": title}}, user_id="UALICE"
    )


async def test_a_click_waiting_on_slack_holds_up_its_run_only(
    make_bot: BotFactory, slack: SlackStandIn, tmp_path: Path
) -> None:
    slack.usergroups["S0SEC123"] = ["U0SEC123"]
    slack.usergroup_handles["S0SEC123"] = "security"
    listing = slack.hold("usergroups.users.list")  # Slack is slow to answer
    folder = gated_runbook(tmp_path / "rb", "@security")
    (folder / "RB-P.md").write_text(
        "---\nid: RB-P\ntitle: Plain\nseverity: SEV2\n---\n\n# Plain\n\n## Steps\n\n1. Step 1.\n"
    )
    bot = await make_bot(runbooks_dir=folder)
    await listing.wait()
    await bot.command("/runbook", "start RB-G")
    gated = (await slack.wait_for("chat.postMessage", is_step))[0]
    await bot.command("/runbook", "start RB-P")
    plain = (await slack.wait_for("chat.postMessage", is_step, count=2))[1]
    await bot.click(gated, "step_approve", user_id="U0SEC123")
    await bot.click(plain, "step_approve", user_id="UBOB")
    await slack.wait_for(
        "chat.postMessage", lambda c: "RB-P" in c.args["text"] and "completed" in c.args["text"]
    )
    assert await decisions(bot) == [("UBOB", "approved")]  # the gated click waits
    assert await bot.ctx.intake_worker.pending_count() == 1
    listing.release()  # Slack answers: the waiting click is judged at once
    await slack.wait_for(
        "chat.postMessage", lambda c: "RB-G" in c.args["text"] and "completed" in c.args["text"]
    )
    assert sorted(await decisions(bot)) == [("U0SEC123", "approved"), ("UBOB", "approved")]
