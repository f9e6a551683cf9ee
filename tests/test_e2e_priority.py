"""Priority, acknowledgement and roles end to end (SPEC §7): signed requests into
the real app, the Slack stand-in, PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from bot.store.models import Deadline, Incident, TimelineEvent
from tests.rig import Call, SlackStandIn
from tests.rig.botserver import BotServer
from tests.test_e2e_incident import is_step, snapshot, text_of

BotFactory = Callable[..., Awaitable[BotServer]]


async def events(bot: BotServer, kind: str | None = None, incident_id: int = 1) -> list:
    query = select(TimelineEvent).where(TimelineEvent.incident_id == incident_id)
    if kind is not None:
        query = query.where(TimelineEvent.kind == kind)
    async with bot.ctx.sessions() as session:
        return list((await session.execute(query.order_by(TimelineEvent.id))).scalars())


async def incident(bot: BotServer, incident_id: int = 1) -> Incident:
    async with bot.ctx.sessions() as session:
        found = await session.get(Incident, incident_id)
        assert found is not None
        return found


async def pending_target(bot: BotServer, incident_id: int = 1) -> Deadline | None:
    async with bot.ctx.sessions() as session:
        query = select(Deadline).where(
            Deadline.incident_id == incident_id,
            Deadline.kind == "response_target",
            Deadline.fired_at.is_(None),
        )
        return (await session.execute(query)).scalar_one_or_none()


def run_message(slack: SlackStandIn) -> Call:
    return next(c for c in slack.calls_to("chat.postMessage") if "runbook" in c.args["text"])


def context_text(message: dict[str, Any]) -> str:
    return " ".join(
        e.get("text", "")
        for b in message.get("blocks", [])
        if b.get("type") == "context"
        for e in b.get("elements", [])
    )


async def test_declare_with_a_level(bot: BotServer, slack: SlackStandIn) -> None:
    reply = await bot.command("/incident", "declare CRITICAL Payments down", user_id="UANA")
    assert reply.status == 200 and reply.text == ""
    posted = (await slack.wait_for("chat.postMessage", lambda c: "declared" in c.args["text"]))[0]
    assert "INC-1" in posted.args["text"] and "critical" in posted.args["text"]
    assert "Payments down" in posted.args["text"]
    assert "critical Payments down" not in posted.args["text"].lower()  # not part of the title
    opened = (await events(bot, "incident_opened"))[0]
    assert opened.data == {"priority": "critical", "title": "Payments down"}
    found = await incident(bot)
    assert found.title == "Payments down" and found.priority == "critical"
    target = await pending_target(bot)
    assert target is not None and target.due_at == found.opened_at + timedelta(minutes=15)

    # No level: DEFAULT_PRIORITY; a level word later in the title is just a word.
    await bot.command("/incident", "declare Search is critical")
    await slack.wait_for("chat.postMessage", lambda c: "INC-2" in c.args["text"])
    second = await incident(bot, 2)
    assert second.title == "Search is critical" and second.priority == "medium"
    assert (await pending_target(bot, 2)).due_at == second.opened_at + timedelta(hours=4)  # type: ignore[union-attr]

    # Only a level, no title: asked for one, nothing recorded.
    before = await snapshot(bot)
    again = await bot.command("/incident", "declare high")
    assert "title" in again.text
    assert await snapshot(bot) == before


async def test_runbook_start_takes_a_level_else_the_runbook_severity(
    bot: BotServer, slack: SlackStandIn
) -> None:
    # RB-04's front matter says SEV1: the first level.
    await bot.command("/runbook", "start RB-04 leaked link")
    await slack.wait_for("chat.postMessage", is_step)
    await bot.settle()
    first = await incident(bot, 1)
    assert first.priority == "critical" and first.title == "leaked link"
    shown = run_message(slack)
    assert "INC-1 (critical)" in shown.args["text"]
    assert "Priority: *critical*" in context_text(slack.message("C_INC", shown.ts))

    # A level word: the priority, not part of the summary.
    await bot.command("/runbook", "start RB-02 Low printer queue stuck")
    await slack.wait_for("chat.postMessage", is_step, count=2)
    second = await incident(bot, 2)
    assert second.priority == "low" and second.title == "printer queue stuck"
    opened = (await events(bot, "incident_opened", 2))[0]
    assert opened.data == {"priority": "low", "title": "printer queue stuck"}

    # Maintenance is no level: DEFAULT_PRIORITY.
    await bot.command("/runbook", "start RB-01")
    await slack.wait_for("chat.postMessage", is_step, count=3)
    assert (await incident(bot, 3)).priority == "medium"

    # Joining an open incident: its priority stays, and the reply says how to change it.
    joined = await bot.command("/runbook", "start RB-09 INC-3 critical still broken")
    assert (
        "keeps its priority" in joined.text and "/incident priority INC-3 critical" in joined.text
    )
    await slack.wait_for("chat.postMessage", is_step, count=4)
    await bot.settle()
    assert (await incident(bot, 3)).priority == "medium"
    runs = [c for c in slack.calls_to("chat.postMessage") if "RB-09" in c.args["text"]]
    assert runs and "INC-3 (medium)" in runs[0].args["text"]


async def test_priority_change(bot: BotServer, slack: SlackStandIn) -> None:
    await bot.command("/runbook", "start RB-02 high Printers down", user_id="UANA")
    await slack.wait_for("chat.postMessage", is_step)
    await bot.settle()
    opened = await incident(bot)
    assert opened.priority == "high"
    assert (await pending_target(bot)).due_at == opened.opened_at + timedelta(hours=1)  # type: ignore[union-attr]

    changed = await bot.command("/incident", "priority critical", user_id="UBOB")
    assert changed.status == 200 and changed.text == ""
    said = await slack.wait_for("chat.postMessage", lambda c: "priority changed" in c.args["text"])
    assert "from high to critical" in said[0].args["text"]
    event = (await events(bot, "priority_changed"))[0]
    assert event.actor == "UBOB" and event.data == {"from": "high", "to": "critical"}
    after = await incident(bot)
    assert after.priority == "critical"
    # Not acknowledged yet: the new level's target, counted from when it opened.
    assert (await pending_target(bot)).due_at == opened.opened_at + timedelta(minutes=15)  # type: ignore[union-attr]
    # The run message shows the new level.
    updated = await slack.wait_for(
        "chat.update", lambda c: "Priority: *critical*" in context_text(c.args)
    )
    assert updated[-1].args["ts"] == run_message(slack).ts

    # Unknown level: refused, the levels listed, nothing changed.
    before = await snapshot(bot)
    refused = await bot.command("/incident", "priority INC-1 urgent")
    assert "`urgent` is not a priority level" in refused.text
    for name in ("critical", "high", "medium", "low"):
        assert f"`{name}`" in refused.text
    same = await bot.command("/incident", "priority critical")
    assert "already critical" in same.text
    assert "Usage" in (await bot.command("/incident", "priority")).text
    await bot.settle()
    assert await snapshot(bot) == before
    assert len(await events(bot, "priority_changed")) == 1


async def test_a_levels_update_interval_and_a_change_rearm_the_reminders(
    make_bot: BotFactory, slack: SlackStandIn
) -> None:
    bot = await make_bot(priority_levels="critical=1h/1.5s,low=1d", default_priority="low")
    await bot.command("/incident", "declare Disk filling")
    await slack.wait_for("chat.postMessage", lambda c: "declared" in c.args["text"])
    await asyncio.sleep(2.0)  # low uses STATUS_UPDATE_INTERVAL (1800 s): no reminder yet
    assert not [c for c in slack.calls_to("chat.postMessage") if "status update" in c.args["text"]]
    # Re-armed from the last status update (none: the opening), with 1.5 s: due already.
    await bot.command("/incident", "priority critical")
    reminders = await slack.wait_for(
        "chat.postMessage", lambda c: "time for a status update" in c.args["text"], count=2
    )
    assert all(c.args["text"].endswith("· priority critical") for c in reminders), [
        c.args["text"] for c in reminders
    ]
    assert all("INC-1: time for a status update" in c.args["text"] for c in reminders)
    # The level's interval from then on, on the database's clock: each reminder
    # was due one interval after the previous one fired (posts keep Slack's pace).
    sent = await events(bot, "reminder_sent")
    assert sent[1].data["due_at"] == (sent[0].at + timedelta(seconds=1.5)).isoformat()
    await bot.command("/incident", "resolve")
    summary = await slack.wait_for("chat.postMessage", lambda c: "resolved" in c.args["text"])
    assert "INC-1 resolved after" in summary[0].args["text"]
    assert "(critical)" in summary[0].args["text"]


async def test_acknowledge_once(bot: BotServer, slack: SlackStandIn) -> None:
    await bot.command("/incident", "declare critical Checkout errors")
    await slack.wait_for("chat.postMessage", lambda c: "declared" in c.args["text"])
    acked = await bot.command("/incident", "ack", user_id="UANA")
    assert (
        "You acknowledged INC-1" in acked.text and "within its 15 min response target" in acked.text
    )
    found = await incident(bot)
    assert found.acknowledged_by == "UANA" and found.acknowledged_at is not None
    assert await pending_target(bot) is None  # nothing left to escalate

    before = await snapshot(bot)
    late = await bot.command("/incident", "ack INC-1", user_id="UBOB")
    assert "already acknowledged by <@UANA>" in late.text and "Nothing changed" in late.text
    assert await snapshot(bot) == before
    recorded = await events(bot, "incident_acknowledged")
    assert [(e.actor, e.data["via"]) for e in recorded] == [("UANA", "command")]
    # A step decision later acknowledges nothing more.
    await bot.command("/runbook", "start RB-04 INC-1")
    step1 = (await slack.wait_for("chat.postMessage", is_step))[0]
    await bot.click(step1, "step_approve", user_id="UCAROL")
    await slack.wait_for("chat.postMessage", is_step, count=2)
    assert len(await events(bot, "incident_acknowledged")) == 1
    assert "Usage" in (await bot.command("/incident", "ack INC-1 now")).text


async def test_roles(bot: BotServer, slack: SlackStandIn) -> None:
    await bot.command("/runbook", "start RB-04", user_id="UANA")
    await slack.wait_for("chat.postMessage", is_step)
    await bot.settle()
    # Slack escapes a mention in a slash command as <@U…|name>.
    reply = await bot.command("/incident", "role commander <@UCMD1|carol>", user_id="UANA")
    assert reply.status == 200 and reply.text == ""
    told = await slack.wait_for(
        "chat.postMessage", lambda c: "is now the commander" in c.args["text"]
    )
    assert "<@UCMD1>" in told[0].args["text"]
    assert (await incident(bot)).roles == {"commander": "UCMD1"}
    assigned = (await events(bot, "role_assigned"))[0]
    assert assigned.actor == "UANA"
    assert assigned.data == {"role": "commander", "user": "UCMD1", "previous": None}
    # Assigning a commander acknowledges the incident (once).
    acked = await events(bot, "incident_acknowledged")
    assert [(e.actor, e.data["via"], e.data["commander"]) for e in acked] == [
        ("UANA", "commander_assigned", "UCMD1")
    ]
    await bot.command("/incident", "role INC-1 comms <@UCOMMS1>", user_id="UANA")
    # Reassigning replaces the holder.
    # A bare user ID works too.
    assert (await bot.command("/incident", "role commander U0CMD2", user_id="UBOB")).text == ""
    await bot.settle()
    assert (await incident(bot)).roles == {"commander": "U0CMD2", "comms": "UCOMMS1"}
    last = (await events(bot, "role_assigned"))[-1]
    assert last.data == {"role": "commander", "user": "U0CMD2", "previous": "UCMD1"}
    assert len(await events(bot, "incident_acknowledged")) == 1
    # The run message shows them.
    shown = context_text(slack.message("C_INC", run_message(slack).ts))
    assert "Commander <@U0CMD2>" in shown and "Comms <@UCOMMS1>" in shown

    before = await snapshot(bot)
    for bad in ("role commander bob", "role commander", "role two words <@U1>", "role 9x <@UX1>"):
        refused = await bot.command("/incident", bad)
        assert "Usage" in refused.text or "not a" in refused.text, (bad, refused.text)
    same = await bot.command("/incident", "role commander <@U0CMD2>")
    assert "already the commander" in same.text
    assert await snapshot(bot) == before

    # The resolve summary lists them, with the time to acknowledge.
    await bot.command("/incident", "resolve", user_id="U0CMD2")
    summary = (await slack.wait_for("chat.postMessage", lambda c: "resolved" in c.args["text"]))[0]
    rendered = text_of(summary)
    assert "Roles: Commander <@U0CMD2> · Comms <@UCOMMS1>" in rendered
    assert "Acknowledged by <@UANA> after" in rendered and "within the 15 min target" in rendered
    resolved = (await events(bot, "incident_resolved"))[0]
    assert resolved.data["target_met"] is True and resolved.data["acknowledged_by"] == "UANA"
    assert resolved.data["roles"] == {"commander": "U0CMD2", "comms": "UCOMMS1"}


async def test_timeline_shows_the_priority(bot: BotServer, slack: SlackStandIn) -> None:
    await bot.command("/incident", "declare high API slow")
    await slack.wait_for("chat.postMessage", lambda c: "declared" in c.args["text"])
    await bot.command("/incident", "ack")
    shown = await bot.command("/incident", "timeline")
    assert shown.status == 200
    text = str(shown.body)
    assert "Timeline of INC-1 (high)" in text and "Acknowledged by <@U1>" in text
