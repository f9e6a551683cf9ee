"""End to end: signed Slack requests into the real aiohttp app, the Slack Web
API stand-in on loopback, real PostgreSQL."""

from __future__ import annotations

import asyncio
import statistics

from sqlalchemy import func, select

from bot.store.models import Incident, IntakeItem, OutboxMessage, Run, StepDecision, TimelineEvent
from tests.conftest import requested
from tests.rig import Call, SlackStandIn
from tests.rig.botserver import BotServer


def is_step(call: Call) -> bool:
    return call.method == "chat.postMessage" and any(
        b.get("type") == "actions" and str(b.get("block_id", "")).startswith("step:")
        for b in call.args.get("blocks", [])
    )


async def kinds(bot: BotServer, incident_id: int = 1) -> list[str]:
    async with bot.ctx.sessions() as session:
        rows = await session.execute(
            select(TimelineEvent.kind)
            .where(TimelineEvent.incident_id == incident_id)
            .order_by(TimelineEvent.id)
        )
        return list(rows.scalars())


async def start(bot: BotServer, slack: SlackStandIn, text: str = "RB-04 leaked link") -> Call:
    """Start a run; return the first step's message call."""
    response = await bot.command("/runbook", f"start {text}")
    assert response.status == 200
    steps = await slack.wait_for("chat.postMessage", is_step)
    return steps[0]


