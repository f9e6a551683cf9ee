"""The intake: what the bot acknowledged is committed before the ack and acted
on after it — by whichever process runs the worker, in arrival order, even
across a restart, and a broken item never blocks the rest."""

from __future__ import annotations

import asyncio
import re

from sqlalchemy import func, select

from bot.intake.actions import decide_payload
from bot.intake.worker import FAILED_REPLY
from bot.runs.engine import Decision
from bot.store.models import Incident, IntakeItem, StepDecision, TimelineEvent, utcnow
from bot.store.people import SeenNames, clean_name
from tests.rig import SlackStandIn
from tests.rig.botserver import BotServer
from tests.test_e2e_runbook import start


async def count(bot: BotServer, column) -> int:  # type: ignore[no-untyped-def]
    async with bot.ctx.sessions() as session:
        return int((await session.execute(select(func.count(column)))).scalar() or 0)


async def test_acknowledged_start_and_clicks_survive_until_a_worker_acts(
    make_bot, slack: SlackStandIn
) -> None:
    """Serving without a worker: acks are committed intake rows and nothing
    else; a worker started later (a restart) acts on them in arrival order."""
    first = await make_bot()
    step1 = await start(first, slack)
    await first.settle()
    await first.close()

    serving = await make_bot(worker=False)  # acks, acts on nothing
    clicked_at = utcnow()
    for user in ("U_FIRST", "U_SECOND", "U_THIRD"):
        response = await serving.click(step1, "step_approve", user_id=user)
        assert response.status == 200 and response.text == ""
    response = await serving.command("/runbook", "start RB-01 second run")
    assert response.status == 200 and response.text == ""
    assert await count(serving, IntakeItem.id) == 4
    assert await count(serving, StepDecision.id) == 0
    assert await count(serving, Incident.id) == 1
    await asyncio.sleep(0.3)
    assert slack.calls_to("chat.update") == []

    worker_started = utcnow()
    worker = await make_bot()  # e.g. the restarted bot
    await worker.settle(timeout=10)
    async with worker.ctx.sessions() as session:
        decisions = (await session.execute(select(StepDecision))).scalars().all()
        items = (await session.execute(select(func.count(IntakeItem.id)))).scalar()
    assert items == 0
    # The first click wins; it is timed when it was clicked, not when acted on.
    assert [(d.step_index, d.decided_by) for d in decisions] == [(0, "U_FIRST")]
    assert clicked_at <= decisions[0].decided_at < worker_started
    update = (await slack.wait_for("chat.update", lambda c: c.args["ts"] == step1.ts))[0]
    assert "<@U_FIRST>" in str(update.args["blocks"])
    told = await slack.wait_for("chat.postEphemeral", count=2)
    assert {c.args["user"] for c in told} == {"U_SECOND", "U_THIRD"}
    assert all("already approved by <@U_FIRST>" in c.args["text"] for c in told)
    # The start acknowledged while no worker ran opened its incident too.
    await slack.wait_for("chat.postMessage", lambda c: "RB-01" in c.args["text"])
    assert await count(worker, Incident.id) == 2


async def test_command_after_start_sees_the_incident_without_a_worker(
    make_bot, slack: SlackStandIn
) -> None:
    """/incident right after /runbook start: the serving process acts on the
    pending start itself first, so the reply is about the new incident."""
    serving = await make_bot(worker=False)
    await serving.command("/runbook", "start RB-04 drained")
    response = await serving.command("/incident", "update looking into it")
    assert response.status == 200 and response.text == ""
    assert await count(serving, IntakeItem.id) == 0
    async with serving.ctx.sessions() as session:
        kinds = (await session.execute(select(TimelineEvent.kind).order_by(TimelineEvent.id))).all()
    assert [k for (k,) in kinds] == ["incident_opened", "runbook_started", "status_update"]


async def test_command_after_a_click_lands_after_its_decision(
    make_bot, slack: SlackStandIn
) -> None:
    """A click, then /incident update at once: the update is recorded after the
    click's decision, even with no worker to act on the click in between."""
    first = await make_bot()
    step1 = await start(first, slack)
    await first.settle()
    await first.close()
    serving = await make_bot(worker=False)  # acts only on what a command drains
    assert (await serving.skip(step1, user_id="UCAROL")).status == 200
    assert await count(serving, IntakeItem.id) == 1
    response = await serving.command("/incident", "update INC-1 mitigation in progress")
    assert response.status == 200 and response.text == ""
    assert await count(serving, IntakeItem.id) == 0
    async with serving.ctx.sessions() as session:
        kinds = (await session.execute(select(TimelineEvent.kind).order_by(TimelineEvent.id))).all()
    assert [k for (k,) in kinds] == [
        "incident_opened",
        "runbook_started",
        "step_skipped",
        "incident_acknowledged",
        "status_update",
    ]


