"""Concurrency and Slack outages.

- 50 people clicking one step at once → one decision, one next step.
- ``/incident update`` racing a due reminder → one consistent order: the
  timeline's ids, its timestamps and the messages in Slack agree.
- Slack answering 429 / 5xx → every message the bot owes arrives once Slack
  answers, in order within a run; no decision is lost (the outbox); a
  click's messages go straight out only when nothing of its run is pending.

The database cut off: ``tests/test_database_outage.py``.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select, update

from bot.store.models import (
    Incident,
    OutboxMessage,
    Run,
    StepDecision,
    TimelineEvent,
    utcnow,
)
from tests.conftest import BotFactory
from tests.rig import SlackStandIn
from tests.rig.botserver import BotServer
from tests.test_e2e_runbook import is_step, kinds, start
from tests.test_metrics import gauge, scrape

# --- concurrency ------------------------------------------------------------------


async def test_fifty_concurrent_clicks_one_decision(bot: BotServer, slack: SlackStandIn) -> None:
    step1 = await start(bot, slack)
    await bot.settle()
    users = [f"U{i:03d}" for i in range(50)]
    actions = ["step_approve" if i % 2 else "step_skip" for i in range(50)]
    results = await asyncio.gather(
        *(bot.decide(step1, a, user_id=u) for u, a in zip(users, actions, strict=True))
    )
    assert all(r.status == 200 for r in results)
    # At Slack's pace for chat.postEphemeral (Tier 4: 100 a minute, a short
    # burst), 49 private answers take about 20 s.
    refusals = await slack.wait_for("chat.postEphemeral", count=49, timeout=60)
    await bot.settle(timeout=10)
    async with bot.ctx.sessions() as session:
        decisions = (await session.execute(select(StepDecision))).scalars().all()
    assert len(decisions) == 1
    winner = decisions[0]
    # Every loser was told who won; nobody was told "unavailable".
    assert len(refusals) == 49
    assert {r.args["user"] for r in refusals} == set(users) - {winner.decided_by}
    assert all(f"<@{winner.decided_by}>" in r.args["text"] for r in refusals)
    steps = [c for c in slack.calls_to("chat.postMessage") if is_step(c)]
    assert len(steps) == 2
    updates = [c for c in slack.calls_to("chat.update") if c.args["ts"] == step1.ts]
    assert len(updates) == 1
    assert (await kinds(bot)).count("step_approved") + (await kinds(bot)).count("step_skipped") == 1


async def test_update_racing_a_due_reminder_keeps_one_order(
    bot: BotServer, slack: SlackStandIn
) -> None:
    interval = bot.settings.status_update_interval
    declared = await bot.command("/incident", "declare racing")
    assert declared.status == 200
    await bot.settle()
    for round_ in range(15):
        async with bot.ctx.sessions() as session, session.begin():
            await session.execute(
                update(Incident).values(next_reminder_at=utcnow() - timedelta(seconds=1))
            )
        reminder = asyncio.create_task(bot.ctx.reminders.send_due())
        if round_ % 3 == 1:
            await asyncio.sleep(0)
        response = await bot.command("/incident", f"update round {round_}")
        assert response.status == 200 and response.text == ""
        await reminder
    await bot.settle(timeout=10)

    async with bot.ctx.sessions() as session:
        events = (
            (await session.execute(select(TimelineEvent).order_by(TimelineEvent.id)))
            .scalars()
            .all()
        )
        incident = (await session.execute(select(Incident))).scalar_one()
    # 1. Ids and timestamps agree: the timeline reads the same either way.
    ats = [e.at for e in events]
    assert ats == sorted(ats), [(e.id, e.kind, e.at.isoformat()) for e in events]
    # 2. Slack got the updates and reminders in timeline order.
    posted = [
        ("status_update" if "Status update for" in c.args["text"] else "reminder_sent")
        for c in slack.calls_to("chat.postMessage")
        if "Status update for" in c.args["text"] or "status update" in c.args["text"].lower()
    ]
    recorded = [e.kind for e in events if e.kind in ("status_update", "reminder_sent")]
    assert posted == recorded
    assert recorded.count("status_update") == 15
    # 3. The reminder clock restarts from whatever happened last.
    assert incident.next_reminder_at == events[-1].at + timedelta(seconds=interval)


# --- Slack unavailable ------------------------------------------------------------


def owed(rows: list[OutboxMessage]) -> list[tuple[str, str]]:
    return [(r.method, r.payload["text"]) for r in rows]


async def outbox_rows(bot: BotServer, key: str) -> list[OutboxMessage]:
    async with bot.ctx.sessions() as session:
        return list(
            (
                await session.execute(
                    select(OutboxMessage)
                    .where(OutboxMessage.ordering_key == key)
                    .order_by(OutboxMessage.id)
                )
            ).scalars()
        )


def delivered(slack: SlackStandIn, wanted: list[tuple[str, str]]) -> list[tuple[str, str]]:
    keys = set(wanted)
    return [
        (c.method, c.args["text"]) for c in slack.calls if (c.method, c.args.get("text")) in keys
    ]


SHORT_RUNBOOK = """---
id: RB-90
title: Five quick steps
---
# Five quick steps