async def test_rb04_full_run_records_every_decision(bot: BotServer, slack: SlackStandIn) -> None:
    runbook = bot.ctx.library.get("RB-04")
    n = runbook.step_count
    assert n >= 5

    response = await bot.command(
        "/runbook", "start RB-04 Share link for Acme leaked", user_id="UALICE"
    )
    assert response.status == 200
    assert response.text == ""  # nothing ephemeral: the run message is the answer
    posted = await slack.wait_for("chat.postMessage", count=2)
    run_msg, step1 = posted[0], posted[1]
    assert "INC-1" in run_msg.args["text"] and "RB-04" in run_msg.args["text"]
    assert run_msg.args["channel"] == "C_INC"
    assert step1.args["thread_ts"] == run_msg.ts
    labels = [
        e["text"]["text"]
        for b in step1.args["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
    ]
    assert any("Approve" in label for label in labels)
    assert any("Skip" in label for label in labels)
    assert f"step 1 of {n}" in str(step1.args["blocks"])

    current = step1
    for k in range(1, n + 1):
        action = "step_skip" if k == 2 else "step_approve"
        click = await bot.decide(current, action, user_id="UBOB")
        assert click.status == 200
        updates = await slack.wait_for("chat.update", lambda c, ts=current.ts: c.args["ts"] == ts)
        update = updates[0]
        rendered = str(update.args["blocks"])
        assert "<@UBOB>" in rendered and "<!date^" in rendered
        assert ("Skipped" if k == 2 else "Approved") in rendered
        assert "step_approve" not in rendered and "step_skip" not in rendered
        if k < n:
            steps = await slack.wait_for("chat.postMessage", is_step, count=k + 1)
            current = steps[k]
            assert current.args["thread_ts"] == run_msg.ts
            assert f"step {k + 1} of {n}" in str(current.args["blocks"])

    done = await slack.wait_for("chat.postMessage", lambda c: "completed" in c.args["text"])
    assert f"{n - 1} approved, 1 skipped" in done[0].args["text"]
    await bot.settle()
    # The run message shows the final state, with no Abort button left.
    final = slack.message("C_INC", run_msg.ts)
    assert "completed" in final["text"] and "run_abort" not in str(final["blocks"])

    events = await kinds(bot)
    assert events[:2] == ["incident_opened", "runbook_started"]
    assert events.count("step_approved") == n - 1
    assert events.count("step_skipped") == 1
    assert events[-1] == "runbook_completed"
    async with bot.ctx.sessions() as session:
        run = (await session.execute(select(Run))).scalar_one()
        assert run.state == "completed" and run.content_hash == runbook.content_hash
        assert run.message_ts == run_msg.ts
        decisions = (await session.execute(select(StepDecision))).scalars().all()
        assert {d.decided_by for d in decisions} == {"UBOB"}
        assert all(d.decided_at.tzinfo is not None for d in decisions)
    # Figures for the issue note: Slack calls for one full run, ack latencies.
    calls = [c for c in slack.calls if c.method.startswith("chat.")]
    print(
        f"\nRB-04 ({n} steps): {len(calls)} Slack chat.* calls; "
        f"start ack {statistics.median(bot.latencies['/runbook']) * 1000:.1f} ms; "
        f"click ack median {statistics.median(bot.latencies['click']) * 1000:.1f} ms"
    )


async def test_unknown_runbook_suggests_and_changes_nothing(
    bot: BotServer, slack: SlackStandIn
) -> None:
    response = await bot.command("/runbook", "start RB-4")
    assert response.status == 200
    assert "Unknown runbook" in response.text and "RB-04" in response.text
    await asyncio.sleep(0.2)
    assert slack.calls_to("chat.postMessage") == []
    async with bot.ctx.sessions() as session:
        assert (await session.execute(select(func.count(Incident.id)))).scalar() == 0
        assert (await session.execute(select(func.count(OutboxMessage.id)))).scalar() == 0
        assert (await session.execute(select(func.count(IntakeItem.id)))).scalar() == 0


async def test_wrong_channel_is_refused(bot: BotServer, slack: SlackStandIn) -> None:
    response = await bot.command(
        "/runbook", "start RB-04", channel_id="C_GEN", channel_name="general"
    )
    assert "incident channel" in response.text and "#incidents" in response.text
    await asyncio.sleep(0.2)
    assert slack.calls_to("chat.postMessage") == []
    async with bot.ctx.sessions() as session:
        assert (await session.execute(select(func.count(Incident.id)))).scalar() == 0
        assert (await session.execute(select(func.count(IntakeItem.id)))).scalar() == 0


async def test_help_list_show(bot: BotServer) -> None:
    help_ = await bot.command("/runbook", "")
    assert "/runbook start" in help_.text
    listing = await bot.command("/runbook", "list")
    for i in range(1, 13):
        assert f"RB-{i:02d}" in listing.text
    show = await bot.command("/runbook", "show rb-04")
    assert "RB-04" in show.text
    assert "Steps" in str(show.body["blocks"])


async def test_double_click_decides_once(bot: BotServer, slack: SlackStandIn) -> None:
    step1 = await start(bot, slack)
    first = await bot.click(step1, "step_approve", user_id="UALICE")
    again = await bot.skip(step1, user_id="UBOB")  # someone else, too late
    replay = await bot.click(step1, "step_approve", user_id="UALICE")
    assert first.status == again.status == replay.status == 200
    ephemerals = await slack.wait_for("chat.postEphemeral", count=2)
    texts = {(e.args["user"], e.args["text"].split(" by ")[0]) for e in ephemerals}
    assert ("UBOB", "This step was already approved") in texts
    assert all("<@UALICE>" in e.args["text"] for e in ephemerals)
    await bot.settle()
    assert len([c for c in slack.calls_to("chat.postMessage") if is_step(c)]) == 2
    async with bot.ctx.sessions() as session:
        decisions = (await session.execute(select(StepDecision))).scalars().all()
        assert [(d.step_index, d.decision, d.decided_by) for d in decisions] == [
            (0, "approved", "UALICE")
        ]


async def test_concurrent_clicks_one_decision(bot: BotServer, slack: SlackStandIn) -> None:
    step1 = await start(bot, slack)
    users = [f"U{i:03d}" for i in range(20)]
    results = await asyncio.gather(*(bot.click(step1, "step_approve", user_id=u) for u in users))
    assert all(r.status == 200 for r in results)
    await slack.wait_for("chat.postEphemeral", count=len(users) - 1)
    await bot.settle()
    async with bot.ctx.sessions() as session:
        assert (await session.execute(select(func.count(StepDecision.id)))).scalar() == 1
    assert len([c for c in slack.calls_to("chat.postMessage") if is_step(c)]) == 2
    assert len(await kinds(bot)) == 4  # opened, started, one approval, acknowledged


async def test_abort_offers_rollback_steps(bot: BotServer, slack: SlackStandIn) -> None:
    rb = bot.ctx.library.get("RB-04")
    assert rb.rollback is not None and rb.rollback.steps
    step1 = await start(bot, slack)
    await bot.click(step1, "step_approve")
    await slack.wait_for("chat.postMessage", is_step, count=2)
    run_msg = slack.calls_to("chat.postMessage")[0]
    await bot.settle()
    response = await bot.click(run_msg, "run_abort", user_id="UCAROL")
    assert response.status == 200
    aborted = await slack.wait_for("chat.postMessage", lambda c: "aborted" in c.args["text"])
    assert "UCAROL" in aborted[0].args["text"]
    rollback = await slack.wait_for(
        "chat.postMessage", lambda c: is_step(c) and "Rollback" in str(c.args["blocks"])
    )
    assert f"step 1 of {len(rb.rollback.steps)}" in str(rollback[0].args["blocks"])
    # The pending normal step can no longer be decided.
    step2 = [c for c in slack.calls_to("chat.postMessage") if is_step(c)][1]
    late = await bot.click(step2, "step_approve", user_id="UBOB")
    assert late.status == 200
    note = await slack.wait_for("chat.postEphemeral", lambda c: c.args["user"] == "UBOB")
    assert "aborted" in note[0].args["text"]
    # Rollback steps are decided like any other.
    await bot.click(rollback[0], "step_approve", user_id="UCAROL")
    await slack.wait_for("chat.update", lambda c: c.args["ts"] == rollback[0].ts)
    events = await kinds(bot)
    assert events.count("runbook_aborted") == 1
    assert events.count("step_approved") == 2


async def test_slash_abort_command(bot: BotServer, slack: SlackStandIn) -> None:
    await start(bot, slack)
    response = await bot.command("/runbook", "abort")
    assert response.status == 200 and response.text == ""
    await slack.wait_for("chat.postMessage", lambda c: "aborted" in c.args["text"])
    again = await bot.command("/runbook", "abort")
    assert "No runbook is running" in again.text


async def test_start_attaches_to_open_incident(bot: BotServer, slack: SlackStandIn) -> None:
    await start(bot, slack, "RB-04")
    await bot.command("/runbook", "abort INC-1")
    response = await bot.command("/runbook", "start RB-03 INC-1 rotate the key too")
    assert response.status == 200 and response.text == ""
    runs = await slack.wait_for("chat.postMessage", lambda c: "RB-03" in c.args["text"])
    assert "INC-1" in runs[0].args["text"]
    missing = await bot.command("/runbook", "start RB-03 INC-99")
    assert "INC-99" in missing.text


async def test_bad_signature_is_401_and_changes_nothing(
    bot: BotServer, slack: SlackStandIn
) -> None:
    body = bot.signer.slash_command("/runbook", "start RB-04")
    forged = {"X-Slack-Signature": "v0=" + "0" * 64}
    response = await bot.send(body, "forged", headers_override=forged)
    assert response.status == 401
    await asyncio.sleep(0.2)
    assert requested(slack.calls) == []
    async with bot.ctx.sessions() as session:
        assert (await session.execute(select(func.count(Incident.id)))).scalar() == 0


async def test_embedded_sqlite_runs_a_runbook(make_bot, slack: SlackStandIn, tmp_path) -> None:
    """The default embedded database runs the same flow (migrations included)."""
    from bot.store.migrate import upgrade

    url = f"sqlite+aiosqlite:///{tmp_path}/bot.db"
    await upgrade(url)
    bot = await make_bot(database_url=url)
    step1 = await start(bot, slack, "RB-01")
    await bot.skip(step1, user_id="UDAVE")
    await slack.wait_for("chat.update", lambda c: c.args["ts"] == step1.ts)
    step2 = (await slack.wait_for("chat.postMessage", is_step, count=2))[1]
    await bot.click(step2, "step_approve", user_id="UDAVE")
    await bot.click(step2, "step_approve", user_id="UERIN")
    note = await slack.wait_for("chat.postEphemeral", lambda c: c.args["user"] == "UERIN")
    assert "<@UDAVE>" in note[0].args["text"]
    assert await kinds(bot) == [
        "incident_opened",
        "runbook_started",
        "step_skipped",
        "incident_acknowledged",
        "step_approved",
    ]
