"""The alert message's buttons through the real app: signed Slack clicks,
the Web API stand-in, real PostgreSQL (SPEC §10)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.alerts import blocks
from bot.runs.blocks import APPROVE
from bot.store.models import Alert, Incident, Run, TimelineEvent
from tests.alert_support import (
    CHANNEL,
    TOKEN,
    alert,
    alert_posts,
    deliver,
    kinds,
    labels_of,
    notification,
    runbooks,
)
from tests.conftest import BotFactory
from tests.rig import Call, SlackStandIn
from tests.rig.botserver import BotServer


@pytest.fixture
async def alerting(make_bot: BotFactory, tmp_path: Path) -> BotServer:
    return await make_bot(
        alert_webhook_token=TOKEN, alert_channel=CHANNEL, runbooks_dir=runbooks(tmp_path)
    )


async def fire(bot: BotServer, slack: SlackStandIn, **kw: object) -> Call:
    assert (await deliver(bot, notification(alert(**kw))))[0] == 200  # type: ignore[arg-type]
    (post,) = await slack.wait_for("chat.postMessage")
    await bot.settle()
    return post


def is_step(call: Call) -> bool:
    return call.method == "chat.postMessage" and any(
        e.get("action_id") == APPROVE
        for b in call.args.get("blocks", [])
        if b.get("type") == "actions"
        for e in b["elements"]
    )


async def alert_fired(bot: BotServer, incident_id: int) -> TimelineEvent:
    async with bot.ctx.sessions() as session:
        return (
            await session.execute(
                select(TimelineEvent).where(
                    TimelineEvent.incident_id == incident_id, TimelineEvent.kind == "alert_fired"
                )
            )
        ).scalar_one()


async def test_start_runbook_opens_an_incident_and_runs_the_runbook(
    alerting: BotServer, slack: SlackStandIn
) -> None:
    post = await fire(alerting, slack)
    response = await alerting.click(post, blocks.START, user_id="UALICE")
    assert response.status == 200
    (step1,) = await slack.wait_for("chat.postMessage", is_step)
    await alerting.settle()
    run_msg = next(
        c for c in slack.calls_to("chat.postMessage") if c.ts == step1.args.get("thread_ts")
    )
    assert "INC-1" in run_msg.args["text"] and "KubePodCrashLooping" in run_msg.args["text"]
    assert run_msg.args["channel"] == CHANNEL  # where the alert was clicked
    assert "kubectl logs --previous" in json.dumps(step1.args["blocks"])
    # The alert message now names the incident; Start runbook is gone, Acknowledge stays.
    message = slack.message(CHANNEL, post.ts)
    assert labels_of(message) == ["Acknowledge"]
    assert "INC-1" in json.dumps(message["blocks"]) and "<@UALICE>" in json.dumps(message["blocks"])
    assert await kinds(alerting, 1) == ["incident_opened", "runbook_started", "alert_fired"]
    fired = await alert_fired(alerting, 1)
    assert fired.actor == "UALICE"
    assert fired.data["fingerprint"] == "a1b2c3d4e5f60718"
    assert fired.data["priority"] == "critical"  # severity critical → the first level
    async with alerting.ctx.sessions() as session:
        incident = await session.get(Incident, 1)
        assert incident is not None
        assert incident.title == "KubePodCrashLooping: Pod web-1 is crash looping"
        row = (await session.execute(select(Alert))).scalar_one()
        assert row.incident_id == 1


async def test_resolved_records_alert_resolved_on_the_incident(
    alerting: BotServer, slack: SlackStandIn
) -> None:
    post = await fire(alerting, slack)
    await alerting.click(post, blocks.START)
    await slack.wait_for("chat.postMessage", is_step)
    await alerting.settle()
    posted = len(slack.calls_to("chat.postMessage"))
    resolved = notification(alert(status="resolved", ends="2026-12-01T10:42:00Z"))
    assert (await deliver(alerting, resolved))[0] == 200
    await alerting.settle()
    updates = [c for c in slack.calls_to("chat.update") if c.args["ts"] == post.ts]
    assert "resolved" in updates[-1].args["text"].lower()
    assert len(slack.calls_to("chat.postMessage")) == posted  # nothing new posted
    assert (await kinds(alerting, 1))[-1] == "alert_resolved"
    shown = json.dumps(slack.message(CHANNEL, post.ts)["blocks"])
    assert "INC-1" in shown and "Resolved" in shown


async def test_start_runbook_twice_opens_one_incident(
    alerting: BotServer, slack: SlackStandIn
) -> None:
    post = await fire(alerting, slack)
    await alerting.click(post, blocks.START, user_id="UALICE")
    await alerting.click(post, blocks.START, user_id="UBOB")  # a stale copy of the message
    await slack.wait_for("chat.postMessage", is_step)
    await alerting.settle()
    async with alerting.ctx.sessions() as session:
        assert len((await session.execute(select(Run))).all()) == 1
        assert len((await session.execute(select(Incident))).all()) == 1
    (told,) = [e for e in slack.ephemerals if e["user"] == "UBOB"]
    assert "INC-1 was already opened" in told["text"] and "<@UALICE>" in told["text"]


@pytest.mark.parametrize(
    ("severity", "priority"),
    [("warning", "high"), ("info", "low"), ("medium", "medium"), ("page-me", None)],
)
async def test_priority_maps_from_severity(
    alerting: BotServer, slack: SlackStandIn, severity: str, priority: str | None
) -> None:
    post = await fire(alerting, slack, severity=severity)
    await alerting.click(post, blocks.START)
    await slack.wait_for("chat.postMessage", is_step)
    await alerting.settle()
    assert (await alert_fired(alerting, 1)).data["priority"] == priority


async def test_acknowledge_records_who_once(alerting: BotServer, slack: SlackStandIn) -> None:
    post = await fire(alerting, slack)
    assert (await alerting.click(post, blocks.ACKNOWLEDGE, user_id="UBOB")).status == 200
    (update,) = await slack.wait_for("chat.update")
    assert update.args["ts"] == post.ts
    message = slack.message(CHANNEL, post.ts)
    assert "Acknowledged by <@UBOB>" in json.dumps(message["blocks"])
    assert labels_of(message) == ["Start runbook"]
    await alerting.click(post, blocks.ACKNOWLEDGE, user_id="UCAROL")  # stale copy
    await alerting.settle()
    (told,) = [e for e in slack.ephemerals if e["user"] == "UCAROL"]
    assert "<@UBOB> already acknowledged" in told["text"]
    assert len(slack.calls_to("chat.update")) == 1
    async with alerting.ctx.sessions() as session:
        row = (await session.execute(select(Alert))).scalar_one()
    assert row.acknowledged_by == "UBOB" and row.acknowledged_at is not None


async def test_declare_incident_when_no_runbook_matches(
    alerting: BotServer, slack: SlackStandIn
) -> None:
    post = await fire(alerting, slack, name="TotallyUnknownAlert", summary="Queue is stuck")
    await alerting.click(post, blocks.DECLARE, user_id="UALICE")
    declared = await slack.wait_for("chat.postMessage", lambda c: "declared" in c.args["text"])
    await alerting.settle()
    assert "INC-1" in declared[0].args["text"]
    assert "TotallyUnknownAlert: Queue is stuck" in declared[0].args["text"]
    assert await kinds(alerting, 1) == ["incident_opened", "alert_fired"]
    message = slack.message(CHANNEL, post.ts)
    assert labels_of(message) == ["Acknowledge"]
    assert "INC-1" in json.dumps(message["blocks"])
    async with alerting.ctx.sessions() as session:
        incident = await session.get(Incident, 1)
    assert incident is not None and incident.thread_ts == declared[0].ts


async def test_walk_the_alert_runbook_to_completion(
    alerting: BotServer, slack: SlackStandIn
) -> None:
    url = "https://runbooks.example.com/runbooks/node/nodefilesystemspacefillingup/"
    post = await fire(alerting, slack, name="NodeDiskAlmostFull", runbook_url=url)
    await alerting.click(post, blocks.START)
    for n in range(1, 4):
        steps = await slack.wait_for("chat.postMessage", is_step, count=n)
        await alerting.settle()
        assert (await alerting.click(steps[-1], APPROVE)).status == 200
    await slack.wait_for("chat.postMessage", lambda c: "completed" in c.args["text"])
    await alerting.settle()
    assert (await kinds(alerting, 1))[-1] == "runbook_completed"
    assert len(alert_posts(slack)) == 1


async def test_a_malformed_button_changes_nothing(alerting: BotServer, slack: SlackStandIn) -> None:
    post = await fire(alerting, slack)
    body = alerting.signer.block_action(
        blocks.START, "not-a-value", message_ts=post.ts, channel_id=CHANNEL, user_id="UEVE"
    )
    assert (await alerting.send(body, "click")).status == 200
    forged = alerting.signer.block_action(
        blocks.START, "1:ffffffffffffffff", message_ts=post.ts, channel_id=CHANNEL, user_id="UEVE"
    )
    assert (await alerting.send(forged, "click")).status == 200
    await alerting.settle()
    texts = [e["text"] for e in slack.ephemerals if e["user"] == "UEVE"]
    assert any("malformed" in t for t in texts) and any("not known" in t for t in texts)
    async with alerting.ctx.sessions() as session:
        assert (await session.execute(select(Incident))).first() is None