## Steps

1. Look at the dashboard
2. Restart the worker
3. Drain the queue
4. Check the error rate
5. Tell the customer
"""


async def test_rate_limits_and_5xx_lose_nothing_and_keep_order(
    make_bot: BotFactory, slack: SlackStandIn, tmp_path: Path
) -> None:
    (tmp_path / "rb-90.md").write_text(SHORT_RUNBOOK, encoding="utf-8")
    bot = await make_bot(runbooks_dir=tmp_path)
    rb = bot.ctx.library.get("RB-90")
    slack.fail("chat.postMessage", status=429, times=2, retry_after=1)
    step = await start(bot, slack, "RB-90 under rate limits")
    for k in range(1, rb.step_count + 1):
        if k == 1:
            # Bursts: more 503s than the Web API client retries by itself (3),
            # 502s (which it does not retry at all) and a rate limit, so both the
            # client's retries and the outbox's own retries are needed.
            slack.fail("chat.update", status=503, times=5)
            slack.fail("chat.postMessage", status=502, times=2)
            slack.fail("chat.postMessage", status=429, times=1, retry_after=1)
        elif k == 2:
            slack.fail("chat.postMessage", status=429, times=1, retry_after=1)
            slack.fail("chat.update", status=500, times=2)
        elif k == 4:
            slack.fail("chat.postMessage", status=500, times=1)
            slack.fail("chat.update", status=429, times=1, retry_after=1)
        click = await bot.click(step, "step_approve", user_id=f"U{k}")
        assert click.status == 200 and click.elapsed < 3
        if k < rb.step_count:
            steps = await slack.wait_for("chat.postMessage", is_step, count=k + 1, timeout=30)
            step = steps[k]
    await slack.wait_for(
        "chat.postMessage", lambda c: "completed" in c.args["text"], count=2, timeout=30
    )
    await bot.settle(timeout=30)
    assert len(slack.rejected) == 2 + 8 + 3 + 2  # the faults really happened
    rows = await outbox_rows(bot, "run:1")
    assert {r.state for r in rows} == {"sent"}
    assert max(r.attempts for r in rows) >= 1  # some needed the outbox's retry
    # Everything owed arrived exactly once, in the order it was owed.
    assert delivered(slack, owed(rows)) == owed(rows)
    events = await kinds(bot)
    assert events.count("step_approved") == rb.step_count
    assert events[-1] == "runbook_completed"


async def test_a_clicks_messages_are_handed_off_only_behind_nothing_pending(
    make_bot: BotFactory, slack: SlackStandIn, tmp_path: Path
) -> None:
    """The worker that decided a click delivers the messages it owes right
    after the commit, without a claim — unless an earlier message of the same
    run is still pending (here: in backoff after 503s), which must go first."""
    (tmp_path / "rb-90.md").write_text(SHORT_RUNBOOK, encoding="utf-8")
    bot = await make_bot(runbooks_dir=tmp_path)
    outbox = bot.ctx.outbox
    step = await start(bot, slack, "RB-90 hand-off")
    await bot.settle()
    # The start's run message (inserted at once: step 1 threads under it) and
    # step 1 went straight out too; the run message's ts was recorded.
    assert outbox.handed_off == 2
    async with bot.ctx.sessions() as session:
        run = (await session.execute(select(Run))).scalar_one()
        incident = (await session.execute(select(Incident))).scalar_one()
    assert run.message_ts and incident.thread_ts == run.message_ts
    assert step.args["thread_ts"] == run.message_ts
    before = outbox.handed_off
    await bot.click(step, "step_approve", user_id="U1")
    steps = await slack.wait_for("chat.postMessage", is_step, count=2)
    await bot.settle()
    # Step update, run message update, next step: all three handed off.
    assert outbox.handed_off - before == 3
    metrics = await scrape(bot)
    assert gauge(metrics, "runbook_bot_outbox_handed_off_total") == outbox.handed_off

    # Step 2's update fails again and again: it waits in backoff, and holds up
    # nothing — step 3 is posted (and can be decided) meanwhile.
    slack.fail("chat.update", status=503, times=6)
    await bot.click(steps[1], "step_approve", user_id="U2")
    # Six 503s keep the update in backoff for ~15 s: step 3 does not wait for it.
    steps = await slack.wait_for("chat.postMessage", is_step, count=3, timeout=5)
    assert not [c for c in slack.calls_to("chat.update") if c.args.get("ts") == steps[1].ts]
    await bot.click(steps[2], "step_approve", user_id="U3")
    await slack.wait_for("chat.postMessage", is_step, count=4, timeout=15)
    await bot.settle(timeout=30)  # the update's backoff: 0.5 + 1 + 2 + 4 + 8 + 10 s
    for key in ("run:1", "run:1/update"):
        rows = await outbox_rows(bot, key)
        assert {r.state for r in rows} <= {"sent", "superseded"}
        sent = [r for r in rows if r.state == "sent"]
        assert delivered(slack, owed(sent)) == owed(sent)  # once each, in order
    step2 = slack.message(steps[1].args["channel"], steps[1].ts)
    assert "Approved" in str(step2.get("blocks")) or "approved" in step2.get("text", "")


async def test_slack_down_for_a_while_then_everything_arrives(
    bot: BotServer, slack: SlackStandIn
) -> None:
    step1 = await start(bot, slack)
    await bot.settle()
    for method in ("chat.postMessage", "chat.update"):
        slack.fail(method, status=503, times=10_000)
    # People keep working while Slack is down: every ack is immediate.
    acks = [await bot.click(step1, "step_approve", user_id="UALICE")]
    for n in range(3):
        acks.append(await bot.command("/incident", f"update INC-1 still down {n}"))
    acks.append(await bot.command("/runbook", "start RB-03 INC-1 second runbook"))
    assert all(a.status == 200 and a.elapsed < 3 for a in acks)
    assert all("unavailable" not in a.text for a in acks)
    await asyncio.sleep(2.5)
    assert len(slack.calls_to("chat.postMessage")) == 2  # nothing got through
    assert await bot.ctx.outbox.pending_count() >= 7
    slack.reset_faults()
    await bot.settle(timeout=30)
    for key in ("run:1", "run:2", "incident:1"):
        rows = await outbox_rows(bot, key)
        assert rows and {r.state for r in rows} == {"sent"}, key
        assert delivered(slack, owed(rows)) == owed(rows), key
    steps = [c for c in slack.calls_to("chat.postMessage") if is_step(c)]
    assert len(steps) == 3  # RB-04 step 1, step 2; RB-03 step 1
    updated = slack.message(step1.args["channel"], step1.ts)
    assert "Approved" in str(updated["blocks"]) and "<@UALICE>" in str(updated["blocks"])
    events = await kinds(bot)
    assert events.count("status_update") == 3 and events.count("step_approved") == 1
