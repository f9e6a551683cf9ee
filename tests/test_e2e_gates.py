"""Approval gates end to end (SPEC §7): a gated step clicked by the wrong person,
then the right one; two people; user groups and users; a click racing a role
change; refusals ephemeral and recording nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import create_async_engine

from bot.store.models import Incident, StepDecision, TimelineEvent
from tests.rig import Call, SlackStandIn
from tests.rig.botserver import BotServer
from tests.test_e2e_incident import is_step, snapshot, text_of

BotFactory = Callable[..., Awaitable[BotServer]]


def step_calls(slack: SlackStandIn) -> list[Call]:
    return [c for c in slack.calls_to("chat.postMessage") if is_step(c)]


def shown(slack: SlackStandIn, call: Call) -> str:
    """The message as Slack shows it now (after any chat.update)."""
    return str(slack.message(call.args["channel"], call.ts))


async def kinds(bot: BotServer) -> list[str]:
    async with bot.ctx.sessions() as session:
        rows = await session.execute(select(TimelineEvent.kind).order_by(TimelineEvent.id))
        return [k for (k,) in rows]


async def decisions(bot: BotServer) -> list[tuple[int, str, str]]:
    async with bot.ctx.sessions() as session:
        rows = await session.execute(
            select(StepDecision.step_index, StepDecision.decision, StepDecision.decided_by)
        )
        return sorted(rows.all())


async def ephemeral_to(slack: SlackStandIn, user: str, count: int = 1) -> list[Call]:
    return await slack.wait_for("chat.postEphemeral", lambda c: c.args["user"] == user, count=count)


async def refused_quietly(bot: BotServer, slack: SlackStandIn, step: Call, user: str) -> str:
    """Click Approve as ``user``: told privately why not; nothing recorded or updated."""
    await bot.settle()  # what earlier clicks owe has gone (at Slack's pace)
    before = await snapshot(bot)
    updates = len(slack.calls_to("chat.update"))
    told = len([c for c in slack.calls_to("chat.postEphemeral") if c.args["user"] == user])
    await bot.click(step, "step_approve", user_id=user)
    note = (await ephemeral_to(slack, user, told + 1))[-1]
    await bot.settle()
    after = await snapshot(bot)
    # Only the intake row and the ephemeral reply passed through; no event, no decision.
    assert after[0] == before[0] and after[1] == before[1], (before, after)
    assert len(slack.calls_to("chat.update")) == updates
    return str(note.args["text"])


async def test_rb08_gate_wrong_person_then_the_commander(
    bot: BotServer, slack: SlackStandIn
) -> None:
    await bot.command("/incident", "declare critical Neon database lost", user_id="UANA")
    await slack.wait_for("chat.postMessage", lambda c: "declared" in c.args["text"])
    await bot.command("/runbook", "start RB-08 INC-1", user_id="UANA")
    step1 = (await slack.wait_for("chat.postMessage", is_step))[0]
    assert "Needs" not in text_of(step1)  # "A DR event has been declared": no gate
    await bot.click(step1, "step_approve", user_id="UANA")
    step2 = (await slack.wait_for("chat.postMessage", is_step, count=2))[1]
    # The gate is shown as a requirement, not as step text.
    assert "Incident Commander approves the restore" in text_of(step2)
    assert "[approval" not in text_of(step2)
    assert "🔒 Needs the commander (nobody holds that role yet" in text_of(step2)

    note = await refused_quietly(bot, slack, step2, "UBOB")
    assert "This step needs the commander (nobody holds that role yet" in note
    assert "`/incident role INC-1 commander @someone`" in note and "Nothing changed" in note

    await bot.command("/incident", "role commander <@U0CMD1>", user_id="UANA")
    await bot.settle()
    # The waiting step now names the holder.
    assert "🔒 Needs the commander — <@U0CMD1>" in shown(slack, step2)
    assert "step_approve" in shown(slack, step2)  # still waiting for its decision
    note = await refused_quietly(bot, slack, step2, "UBOB")
    assert "This step needs the commander — <@U0CMD1>" in note
    # Skip is gated too.
    before = await decisions(bot)
    await bot.skip(step2, user_id="UBOB")
    await ephemeral_to(slack, "UBOB", 3)
    await bot.settle()
    assert await decisions(bot) == before

    await bot.click(step2, "step_approve", user_id="U0CMD1")
    await slack.wait_for("chat.postMessage", is_step, count=3)
    await bot.settle()
    assert (1, "approved", "U0CMD1") in await decisions(bot)
    assert "Approved* by <@U0CMD1>" in shown(slack, step2)
    assert await kinds(bot) == [
        "incident_opened",
        "runbook_started",
        "step_approved",
        "incident_acknowledged",
        "role_assigned",
        "step_approved",
    ]


def gated_runbook(folder: Path, *gates: str) -> Path:
    folder.mkdir(exist_ok=True)
    steps = "\n".join(
        f"{n}. Step {n}." + (f" [approval: {gate}]" if gate else "")
        for n, gate in enumerate(gates, start=1)
    )
    (folder / "RB-G.md").write_text(
        "---\nid: RB-G\ntitle: Gated\nseverity: SEV2\n---\n\n# Gated\n\n## Steps\n\n" + steps + "\n"
    )
    return folder


async def step_events(bot: BotServer, kind: str) -> list[tuple[str | None, dict[str, Any]]]:
    async with bot.ctx.sessions() as session:
        rows = await session.execute(
            select(TimelineEvent.actor, TimelineEvent.data)
            .where(TimelineEvent.kind == kind)
            .order_by(TimelineEvent.id)
        )
        return [(a, d) for a, d in rows]


async def test_two_people_concurrent_first_approvals(
    make_bot: BotFactory, slack: SlackStandIn, tmp_path: Path
) -> None:
    bot = await make_bot(runbooks_dir=gated_runbook(tmp_path / "rb", "2 people", ""))
    rounds = 4
    for n in range(1, rounds + 1):
        await bot.command("/runbook", f"start RB-G round {n}")
        step = (await slack.wait_for("chat.postMessage", is_step, count=2 * n - 1))[-1]
        assert "🔒 Needs 2 different people" in text_of(step)
        # Two different people click at the same moment.
        await asyncio.gather(
            bot.click(step, "step_approve", user_id="UANA"),
            bot.click(step, "step_approve", user_id="UBOB"),
        )
        await slack.wait_for("chat.postMessage", is_step, count=2 * n)
        await bot.settle()
        shown_now = shown(slack, step)
        assert "actions" not in shown_now  # decided: no buttons left
        assert "<@UANA>" in shown_now and "<@UBOB>" in shown_now
    partial = await step_events(bot, "step_approval_partial")
    approved = [(a, d) for a, d in await step_events(bot, "step_approved") if d["step_index"] == 0]
    # Each round: exactly one partial, then one approval naming both, one decision.
    assert len(partial) == rounds and len(approved) == rounds
    for (first, p_data), (second, a_data) in zip(partial, approved, strict=True):
        assert {first, second} == {"UANA", "UBOB"}
        assert p_data["approvers"] == [first] and p_data["needed"] == 2
        assert a_data["approvers"] == [first, second]
    async with bot.ctx.sessions() as session:
        count = select(func.count(StepDecision.id)).where(StepDecision.step_index == 0)
        assert (await session.execute(count)).scalar() == rounds


async def test_two_people_one_at_a_time(
    make_bot: BotFactory, slack: SlackStandIn, tmp_path: Path
) -> None:
    bot = await make_bot(runbooks_dir=gated_runbook(tmp_path / "rb", "2 people"))
    await bot.command("/runbook", "start RB-G")
    step = (await slack.wait_for("chat.postMessage", is_step))[0]
    await bot.click(step, "step_approve", user_id="UANA")
    await slack.wait_for("chat.update", lambda c: c.args["ts"] == step.ts)
    partly = shown(slack, step)
    assert "1 of 2 approvals — <@UANA>" in partly and "step_approve" in partly  # buttons kept
    # The first approver again: told a second person is needed; nothing recorded.
    note = await refused_quietly(bot, slack, step, "UANA")
    assert "someone else has to confirm it" in note
    await bot.click(step, "step_approve", user_id="UBOB")
    await slack.wait_for("chat.postMessage", lambda c: "completed" in c.args["text"])
    await bot.settle()
    assert await decisions(bot) == [(0, "approved", "UBOB")]
    assert [k for k in await kinds(bot) if k.startswith("step")] == [
        "step_approval_partial",
        "step_approved",
    ]


async def test_user_group_and_user_gates(
    make_bot: BotFactory, slack: SlackStandIn, tmp_path: Path
) -> None:
    slack.usergroups["S0SEC123"] = ["U0SEC123"]
    slack.usergroup_handles["S0SEC123"] = "security"
    folder = gated_runbook(tmp_path / "rb", "@security", "<@U0ANA123>", "S0SEC123")
    bot = await make_bot(runbooks_dir=folder)
    await bot.command("/runbook", "start RB-G")
    step1 = (await slack.wait_for("chat.postMessage", is_step))[0]
    assert "Needs someone from @security" in text_of(step1)
    note = await refused_quietly(bot, slack, step1, "UBOB")
    assert "someone from @security" in note
    assert slack.calls_to("usergroups.list") and slack.calls_to("usergroups.users.list")
    await bot.click(step1, "step_approve", user_id="U0SEC123")
    step2 = (await slack.wait_for("chat.postMessage", is_step, count=2))[1]
    assert "Needs <@U0ANA123>" in text_of(step2)
    assert "needs <@U0ANA123>" in await refused_quietly(bot, slack, step2, "U0SEC123")
    await bot.click(step2, "step_approve", user_id="U0ANA123")
    step3 = (await slack.wait_for("chat.postMessage", is_step, count=3))[2]
    assert "user group `S0SEC123`" in text_of(step3)
    await bot.click(step3, "step_approve", user_id="U0SEC123")
    await slack.wait_for("chat.postMessage", lambda c: "completed" in c.args["text"])
    await bot.settle()
    assert await decisions(bot) == [
        (0, "approved", "U0SEC123"),
        (1, "approved", "U0ANA123"),
        (2, "approved", "U0SEC123"),
    ]
    # Members are cached: one listing per group for the whole run.
    assert len(slack.calls_to("usergroups.users.list")) == 1


async def test_a_click_racing_a_role_change_does_not_slip_through(
    make_bot: BotFactory, slack: SlackStandIn, tmp_path: Path, clean_db: str
) -> None:
    """The commander is being replaced (its transaction holds the incident row)
    while the old commander clicks: the decision waits for the change and is
    then judged on the new roles — refused."""
    bot = await make_bot(runbooks_dir=gated_runbook(tmp_path / "rb", "commander"))
    await bot.command("/runbook", "start RB-G")
    step = (await slack.wait_for("chat.postMessage", is_step))[0]
    await bot.command("/incident", "role commander <@U0OLD1>")
    await bot.settle()
    other = create_async_engine(clean_db)
    try:
        async with other.connect() as conn:
            tx = await conn.begin()
            await conn.execute(text("SELECT id FROM incidents WHERE id = 1 FOR UPDATE"))
            await conn.execute(
                update(Incident).where(Incident.id == 1).values(roles={"commander": "U0NEW1"})
            )
            await bot.click(step, "step_approve", user_id="U0OLD1")
            await asyncio.sleep(0.5)  # the worker is waiting for the incident row
            assert await decisions(bot) == []
            await tx.commit()
        note = (await ephemeral_to(slack, "U0OLD1"))[0]
        assert "needs the commander — <@U0NEW1>" in note.args["text"]
        await bot.settle()
        assert await decisions(bot) == []
    finally:
        await other.dispose()
