"""Status-update reminders end to end, with a 1.5 s interval: on time, restarted
by an update, snoozed, stopped by resolve, resumed after a restart, posted once
by two bot processes sharing one PostgreSQL database.

Lateness (the due time recorded in ``reminder_sent`` vs the stand-in's arrival
time of the ``chat.postMessage``) is printed: run with ``-s`` to see it.
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot.incidents.blocks import REMINDER_SNOOZE, REMINDER_UPDATE, UPDATE_MODAL
from bot.store.models import Incident, TimelineEvent
from tests.rig import Call, SlackStandIn
from tests.rig.botserver import BotServer

INTERVAL = 1.5
# Timing slack for a loaded 2-core machine (typical lateness is tens of ms);
# still under INTERVAL, so a missed or doubled window fails.
ON_TIME = 1.0

BotFactory = Callable[..., Awaitable[BotServer]]
LATENESS: list[float] = []


def reminder_of(call: Call) -> int | None:
    """The incident a reminder message is for, or None if the call is something else."""
    if call.method != "chat.postMessage":
        return None
    for block in call.args.get("blocks", []):
        block_id = str(block.get("block_id", ""))
        if block.get("type") == "actions" and block_id.startswith("reminder:"):
            return int(block_id.partition(":")[2])
    return None


def reminders(slack: SlackStandIn, incident_id: int = 1) -> list[Call]:
    return [c for c in slack.calls_to("chat.postMessage") if reminder_of(c) == incident_id]


async def wait_reminders(
    slack: SlackStandIn, count: int, incident_id: int = 1, timeout: float = 8.0
) -> list[Call]:
    return await slack.wait_for(
        "chat.postMessage", lambda c: reminder_of(c) == incident_id, count=count, timeout=timeout
    )


async def events(bot: BotServer, incident_id: int = 1, kind: str | None = None) -> list:
    query = (
        select(TimelineEvent)
        .where(TimelineEvent.incident_id == incident_id)
        .order_by(TimelineEvent.id)
    )
    if kind is not None:
        query = query.where(TimelineEvent.kind == kind)
    async with bot.ctx.sessions() as session:
        return list((await session.execute(query)).scalars())


async def incident(bot: BotServer, incident_id: int = 1) -> Incident:
    async with bot.ctx.sessions() as session:
        found = await session.get(Incident, incident_id)
        assert found is not None
        return found


async def declare(bot: BotServer, slack: SlackStandIn, title: str = "API errors") -> float:
    """Declare an incident; return the wall time it was declared."""
    at = time.time()
    response = await bot.command("/incident", f"declare {title}")
    assert response.status == 200 and response.text == ""
    await slack.wait_for("chat.postMessage", lambda c: title in c.args["text"])
    return at


async def lateness(bot: BotServer, slack: SlackStandIn, incident_id: int = 1) -> list[float]:
    """Seconds from each reminder's due time to its firing, on the database's
    clock (the post then keeps Slack's pace: one a second per channel, reminders
    after everything else). Each recorded reminder was posted once."""
    sent = await events(bot, incident_id, "reminder_sent")
    posted = reminders(slack, incident_id)
    assert len(sent) == len(posted), (len(sent), len(posted))
    out = [float(event.data["late_seconds"]) for event in sent]
    LATENESS.extend(out)
    return out


def report(label: str, values: list[float]) -> None:
    ms = sorted(v * 1000 for v in values)
    print(
        f"\nreminder lateness [{label}]: n={len(ms)} p50={statistics.median(ms):.1f} ms "
        f"max={ms[-1]:.1f} ms (interval {INTERVAL}s)"
    )


async def test_reminders_arrive_on_time(make_bot: BotFactory, slack: SlackStandIn) -> None:
    bot = await make_bot(status_update_interval=INTERVAL)
    opened = await declare(bot, slack, "Checkout errors")
    posted = await wait_reminders(slack, 3)
    first = posted[0]
    assert "INC-1" in first.args["text"] and "status update" in first.args["text"]
    assert first.args["channel"] == "C_INC"
    assert first.wall - opened >= INTERVAL - 0.05  # not early
    labels = str(first.args["blocks"])
    assert "Post update" in labels and "Snooze 15 min" in labels and "Snooze 60 min" in labels
    gaps = [b.wall - a.wall for a, b in itertools.pairwise(posted)]
    assert all(g <= INTERVAL + ON_TIME for g in gaps), gaps
    await bot.settle()
    late = await lateness(bot, slack)
    assert all(-0.01 <= x < ON_TIME for x in late), late
    sent = await events(bot, kind="reminder_sent")
    # Not early: each fired a whole interval after the one before (database
    # times; the posts' gaps also carry delivery jitter).
    fired = [(y.at - x.at).total_seconds() for x, y in itertools.pairwise(sent)]
    assert all(g >= INTERVAL - 0.01 for g in fired), fired
    assert all(e.actor is None and "since the last update" in e.text for e in sent)
    report("single bot", late)


async def test_update_restarts_the_clock(make_bot: BotFactory, slack: SlackStandIn) -> None:
    bot = await make_bot(status_update_interval=INTERVAL)
    await declare(bot, slack)
    # The first reminder fired (the database's time: its post keeps Slack's pace).
    for _ in range(500):
        if await events(bot, kind="reminder_sent"):
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(INTERVAL / 2)  # halfway to the next one
    await bot.command("/incident", "update mitigated, watching error rate")
    second = (await wait_reminders(slack, 2))[1]
    # Due one interval after the update, not after the first reminder.
    sent = await events(bot, kind="reminder_sent")
    update = (await events(bot, kind="status_update"))[0]
    assert datetime.fromisoformat(sent[1].data["due_at"]) == update.at + timedelta(seconds=INTERVAL)
    assert (sent[1].at - sent[0].at).total_seconds() >= 1.4 * INTERVAL
    assert "since the last status update" in second.args["text"]
    await bot.settle()
    update = (await events(bot, kind="status_update"))[0]
    due = datetime.fromisoformat((await events(bot, kind="reminder_sent"))[1].data["due_at"])
    assert abs((due - update.at).total_seconds() - INTERVAL) < 0.01
    await lateness(bot, slack)


async def test_snooze_delays_and_is_recorded(make_bot: BotFactory, slack: SlackStandIn) -> None:
    bot = await make_bot(status_update_interval=INTERVAL)
    await declare(bot, slack)
    reminder = (await wait_reminders(slack, 1))[0]
    await bot.settle()
    message = slack.message(reminder.args["channel"], reminder.ts)
    select_ = next(
        e
        for b in message["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == REMINDER_SNOOZE
    )
    assert [o["text"]["text"] for o in select_["options"]] == [
        "Snooze 15 min",
        "Snooze 30 min",
        "Snooze 60 min",
    ]
    body = bot.signer.block_action(
        REMINDER_SNOOZE,
        message_ts=reminder.ts,
        message=message,
        user_id="UBOB",
        selected_option_value=select_["options"][0]["value"],
        selected_option_text="Snooze 15 min",
    )
    clicked = time.time()
    response = await bot.send(body, "click")
    assert response.status == 200
    note = await slack.wait_for("chat.postMessage", lambda c: "snoozed" in c.args["text"])
    assert "INC-1" in note[0].args["text"] and "<@UBOB>" in str(note[0].args["blocks"])
    snoozed = await events(bot, kind="reminder_snoozed")
    assert len(snoozed) == 1 and snoozed[0].actor == "UBOB" and snoozed[0].data["minutes"] == 15
    due = (await incident(bot)).next_reminder_at
    assert due is not None
    assert abs(due.timestamp() - (clicked + 15 * 60)) < 2
    await asyncio.sleep(2.5 * INTERVAL)  # absence of a reminder needs waiting
    assert len(reminders(slack)) == 1
    assert len(await events(bot, kind="reminder_sent")) == 1

    # A bogus choice (not 15/30/60) changes nothing.
    bad = bot.signer.block_action(
        REMINDER_SNOOZE, message_ts=reminder.ts, message=message, selected_option_value="1:5"
    )
    assert (await bot.send(bad, "click")).status == 200
    await slack.wait_for("chat.postEphemeral", lambda c: "15, 30 or 60" in c.args["text"])
    assert len(await events(bot, kind="reminder_snoozed")) == 1
    assert (await incident(bot)).next_reminder_at == due


async def test_post_update_button_opens_modal_and_records_update(
    make_bot: BotFactory, slack: SlackStandIn
) -> None:
    bot = await make_bot(status_update_interval=INTERVAL)
    await declare(bot, slack)
    reminder = (await wait_reminders(slack, 1))[0]
    await bot.settle()
    response = await bot.click(reminder, REMINDER_UPDATE, user_id="UCAROL")
    assert response.status == 200
    opened = (await slack.wait_for("views.open"))[0]
    view = opened.args["view"]
    assert view["callback_id"] == UPDATE_MODAL and view["type"] == "modal"
    assert "INC-1" in view["title"]["text"]
    stored = slack.views[opened.response["view"]["id"]]
    input_block = next(b for b in stored["blocks"] if b["type"] == "input")

    # Empty submission: the modal shows an error, nothing is recorded.
    empty = bot.signer.view_submission(
        UPDATE_MODAL,
        {input_block["block_id"]: {input_block["element"]["action_id"]: "  "}},
        private_metadata=stored["private_metadata"],
        user_id="UCAROL",
    )
    rejected = await bot.send(empty, "view")
    assert rejected.status == 200 and rejected.body["response_action"] == "errors"
    assert await events(bot, kind="status_update") == []

    submitted = time.time()
    body = bot.signer.view_submission(
        UPDATE_MODAL,
        {input_block["block_id"]: {input_block["element"]["action_id"]: "DB failover done"}},
        private_metadata=stored["private_metadata"],
        user_id="UCAROL",
    )
    done = await bot.send(body, "view")
    assert done.status == 200 and not done.body  # the modal closes
    posted = await slack.wait_for("chat.postMessage", lambda c: "Status update" in c.args["text"])
    msg = posted[0]
    assert "INC-1" in msg.args["text"] and "DB failover done" in msg.args["text"]
    assert msg.args["channel"] == "C_INC" and msg.args["reply_broadcast"] is True

    # Exactly like /incident update: same kind, actor, text, message; clock restarted.
    await bot.command("/incident", "update DB failover done", user_id="UCAROL")
    both = await slack.wait_for(
        "chat.postMessage", lambda c: "Status update" in c.args["text"], count=2
    )
    assert both[0].args["text"] == both[1].args["text"]
    updates = await events(bot, kind="status_update")
    assert [(e.actor, e.text) for e in updates] == [("UCAROL", "DB failover done")] * 2
    assert [e.data.get("via") for e in updates] == ["modal", "command"]
    assert updates[0].at.timestamp() >= submitted
    due = (await incident(bot)).next_reminder_at
    assert due == updates[1].at + timedelta(seconds=INTERVAL)


async def test_resolve_stops_reminders(make_bot: BotFactory, slack: SlackStandIn) -> None:
    bot = await make_bot(status_update_interval=INTERVAL)
    await declare(bot, slack)
    await wait_reminders(slack, 1)
    await bot.command("/incident", "resolve")
    summary = await slack.wait_for("chat.postMessage", lambda c: "resolved" in c.args["text"])
    assert "Reminder windows without an update: 1" in str(summary[0].args["blocks"])
    await asyncio.sleep(2.5 * INTERVAL)  # absence of a reminder needs waiting
    assert len(reminders(slack)) == 1
    assert len(await events(bot, kind="reminder_sent")) == 1
    assert (await incident(bot)).next_reminder_at is None
    # A Post update click on the old reminder: not open any more, no modal.
    await bot.click(reminders(slack)[0], REMINDER_UPDATE)
    await slack.wait_for("chat.postEphemeral", lambda c: "not open" in c.args["text"])
    assert slack.calls_to("views.open") == []


async def test_restarted_bot_resumes(make_bot: BotFactory, slack: SlackStandIn) -> None:
    first = await make_bot(status_update_interval=INTERVAL)
    await declare(first, slack)
    await wait_reminders(slack, 1)
    await first.settle()
    await first.close()
    stopped = time.time()
    second = await make_bot(status_update_interval=INTERVAL)
    posted = await wait_reminders(slack, 3)
    assert all(c.wall > stopped for c in posted[1:])
    await second.settle()
    late = await lateness(second, slack)
    assert all(x < ON_TIME for x in late), late
    report("after restart", late)


async def test_bot_down_past_due_posts_one_catch_up(
    make_bot: BotFactory, slack: SlackStandIn
) -> None:
    first = await make_bot(status_update_interval=INTERVAL)
    await declare(first, slack)
    await first.settle()
    await first.close()
    await asyncio.sleep(3.5 * INTERVAL)  # down through three due times
    assert reminders(slack) == []
    second = await make_bot(status_update_interval=INTERVAL)
    ready = time.time()  # the bot's own start-up (slow on a loaded machine) is not counted
    await wait_reminders(slack, 2)
    await second.settle()
    sent = await events(second, kind="reminder_sent")
    assert len(sent) == 2
    # Then the normal rhythm: the next one falls due an interval after the
    # catch-up fired (the database's times, not the posts', whose delivery
    # jitter is not the scheduler's), and is not posted hard on its heels.
    at = sent[0].at
    fired = (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()
    next_due = datetime.fromisoformat(sent[1].data["due_at"]).timestamp()
    assert next_due - fired >= INTERVAL - 0.01
    # The catch-up fired at start, not an interval later (the rhythm's next due).
    assert fired - ready < INTERVAL
    assert sent[0].data["late_seconds"] > 2 * INTERVAL
    assert sent[1].data["late_seconds"] < ON_TIME
    # One catch-up message, but every window without an update still counts.
    assert sent[0].data["windows"] >= 3 and sent[1].data["windows"] == 1
    await second.command("/incident", "resolve")
    summary = await slack.wait_for("chat.postMessage", lambda c: "resolved" in c.args["text"])
    missed = sum(e.data["windows"] for e in await events(second, kind="reminder_sent"))
    assert f"Reminder windows without an update: {missed} " in str(summary[0].args["blocks"])


async def test_two_instances_post_each_reminder_once(
    make_bot: BotFactory, slack: SlackStandIn
) -> None:
    a = await make_bot(status_update_interval=INTERVAL)
    b = await make_bot(status_update_interval=INTERVAL)
    assert a.ctx.reminders is not b.ctx.reminders
    await declare(a, slack, "Payments down")
    await declare(b, slack, "Search slow")
    await declare(a, slack, "Login loops")
    for incident_id in (1, 2, 3):
        await wait_reminders(slack, 3, incident_id, timeout=10)
    for incident_id in (1, 2, 3):
        await a.command("/incident", f"resolve INC-{incident_id}")
    await a.settle()
    await b.settle()
    late: list[float] = []
    for incident_id in (1, 2, 3):
        posted = reminders(slack, incident_id)
        sent = await events(a, incident_id, "reminder_sent")
        assert len(posted) == len(sent)  # each claimed reminder posted once
        assert len({e.data["due_at"] for e in sent}) == len(sent)  # each due time once
        # Claims (database time of the claim) are a whole interval apart: no doubles.
        gaps = [(y.at - x.at).total_seconds() for x, y in itertools.pairwise(sent)]
        assert all(g >= INTERVAL - 0.01 for g in gaps), (incident_id, gaps)
        late += await lateness(a, slack, incident_id)
    assert all(x < 2 * ON_TIME for x in late), late
    print(f"\ntwo instances: a sent {a.ctx.reminders.sent}, b sent {b.ctx.reminders.sent}")
    report("two instances", late)
