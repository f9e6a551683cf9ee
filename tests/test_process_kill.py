"""The bot process is SIGKILLed mid-run and mid-reminder, then restarted.

``runbook-bot serve`` runs as a real subprocess against the test database and
the Slack stand-in. After each restart: nothing the bot acknowledged is
missing, nothing is posted twice, and buttons on messages posted by the dead
process still work.

A kill kills the bot's process group (serve and its worker at once), as
``kill -9`` of the service does. Here the kills land while Slack is refusing
every write (503), so rows are pending; tests/test_crash_safety.py kills
between Slack's answer and the bot's record of it.
"""

from __future__ import annotations

import asyncio
import signal
import time
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.store.models import Incident, StepDecision, TimelineEvent
from tests import process_support
from tests.process_support import drained, pending, scalar, wait_rejected
from tests.rig import Call, SlackStandIn
from tests.test_e2e_runbook import is_step

db = process_support.db
make_process = process_support.make_process


def steps_posted(slack: SlackStandIn) -> list[Call]:
    return [c for c in slack.calls_to("chat.postMessage") if is_step(c)]


async def test_sigkill_mid_run_loses_nothing_and_posts_nothing_twice(
    make_process: Any, slack: SlackStandIn, db: AsyncEngine
) -> None:
    bot = make_process()
    await bot.start()
    started = await bot.command("/runbook", "start RB-04 killed mid-run", user_id="UALICE")
    assert started.status == 200 and started.text == ""
    posted = await slack.wait_for("chat.postMessage", count=2, timeout=10)
    run_msg, step1 = posted
    await drained(db)

    # 1. Killed while idle; the restarted process serves the old buttons.
    await bot.kill()
    await bot.start()
    assert (await bot.click(step1, "step_approve", "UBOB")).status == 200
    step2 = (await slack.wait_for("chat.postMessage", is_step, count=2))[1]
    await slack.wait_for("chat.update", lambda c: c.args["ts"] == step1.ts)
    await drained(db)

    # 2. Killed with acknowledged work still owed to Slack (Slack refusing writes).
    for method in ("chat.postMessage", "chat.update"):
        slack.fail(method, status=503, times=100_000)
    click = await bot.skip(step2, "UCAROL")
    update = await bot.command("/incident", "update INC-1 mitigation in progress")
    assert click.status == update.status == 200 and update.text == ""
    await wait_rejected(slack, "chat.update")
    owed = await pending(db)
    assert owed >= 4  # step 2 update, run message update, step 3, status update
    await bot.kill()
    accepted_before = len(slack.calls)
    assert await pending(db) == owed  # acknowledged = committed, kill or not
    slack.reset_faults()

    await bot.start()
    await drained(db)
    new = slack.calls[accepted_before:]
    assert len([c for c in new if c.method in ("chat.postMessage", "chat.update")]) == owed
    steps = steps_posted(slack)
    assert len(steps) == 3, slack.summary()
    assert len({c.args["text"] for c in steps}) == 3  # no step posted twice
    assert len([c for c in slack.calls_to("chat.update") if c.args["ts"] == step2.ts]) == 1
    updates = [
        c for c in slack.calls_to("chat.postMessage") if "Status update for" in c.args["text"]
    ]
    assert len(updates) == 1
    assert "Skipped" in str(slack.message("C_INC", step2.ts)["blocks"])

    # 3. Buttons keep working across both restarts: the new step, and the run
    #    message's Abort button posted by the first process.
    assert (await bot.click(steps[2], "step_approve", "UDAVE")).status == 200
    await slack.wait_for("chat.postMessage", is_step, count=4)
    assert (await bot.click(run_msg, "run_abort", "UALICE")).status == 200
    await slack.wait_for("chat.postMessage", lambda c: "aborted" in c.args["text"])
    await drained(db)
    async with db.connect() as conn:
        decisions = (
            await conn.execute(
                select(
                    StepDecision.step_index, StepDecision.decision, StepDecision.decided_by
                ).order_by(StepDecision.step_index)
            )
        ).all()
        kinds = (
            (await conn.execute(select(TimelineEvent.kind).order_by(TimelineEvent.id)))
            .scalars()
            .all()
        )
    assert [tuple(d) for d in decisions] == [
        (0, "approved", "UBOB"),
        (1, "skipped", "UCAROL"),
        (2, "approved", "UDAVE"),
    ]
    assert kinds == [
        "incident_opened",
        "runbook_started",
        "step_approved",
        "incident_acknowledged",  # by the first decision (SPEC §7)
        "step_skipped",
        "status_update",
        "step_approved",
        "runbook_aborted",
    ]
    assert slack.invalid == []


async def test_sigkill_mid_reminder_posts_each_reminder_once(
    make_process: Any, slack: SlackStandIn, db: AsyncEngine
) -> None:
    bot = make_process(STATUS_UPDATE_INTERVAL="1.5")
    await bot.start()
    declared = await bot.command("/incident", "declare reminders survive kills")
    assert declared.status == 200 and declared.text == ""
    await slack.wait_for("chat.postMessage")
    await drained(db)

    def reminders_posted() -> int:
        return len(
            [
                c
                for c in slack.calls_to("chat.postMessage")
                if "time for a status update" in c.args["text"]
            ]
        )

    async def reminders_recorded() -> int:
        return await scalar(
            db, select(func.count(TimelineEvent.id)).where(TimelineEvent.kind == "reminder_sent")
        )

    # A reminder comes due and is recorded while Slack refuses to post it.
    slack.fail("chat.postMessage", status=503, times=100_000)
    deadline = time.monotonic() + 10
    while await reminders_recorded() == 0:
        assert time.monotonic() < deadline, f"no reminder recorded:\n{bot.log()}"
        await asyncio.sleep(0.05)
    await wait_rejected(slack, "chat.postMessage")
    await bot.kill()
    recorded = await reminders_recorded()
    assert recorded >= 1 and reminders_posted() == 0
    assert await pending(db) == recorded
    await asyncio.sleep(2)  # down past the next due time
    slack.reset_faults()

    await bot.start()
    await drained(db)
    # The owed reminder arrives; a catch-up follows the missed due time; the
    # rhythm goes on from the restarted process.
    deadline = time.monotonic() + 10
    while reminders_posted() < recorded + 1:
        assert time.monotonic() < deadline, slack.summary()
        await asyncio.sleep(0.05)
    resolved = await bot.command("/incident", "resolve INC-1")
    assert resolved.status == 200
    await slack.wait_for("chat.postMessage", lambda c: "resolved" in c.args["text"])
    await drained(db)
    await bot.kill(signal.SIGTERM)
    # Exactly one message per recorded reminder: none lost, none doubled.
    assert reminders_posted() == await reminders_recorded()
    incident = await scalar(db, select(Incident.state))
    assert incident == "resolved"
    assert slack.invalid == []
