"""Storms coalesce: the alerts of one Alertmanager group share one message
(SPEC §12, §10), through the real app — Alertmanager's webhook over HTTP with
the bearer token, signed clicks, the Web API stand-in, real PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from bot.alerts import blocks
from bot.store.models import Alert, Incident, TimelineEvent
from tests.alert_support import (
    CHANNEL,
    TOKEN,
    alert_count,
    alert_posts,
    deliver,
    is_alert_message,
    kinds,
    labels_of,
    member,
    message_text,
    notification,
    runbooks,
    storm,
    until,
)
from tests.conftest import BotFactory
from tests.rig import Call, SlackStandIn
from tests.rig.botserver import BotServer


@pytest.fixture
async def alerting(make_bot: BotFactory, tmp_path: Path) -> BotServer:
    return await make_bot(
        alert_webhook_token=TOKEN, alert_channel=CHANNEL, runbooks_dir=runbooks(tmp_path)
    )


def updates_of(slack: SlackStandIn, post: Call) -> list[Call]:
    return [c for c in slack.calls_to("chat.update") if c.args.get("ts") == post.ts]


async def leads(bot: BotServer) -> set[int | None]:
    async with bot.ctx.sessions() as session:
        return set((await session.execute(select(Alert.lead_id))).scalars())


async def intake_done(bot: BotServer, alerts: int) -> bool:
    return await alert_count(bot) == alerts and await bot.ctx.intake_worker.pending_count() == 0


async def test_a_storm_of_one_group_posts_one_message(
    alerting: BotServer, slack: SlackStandIn
) -> None:
    await storm(alerting, [member(i) for i in range(300)])  # 30 webhook calls
    await until(lambda: intake_done(alerting, 300))
    await alerting.settle(timeout=20)
    (post,) = alert_posts(slack)
    assert post.args["channel"] == CHANNEL
    # Each delivery owes at most one update of the message (its own changes are
    # rendered once); updates still waiting when the next comes collapse into it.
    assert 1 <= len(updates_of(slack, post)) <= 29
    assert len(slack.calls_to("chat.update")) == len(updates_of(slack, post))
    shown = message_text(slack, post.ts)
    assert "300 firing" in shown and "0 resolved" in shown
    assert "KubePodCrashLooping" in shown and "critical" in shown
    assert "runbook KubePodCrashLooping" in shown
    assert "and 290 more" in shown
    assert "pod=`web-0`" in shown  # what tells the alerts apart: their pod
    assert labels_of(slack.message(CHANNEL, post.ts)) == ["Start runbook", "Acknowledge"]
    assert len(await leads(alerting)) == 1


async def test_updates_waiting_for_slack_collapse_into_one(
    alerting: BotServer, slack: SlackStandIn
) -> None:
    # Slack carries out the group's post but its answer is held: the message's
    # updates wait behind it (same message), so the 29 later deliveries' updates
    # collapse into one, which goes once the post is answered.
    held = slack.hold("chat.postMessage", lambda args: "metadata" in args)
    await storm(alerting, [member(i) for i in range(300)])
    await held.wait()
    await until(lambda: intake_done(alerting, 300))
    held.release()
    await alerting.settle(timeout=20)
    (post,) = alert_posts(slack)
    (update,) = updates_of(slack, post)
    assert "300 firing" in update.args["text"]
    assert "300 firing" in message_text(slack, post.ts)


async def test_resolving_the_group_says_so_and_a_later_alert_posts_anew(
    alerting: BotServer, slack: SlackStandIn
) -> None:
    await storm(alerting, [member(i) for i in range(20)])
    await until(lambda: intake_done(alerting, 20))
    (post,) = await slack.wait_for("chat.postMessage", is_alert_message)
    await storm(alerting, [member(i, status="resolved") for i in range(10)])
    await alerting.settle()
    shown = message_text(slack, post.ts)
    assert "10 firing" in shown and "10 resolved" in shown
    assert labels_of(slack.message(CHANNEL, post.ts)) == ["Start runbook", "Acknowledge"]
    await storm(alerting, [member(i, status="resolved") for i in range(10, 20)])
    await alerting.settle()
    shown = message_text(slack, post.ts)
    assert "Alerts resolved" in shown and "All 20 alerts of this group resolved" in shown
    assert "<!date^1796121720" in shown  # when: 10:42 UTC, in each reader's zone
    assert labels_of(slack.message(CHANNEL, post.ts)) == []
    assert len(alert_posts(slack)) == 1  # resolving posts nothing
    # The group fires again: a new episode, a new message.
    again = {**member(3), "startsAt": "2026-12-02T08:00:00Z"}
    assert (await deliver(alerting, notification(again)))[0] == 200
    await alerting.settle()
    first, second = alert_posts(slack)
    assert first.ts == post.ts and second.ts != post.ts
    assert "KubePodCrashLooping" in second.args["text"]
    assert labels_of(second.args) == ["Start runbook", "Acknowledge"]
    assert "resolved" not in second.args["text"].lower()


async def test_two_groups_get_two_messages(alerting: BotServer, slack: SlackStandIn) -> None:
    await storm(alerting, [member(i) for i in range(12)], group='{}:{cluster="east"}')
    await storm(
        alerting,
        [member(i, name="NodeFilesystemSpaceFillingUp") for i in range(100, 105)],
        group='{}:{cluster="west"}',
    )
    await until(lambda: intake_done(alerting, 17))
    await alerting.settle()
    posts = alert_posts(slack)
    assert len(posts) == 2
    # Each group has its own queue in the channel: either may go first.
    (west,) = [p for p in posts if "NodeFilesystemSpaceFillingUp" in p.args["text"]]
    (east,) = [p for p in posts if p is not west]
    assert "12 firing" in message_text(slack, east.ts)
    assert "5 firing" in message_text(slack, west.ts)
    assert "NodeFilesystemSpaceFillingUp" in west.args["text"]
    assert "runbook RB-21" in west.args["text"]
    assert len(await leads(alerting)) == 2


async def test_start_runbook_on_a_group_message(alerting: BotServer, slack: SlackStandIn) -> None:
    await storm(alerting, [member(i) for i in range(30)])
    await until(lambda: intake_done(alerting, 30))
    await alerting.settle()
    (post,) = alert_posts(slack)
    assert (await alerting.click(post, blocks.START, user_id="UALICE")).status == 200
    step = await slack.wait_for(
        "chat.postMessage", lambda c: "kubectl logs --previous" in str(c.args.get("blocks"))
    )
    await alerting.settle()
    assert step[0].args["channel"] == CHANNEL
    shown = message_text(slack, post.ts)
    assert "INC-1" in shown and "<@UALICE>" in shown and "30 firing" in shown
    assert labels_of(slack.message(CHANNEL, post.ts)) == ["Acknowledge"]
    assert await kinds(alerting, 1) == ["incident_opened", "runbook_started", "alert_fired"]
    # Alerts joining later keep the incident on the message.
    await storm(alerting, [member(i) for i in range(30, 40)])
    await alerting.settle()
    shown = message_text(slack, post.ts)
    assert "INC-1" in shown and "40 firing" in shown
    # The group resolves: alert_resolved once, when the last alert of it resolves.
    await storm(alerting, [member(i, status="resolved") for i in range(39)], per_call=20)
    await alerting.settle()
    assert "alert_resolved" not in await kinds(alerting, 1)
    await deliver(alerting, notification(member(39, status="resolved")))
    await alerting.settle()
    assert (await kinds(alerting, 1)).count("alert_resolved") == 1
    async with alerting.ctx.sessions() as session:
        event = (
            await session.execute(
                select(TimelineEvent).where(TimelineEvent.kind == "alert_resolved")
            )
        ).scalar_one()
        assert event.data["alerts"] == 40
        assert len((await session.execute(select(Incident))).all()) == 1
    assert "All 40 alerts of this group resolved" in message_text(slack, post.ts)


async def test_start_runbook_works_while_the_group_fires_after_its_first_resolved(
    alerting: BotServer, slack: SlackStandIn
) -> None:
    await storm(alerting, [member(i) for i in range(3)])
    await deliver(alerting, notification(member(0, status="resolved")))
    await until(lambda: intake_done(alerting, 3))
    await alerting.settle()
    (post,) = alert_posts(slack)
    assert "2 firing" in message_text(slack, post.ts)
    await alerting.click(post, blocks.START, user_id="UALICE")
    await slack.wait_for("chat.postMessage", lambda c: "INC-1" in c.args.get("text", ""))
    await alerting.settle()
    assert "INC-1" in message_text(slack, post.ts)


async def test_acknowledge_on_a_group_message_stays_as_alerts_join(
    alerting: BotServer, slack: SlackStandIn
) -> None:
    await storm(alerting, [member(i) for i in range(5)])
    await until(lambda: intake_done(alerting, 5))
    await alerting.settle()
    (post,) = alert_posts(slack)
    assert (await alerting.click(post, blocks.ACKNOWLEDGE, user_id="UBOB")).status == 200
    await alerting.settle()
    assert "Acknowledged by <@UBOB>" in message_text(slack, post.ts)
    assert labels_of(slack.message(CHANNEL, post.ts)) == ["Start runbook"]
    await storm(alerting, [member(i) for i in range(5, 8)])
    await alerting.settle()
    shown = message_text(slack, post.ts)
    assert "Acknowledged by <@UBOB>" in shown and "8 firing" in shown
    await alerting.click(post, blocks.ACKNOWLEDGE, user_id="UCAROL")  # a stale copy
    await alerting.settle()
    (told,) = [e for e in slack.ephemerals if e["user"] == "UCAROL"]
    assert "<@UBOB> already acknowledged" in told["text"]
