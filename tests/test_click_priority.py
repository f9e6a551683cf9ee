"""A click's messages go first at Slack's pace, even when they queue behind
a message of lower priority that is waiting for Slack's budget: that one
inherits the click's priority and goes now (signed requests, the stand-in
with Slack's limits, PostgreSQL)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select, text

from bot.slack.pace import Priority
from bot.store.models import OutboxMessage, utcnow
from tests.rig import SlackStandIn
from tests.rig.botserver import BotServer
from tests.test_e2e_runbook import start


async def test_a_click_queued_behind_a_waiting_update_does_not_wait_for_its_slot(
    bot: BotServer, slack: SlackStandIn
) -> None:
    step1 = await start(bot, slack)
    await bot.settle()
    # Slack's update budget is busy: a click may still go, the rest waits ~4 s.
    async with bot.ctx.sessions() as session, session.begin():
        await session.execute(
            text(
                "INSERT INTO slack_pace (bucket, tat) VALUES ('method:chat.update', :tat) "
                "ON CONFLICT (bucket) DO UPDATE SET tat = excluded.tat"
            ),
            {"tat": utcnow() + timedelta(seconds=8)},
        )
    # A priority change re-renders the run message: an update of the lowest priority.
    assert (await bot.command("/incident", "priority INC-1 low")).status == 200

    async def waiting() -> OutboxMessage | None:
        async with bot.ctx.sessions() as session:
            query = select(OutboxMessage).where(
                OutboxMessage.method == "chat.update", OutboxMessage.state == "pending"
            )
            return (await session.execute(query)).scalars().first()

    row = None
    for _ in range(200):
        row = await waiting()
        if row is not None and row.next_attempt_at > utcnow() + timedelta(seconds=2):
            break
        await asyncio.sleep(0.05)
    assert row is not None and row.priority == Priority.OTHER, "the update should be waiting"
    held_until = row.next_attempt_at
    # The click's step update queues behind it (the run's updates, in order).
    assert (await bot.click(step1, "step_approve", user_id="UALICE")).status == 200
    decided = await slack.wait_for("chat.update", lambda c: c.args.get("ts") == step1.ts)
    assert decided[0].wall < held_until.timestamp(), "the click waited for the slot of a lower one"