async def test_a_broken_item_is_kept_failed_and_its_sender_told(
    bot: BotServer, slack: SlackStandIn
) -> None:
    """An item the bot cannot act on (here: a kind no handler knows, as a
    newer version might write) is kept for the operator, the sender is told,
    and later items of the same key still go through."""
    step1 = await start(bot, slack)
    await bot.settle()
    run_key = "run:1"
    async with bot.ctx.sessions() as session, session.begin():
        session.add(
            IntakeItem(
                kind="from_the_future",
                ordering_key=run_key,
                payload={"reply_to": {"channel": "C_INC", "user": "U_ODD", "thread_ts": None}},
                received_at=utcnow(),
                state="pending",
            )
        )
    bot.ctx.intake_worker.notify()
    await bot.click(step1, "step_approve", user_id="U_OK")
    told = await slack.wait_for("chat.postEphemeral", lambda c: c.args["user"] == "U_ODD")
    assert told[0].args["text"] == FAILED_REPLY
    await slack.wait_for("chat.update", lambda c: c.args["ts"] == step1.ts)
    await bot.settle()
    async with bot.ctx.sessions() as session:
        kept = (await session.execute(select(IntakeItem))).scalars().all()
    assert [(i.kind, i.state) for i in kept] == [("from_the_future", "failed")]
    assert "from_the_future" in (kept[0].last_error or "")
    async with bot.http.get(bot.url + "/metrics") as response:
        text = await response.text()
    assert re.search(r"^runbook_bot_intake_failed 1\.0$", text, re.MULTILINE)
    assert re.search(r"^runbook_bot_intake_pending 0\.0$", text, re.MULTILINE)


async def test_concurrent_submits_share_one_commit(bot: BotServer, slack: SlackStandIn) -> None:
    """Items submitted while a write is pending go out in one INSERT (one
    round trip for all of them); each submitter returns once it is committed.
    The commit and item counters on /metrics tell the operator the same."""
    step1 = await start(bot, slack)
    await bot.settle()
    before = await intake_counters(bot)
    await asyncio.gather(
        *(
            bot.ctx.intake.submit(
                *decide_payload(
                    run_id=1,
                    step_index=0,
                    decision=Decision.APPROVED,
                    user=f"U{i}",
                    channel=step1.args["channel"],
                    ts=step1.ts,
                    thread_ts=step1.args.get("thread_ts"),
                )
            )
            for i in range(20)
        )
    )
    after = await intake_counters(bot)
    assert (after[0] - before[0], after[1] - before[1]) == (20, 1)  # 20 items, one commit
    await bot.settle()
    async with bot.ctx.sessions() as session:
        decisions = (await session.execute(select(StepDecision.decided_by))).scalars().all()
    assert decisions == ["U0"]  # arrival order kept within the batch
    assert len(await slack.wait_for("chat.postEphemeral", count=19)) == 19


async def intake_counters(bot: BotServer) -> tuple[float, float]:
    """(items, commits) of the intake, as /metrics reports them."""
    async with bot.http.get(bot.url + "/metrics") as response:
        text = await response.text()
    items = re.search(r"^runbook_bot_intake_items_total (\S+)$", text, re.MULTILINE)
    commits = re.search(r"^runbook_bot_intake_commits_total (\S+)$", text, re.MULTILINE)
    assert items and commits, text
    return float(items.group(1)), float(commits.group(1))


async def test_a_runs_clicks_queued_together_go_without_waiting_for_the_poll(
    bot: BotServer, slack: SlackStandIn
) -> None:
    """Items of one run go one at a time; when several arrive together, the
    loop that holds the run's current item takes the next as soon as it is
    done. (A loop woken for them finds the run busy and goes back to sleep;
    the intake once lost that wake-up and left the rest to the 1 s poll.)"""
    step1 = await start(bot, slack)
    await bot.settle()
    bot.ctx.intake_worker._poll = 30.0  # only a wake-up can make this prompt
    await asyncio.sleep(1.2)  # let every loop start its 30 s wait
    users = [f"UQ{i:02d}" for i in range(20)]
    began = asyncio.get_running_loop().time()
    await asyncio.gather(*(bot.click(step1, "step_approve", user_id=u) for u in users))
    refusals = await slack.wait_for("chat.postEphemeral", count=19, timeout=10)
    assert asyncio.get_running_loop().time() - began < 5  # far below one poll
    assert len(refusals) == 19
    assert await count(bot, IntakeItem.id) == 0
    assert await count(bot, StepDecision.id) == 1


def test_seen_names_is_bounded_and_follows_renames() -> None:
    seen = SeenNames(limit=2)
    assert seen.is_new("UA", "ann")
    seen.remember("UA", "ann")
    seen.remember("UB", "bob")
    assert not seen.is_new("UA", "ann") and seen.is_new("UA", "anne")  # a rename is new
    seen.remember("UB", "bobby")  # replaces UB's pair, forgets nobody
    assert not seen.is_new("UA", "ann") and not seen.is_new("UB", "bobby")
    seen.remember("UC", "cy")  # full: the oldest (UA) is forgotten
    assert seen.is_new("UA", "ann") and not seen.is_new("UC", "cy")
    assert clean_name("  ann ") == "ann" and clean_name("") is None and clean_name(None) is None
    assert clean_name("x" * 300) == "x" * 255
