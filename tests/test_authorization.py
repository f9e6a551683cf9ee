"""Authorization: runs start only in INCIDENT_CHANNELS; APPROVERS (user IDs and
user-group IDs) limits who may decide steps; a refused click is ephemeral and
recorded nowhere else."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from bot.store.models import (
    HandledRequest,
    Incident,
    OutboxMessage,
    Run,
    StepDecision,
    TimelineEvent,
)
from tests.conftest import BotFactory
from tests.rig import SlackStandIn
from tests.rig.botserver import BotServer
from tests.test_e2e_runbook import is_step, start


async def counts(bot: BotServer) -> dict[str, int]:
    out = {}
    async with bot.ctx.sessions() as session:
        for table in (Incident, Run, StepDecision, TimelineEvent, OutboxMessage, HandledRequest):
            out[table.__tablename__] = (
                await session.execute(select(func.count()).select_from(table))
            ).scalar()
    return out


async def test_runs_start_only_in_incident_channels(
    make_bot: BotFactory, slack: SlackStandIn
) -> None:
    bot = await make_bot(incident_channels="incidents,C_WAR")
    for channel_id, name in [
        ("C_GEN", "general"),
        ("C_RANDOM", "random"),
        ("D123", "directmessage"),
    ]:
        response = await bot.command(
            "/runbook", "start RB-04", channel_id=channel_id, channel_name=name
        )
        assert response.status == 200
        assert "incident channel" in response.text and "Nothing was started" in response.text
        declared = await bot.command(
            "/incident", "declare outage", channel_id=channel_id, channel_name=name
        )
        assert "incident channel" in declared.text
    await asyncio.sleep(0.2)
    assert slack.calls_to("chat.postMessage") == []
    assert all(n == 0 for n in (await counts(bot)).values())
    # By name and by ID, both allowed.
    assert (await bot.command("/runbook", "start RB-04", channel_id="C_INC")).text == ""
    assert (
        await bot.command("/runbook", "start RB-04", channel_id="C_WAR", channel_name="war-room")
    ).text == ""
    await slack.wait_for("chat.postMessage", is_step, count=2)


async def test_approvers_limit_who_decides(make_bot: BotFactory, slack: SlackStandIn) -> None:
    slack.usergroups["S_ONCALL"] = ["UGROUPIE"]
    bot = await make_bot(approvers="UBOSS,S_ONCALL")
    step1 = await start(bot, slack)
    await bot.settle()
    before = await counts(bot)
    updates_before = len(slack.calls_to("chat.update"))

    # A user neither listed nor in the group: refused, ephemerally, nothing recorded.
    for action in ("step_approve", "step_skip"):
        refused = await bot.decide(step1, action, user_id="UMALLORY")
        assert refused.status == 200
    notes = await slack.wait_for("chat.postEphemeral", count=2)
    assert {n.args["user"] for n in notes} == {"UMALLORY"}
    assert all("approvers" in n.args["text"] for n in notes)
    await asyncio.sleep(0.3)
    await bot.settle()
    # The refusals went out through the outbox (the worker judged the clicks);
    # nothing else was recorded.
    after = await counts(bot)
    assert after.pop("slack_outbox") == before.pop("slack_outbox") + 2
    assert after == before
    assert len(slack.calls_to("chat.update")) == updates_before
    assert len([c for c in slack.calls_to("chat.postMessage") if is_step(c)]) == 1
    assert await bot.ctx.outbox.pending_count() == 0
    assert slack.calls_to("usergroups.users.list"), "group membership comes from Slack"

    # A member of the user group may decide.
    ok = await bot.click(step1, "step_approve", user_id="UGROUPIE")
    assert ok.status == 200
    steps = await slack.wait_for("chat.postMessage", is_step, count=2)
    # A listed user ID may decide.
    await bot.skip(steps[1], user_id="UBOSS")
    await slack.wait_for("chat.postMessage", is_step, count=3)
    async with bot.ctx.sessions() as session:
        decisions = await session.execute(select(StepDecision).order_by(StepDecision.id))
        assert [(d.decided_by, d.decision) for d in decisions.scalars()] == [
            ("UGROUPIE", "approved"),
            ("UBOSS", "skipped"),
        ]


async def test_no_approvers_setting_means_anyone(bot: BotServer, slack: SlackStandIn) -> None:
    step1 = await start(bot, slack)
    await bot.click(step1, "step_approve", user_id="UANYONE")
    await slack.wait_for("chat.postMessage", is_step, count=2)
    assert slack.calls_to("usergroups.users.list") == []
