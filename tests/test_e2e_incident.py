"""End to end: ``/incident declare | update | note | resolve | timeline`` (SPEC §5)
through the HTTP door, real PostgreSQL, the Slack stand-in on loopback."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import func, select

from bot.slack.mrkdwn import escape
from bot.store.models import Incident, IntakeItem, OutboxMessage, TimelineEvent
from tests.rig import Call, SlackStandIn
from tests.rig.botserver import BotServer


def is_step(call: Call) -> bool:
    return any(
        b.get("type") == "actions" and str(b.get("block_id", "")).startswith("step:")
        for b in call.args.get("blocks", [])
    )


def text_of(call: Call) -> str:
    return f"{call.args.get('text', '')} {call.args.get('blocks', '')}"


async def events(bot: BotServer, incident_id: int | None = None) -> list[TimelineEvent]:
    query = select(TimelineEvent).order_by(TimelineEvent.id)
    if incident_id is not None:
        query = query.where(TimelineEvent.incident_id == incident_id)
    async with bot.ctx.sessions() as session:
        return list((await session.execute(query)).scalars())


async def kinds(bot: BotServer, incident_id: int = 1) -> list[str]:
    return [e.kind for e in await events(bot, incident_id)]


async def snapshot(bot: BotServer) -> tuple[Any, ...]:
    """Everything a command could change, to prove a bad one changed nothing."""
    async with bot.ctx.sessions() as session:
        incidents = (await session.execute(select(Incident).order_by(Incident.id))).scalars()
        state = tuple((i.id, i.state, i.next_reminder_at, i.last_update_at) for i in incidents)
        n_events = (await session.execute(select(func.count(TimelineEvent.id)))).scalar()
        n_outbox = (await session.execute(select(func.count(OutboxMessage.id)))).scalar()
        n_intake = (await session.execute(select(func.count(IntakeItem.id)))).scalar()
    return state, n_events, n_outbox, n_intake


async def declare(bot: BotServer, slack: SlackStandIn, title: str, **kw: Any) -> Call:
    response = await bot.command("/incident", f"declare {title}", **kw)
    assert response.status == 200 and response.text == ""
    shown = escape(title)
    posted = await slack.wait_for("chat.postMessage", lambda c: shown in c.args["text"])
    return posted[0]


async def test_declare_update_note_resolve(bot: BotServer, slack: SlackStandIn) -> None:
    opened = await declare(bot, slack, "Checkout <errors> & timeouts", user_id="UALICE")
    assert "INC-1" in opened.args["text"] and opened.args["channel"] == "C_INC"
    assert "&lt;errors&gt; &amp; timeouts" in opened.args["text"]  # escaped for mrkdwn
    await bot.settle()

    # INC-<n> may be left out: exactly one incident is open here.
    update = await bot.command("/incident", "update Rolled back <@U999> deploy", user_id="UBOB")
    assert update.status == 200 and update.text == ""
    posted = await slack.wait_for("chat.postMessage", lambda c: "Status update" in c.args["text"])
    msg = posted[0]
    assert "INC-1" in msg.args["text"] and msg.args["channel"] == "C_INC"
    assert "&lt;@U999&gt;" in msg.args["text"]  # user text cannot mention anyone
    # Own message in the incident's thread, broadcast to the channel.
    assert msg.args["thread_ts"] == opened.ts and msg.args["reply_broadcast"] is True

    note = await bot.command("/incident", "note INC-1 Vendor ticket #4411 opened", user_id="UBOB")
    assert "Note added" in note.text and "INC-1" in note.text

    resolve = await bot.command("/incident", "resolve", user_id="UCAROL")
    assert resolve.status == 200 and resolve.text == ""
    summary = (await slack.wait_for("chat.postMessage", lambda c: "resolved" in c.args["text"]))[0]
    rendered = text_of(summary)
    assert "INC-1 resolved" in summary.args["text"] and "<@UCAROL>" in rendered
    assert "Time to first step decision: no step decided" in rendered
    assert "0 approved, 0 skipped" in rendered
    assert "Status updates posted: 1" in rendered
    assert "Reminder windows without an update: 0" in rendered
    assert "after " in rendered  # the duration

    timeline = await events(bot)
    assert [e.kind for e in timeline] == [
        "incident_opened",
        "status_update",
        "note",
        "incident_resolved",
    ]
    by_kind = {e.kind: e for e in timeline}
    assert by_kind["incident_opened"].actor == "UALICE"
    assert by_kind["status_update"].actor == "UBOB"
    assert by_kind["status_update"].text == "Rolled back <@U999> deploy"  # stored as typed
    assert by_kind["note"].text == "Vendor ticket #4411 opened"
    assert by_kind["incident_resolved"].actor == "UCAROL"
    assert all(e.at.tzinfo is not None for e in timeline)
    async with bot.ctx.sessions() as session:
        incident = await session.get(Incident, 1)
        assert incident is not None
        assert incident.state == "resolved" and incident.next_reminder_at is None
        assert incident.resolved_by == "UCAROL"

    # Resolved: nothing more can be recorded against it.
    before = await snapshot(bot)
    again = await bot.command("/incident", "update INC-1 still here?")
    assert "already resolved" in again.text
    none_open = await bot.command("/incident", "note forgot one")
    assert "No incident is open" in none_open.text
    assert await snapshot(bot) == before


async def test_update_threads_under_run_message(bot: BotServer, slack: SlackStandIn) -> None:
    started = await bot.command("/runbook", "start RB-04 leaked link")
    assert started.status == 200
    run_msg, step1 = await slack.wait_for("chat.postMessage", count=2)
    assert "RB-04" in run_msg.args["text"]
    await bot.click(step1, "step_approve", user_id="UBOB")
    step2 = (await slack.wait_for("chat.postMessage", is_step, count=2))[1]
    await bot.skip(step2, user_id="UBOB")
    await slack.wait_for("chat.postMessage", is_step, count=3)

    await bot.command("/incident", "update INC-1 link revoked, rotating keys", user_id="UALICE")
    msg = (await slack.wait_for("chat.postMessage", lambda c: "Status update" in c.args["text"]))[0]
    assert msg.args["thread_ts"] == run_msg.ts and msg.args["reply_broadcast"] is True
    assert "link revoked" in msg.args["text"]

    await bot.command("/incident", "resolve INC-1", user_id="UALICE")
    summary = (await slack.wait_for("chat.postMessage", lambda c: "resolved" in c.args["text"]))[0]
    rendered = text_of(summary)
    assert "1 approved, 1 skipped" in rendered
    assert "Status updates posted: 1" in rendered
    assert "Time to first step decision: no step" not in rendered
    assert "Time to first step decision:" in rendered
    assert await kinds(bot) == [
        "incident_opened",
        "runbook_started",
        "step_approved",
        "incident_acknowledged",  # the first decision acknowledges (SPEC §7)
        "step_skipped",
        "status_update",
        "runbook_aborted",  # a resolved incident's runs end with it
        "incident_resolved",
    ]
    resolved = (await events(bot))[-1]
    assert resolved.data["approved"] == 1 and resolved.data["skipped"] == 1
    assert resolved.data["updates"] == 1


async def test_update_right_after_start_still_threads(bot: BotServer, slack: SlackStandIn) -> None:
    """The run message may not be delivered yet when the update is recorded."""
    slack.set_delay("chat.postMessage", 0.3)
    await bot.command("/runbook", "start RB-04 leaked link")
    await bot.command("/incident", "update first look: one customer affected")
    msg = (
        await slack.wait_for(
            "chat.postMessage", lambda c: "Status update" in c.args["text"], timeout=10
        )
    )[0]
    run_msg = slack.calls_to("chat.postMessage")[0]
    assert "RB-04" in run_msg.args["text"]
    assert msg.args.get("thread_ts") == run_msg.ts and msg.args["reply_broadcast"] is True


async def test_several_open_incidents_need_an_id(bot: BotServer, slack: SlackStandIn) -> None:
    await declare(bot, slack, "Payments down")
    await declare(bot, slack, "Search slow")
    await bot.settle()
    before = await snapshot(bot)
    for verb in ("update something", "note something", "resolve", "timeline"):
        response = await bot.command("/incident", verb)
        assert response.status == 200
        assert "Several incidents are open" in response.text, verb
        assert "INC-1" in response.text and "INC-2" in response.text
        assert "Payments down" in response.text and "Search slow" in response.text
    assert await snapshot(bot) == before

    # Naming one works; and an incident elsewhere doesn't count as "here".
    await bot.command("/incident", "update INC-2 index rebuilt")
    await slack.wait_for("chat.postMessage", lambda c: "Status update for INC-2" in c.args["text"])
    await bot.command("/incident", "resolve INC-1")
    await slack.wait_for("chat.postMessage", lambda c: "INC-1 resolved" in c.args["text"])
    await bot.command("/incident", "resolve")  # now only INC-2 is open
    await slack.wait_for("chat.postMessage", lambda c: "INC-2 resolved" in c.args["text"])
    assert (await kinds(bot, 2))[-1] == "incident_resolved"


async def test_bad_input_changes_nothing(bot: BotServer, slack: SlackStandIn) -> None:
    await declare(bot, slack, "Disk full on db-2")
    await bot.settle()
    slack.clear()
    before = await snapshot(bot)
    cases = {
        "update": "Nothing to record",
        "update INC-1": "Nothing to record",
        "note   ": "Nothing to record",
        "update INC-99 hello": "There is no INC-99",
        "resolve INC-99": "There is no INC-99",
        "timeline INC-99": "There is no INC-99",
        "frobnicate": "Unknown subcommand",
        "declare": "Give the incident a title",
        "update " + "x" * 40_001: "the limit is",
    }
    for text, expected in cases.items():
        response = await bot.command("/incident", text)
        assert response.status == 200
        assert expected in response.text, (text[:30], response.text)
    outside = await bot.command(
        "/incident", "declare not here", channel_id="C_GEN", channel_name="general"
    )
    assert "incident channel" in outside.text
    await asyncio.sleep(0.3)  # give a wrongly enqueued message time to show up
    assert [c for c in slack.calls if c.method == "chat.postMessage"] == []
    assert await snapshot(bot) == before


async def test_help(bot: BotServer) -> None:
    for text in ("", "help"):
        response = await bot.command("/incident", text)
        assert "/incident update" in response.text and "/incident resolve" in response.text


async def test_replayed_command_is_recorded_once(bot: BotServer, slack: SlackStandIn) -> None:
    await declare(bot, slack, "Replays")
    body = bot.signer.slash_command("/incident", "update same words", trigger_id="13345.1.abc")
    first = await bot.send(body, "/incident")
    second = await bot.send(body, "/incident")  # Slack retried the same request
    assert first.status == second.status == 200
    await bot.settle()
    assert (await kinds(bot)).count("status_update") == 1
    assert (
        len([c for c in slack.calls_to("chat.postMessage") if "Status update" in c.args["text"]])
        == 1
    )


async def test_concurrent_resolves_resolve_once(bot: BotServer, slack: SlackStandIn) -> None:
    await declare(bot, slack, "Race")
    users = [f"U{i:03d}" for i in range(8)]
    results = await asyncio.gather(
        *(bot.command("/incident", "resolve INC-1", user_id=u) for u in users)
    )
    assert all(r.status == 200 for r in results)
    assert sum("already resolved" in r.text for r in results) == len(users) - 1
    await bot.settle()
    assert (await kinds(bot)).count("incident_resolved") == 1
    summaries = [c for c in slack.calls_to("chat.postMessage") if "resolved" in c.args["text"]]
    assert len(summaries) == 1
