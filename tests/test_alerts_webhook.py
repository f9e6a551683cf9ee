"""POST /alerts/alertmanager through the real app: auth, bad bodies, one
message per alert group, repeats and retries, resolution (SPEC §10; the
group storms themselves: test_alerts_groups.py).

Alertmanager's side is aiohttp posting the webhook's JSON; Slack's side is
the Web API stand-in; the database is real PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from bot.store.models import Alert
from tests.alert_support import (
    CHANNEL,
    TOKEN,
    alert,
    alert_posts,
    counts,
    deliver,
    labels_of,
    notification,
    runbooks,
)
from tests.conftest import BotFactory, requested
from tests.rig import SlackStandIn
from tests.rig.botserver import BotServer


@pytest.fixture
async def alerting(make_bot: BotFactory, tmp_path: Path) -> BotServer:
    return await make_bot(
        alert_webhook_token=TOKEN, alert_channel=CHANNEL, runbooks_dir=runbooks(tmp_path)
    )


async def test_route_is_absent_without_a_token(make_bot: BotFactory, slack: SlackStandIn) -> None:
    bot = await make_bot()
    status, body = await deliver(bot, notification(alert()))
    assert status == 404
    assert "ALERT_WEBHOOK_TOKEN" in body["error"]
    await asyncio.sleep(0.2)
    assert (await counts(bot))["alerts"] == 0 and (await counts(bot))["intake"] == 0
    assert requested(slack.calls) == []


@pytest.mark.parametrize(
    "token",
    [None, "wrong-token-wrong-token-wrong", TOKEN[:-1], TOKEN + "x", ""],
    ids=["missing", "wrong", "prefix", "longer", "empty"],
)
async def test_wrong_token_is_401_and_changes_nothing(
    alerting: BotServer, slack: SlackStandIn, token: str | None
) -> None:
    before = await counts(alerting)
    status, body = await deliver(alerting, notification(alert()), token=token)
    assert status == 401, body
    await asyncio.sleep(0.2)
    assert await counts(alerting) == before
    assert alert_posts(slack) == []


async def test_other_auth_schemes_are_refused(alerting: BotServer, slack: SlackStandIn) -> None:
    headers = {"Authorization": f"Basic {TOKEN}", "Content-Type": "application/json"}
    async with alerting.http.post(
        alerting.url + "/alerts/alertmanager",
        data=json.dumps(notification(alert())),
        headers=headers,
    ) as resp:
        assert resp.status == 401
        assert resp.headers["WWW-Authenticate"] == "Bearer"
    assert (await counts(alerting))["intake"] == 0


BAD_BODIES = {
    "not json": b"{not json",
    "a list": b"[]",
    "old version": json.dumps({**notification(alert()), "version": "3"}).encode(),
    "no alerts": json.dumps(
        {k: v for k, v in notification(alert()).items() if k != "alerts"}
    ).encode(),
    "bad status": json.dumps(notification({**alert(), "status": "burning"})).encode(),
    "no fingerprint": json.dumps(notification({**alert(), "fingerprint": ""})).encode(),
    "bad time": json.dumps(notification({**alert(), "startsAt": "yesterday"})).encode(),
    "label not text": json.dumps(
        notification({**alert(), "labels": {"alertname": "X", "severity": 2}})
    ).encode(),
}


@pytest.mark.parametrize("name", sorted(BAD_BODIES))
async def test_malformed_body_is_400_naming_the_problem(
    alerting: BotServer, slack: SlackStandIn, name: str
) -> None:
    # One good alert beside the bad one in the same delivery: refused as a whole.
    before = await counts(alerting)
    status, body = await deliver(alerting, BAD_BODIES[name])
    assert status == 400, body
    assert body["error"]
    await asyncio.sleep(0.2)
    assert await counts(alerting) == before
    assert alert_posts(slack) == []


async def test_firing_posts_one_message_with_name_severity_runbook_and_buttons(
    alerting: BotServer, slack: SlackStandIn
) -> None:
    status, body = await deliver(alerting, notification(alert()))
    assert (status, body) == (200, {"status": "ok", "alerts": 1})
    (post,) = await slack.wait_for("chat.postMessage")
    assert post.args["channel"] == CHANNEL
    text = post.args["text"]
    assert "KubePodCrashLooping" in text and "critical" in text
    assert "runbook KubePodCrashLooping" in text
    message = slack.message(CHANNEL, post.ts)
    assert labels_of(message) == ["Start runbook", "Acknowledge"]
    shown = json.dumps(message["blocks"])
    assert "Pod web-1 is crash looping" in shown and "a1b2c3d4e5f60718" in shown
    await alerting.settle()
    async with alerting.ctx.sessions() as session:
        (row,) = (await session.execute(Alert.__table__.select())).all()
    assert row.message_ts == post.ts and row.channel_id == CHANNEL
    assert row.runbook_id == "KubePodCrashLooping" and row.status == "firing"
    assert row.labels["severity"] == "critical"


async def test_repeats_and_retried_deliveries_post_nothing_new(
    alerting: BotServer, slack: SlackStandIn
) -> None:
    body = notification(alert())
    assert (await deliver(alerting, body))[0] == 200
    await slack.wait_for("chat.postMessage")
    await alerting.settle()
    # Alertmanager's repeat_interval re-sends the group; a lost answer makes it retry;
    # Prometheus re-sends with annotations that changed (a value in the summary).
    again = notification(alert(summary="Pod web-1 is crash looping (7 restarts)"))
    results = await asyncio.gather(*(deliver(alerting, b) for b in (body, body, again, body)))
    assert [s for s, _ in results] == [200] * 4
    await alerting.settle()
    assert len(alert_posts(slack)) == 1
    assert slack.calls_to("chat.update") == []
    assert (await counts(alerting))["alerts"] == 1


async def test_alerts_of_one_group_share_one_message(
    alerting: BotServer, slack: SlackStandIn
) -> None:
    alerts = [alert(fingerprint=f"{i:016x}", summary=f"pod web-{i}") for i in range(5)]
    assert (await deliver(alerting, notification(*alerts)))[0] == 200
    await alerting.settle()
    (post,) = alert_posts(slack)
    assert "5 firing, 0 resolved" in post.args["text"]
    shown = json.dumps(post.args["blocks"])
    # Nothing but the fingerprint tells these apart: the list shows it.
    assert all(a["fingerprint"] in shown for a in alerts)


async def test_without_a_group_key_each_fingerprint_gets_its_own_message(
    alerting: BotServer, slack: SlackStandIn
) -> None:
    alerts = [alert(fingerprint=f"{i:016x}", summary=f"pod web-{i}") for i in range(5)]
    assert (await deliver(alerting, notification(*alerts, group="")))[0] == 200
    await slack.wait_for("chat.postMessage", count=5)
    await alerting.settle()
    posts = alert_posts(slack)
    assert sorted(p.args["metadata"]["event_payload"]["fingerprint"] for p in posts) == sorted(
        a["fingerprint"] for a in alerts
    )


async def test_resolved_updates_the_message_and_posts_nothing(
    alerting: BotServer, slack: SlackStandIn
) -> None:
    await deliver(alerting, notification(alert()))
    (post,) = await slack.wait_for("chat.postMessage")
    await alerting.settle()
    resolved = notification(alert(status="resolved", ends="2026-12-01T10:42:00Z"))
    assert (await deliver(alerting, resolved))[0] == 200
    (update,) = await slack.wait_for("chat.update")
    assert (update.args["channel"], update.args["ts"]) == (CHANNEL, post.ts)
    assert "resolved" in update.args["text"].lower()
    message = slack.message(CHANNEL, post.ts)
    assert labels_of(message) == []  # nothing left to click
    shown = json.dumps(message["blocks"])
    assert "Resolved" in shown and f"<!date^{1796121720}" in shown  # 10:42 UTC, each reader's zone
    # A retried resolution, and the firing retried after it: nothing new either way.
    await deliver(alerting, resolved)
    await deliver(alerting, notification(alert()))
    await alerting.settle()
    assert len(alert_posts(slack)) == 1 and len(slack.calls_to("chat.update")) == 1


async def test_a_new_firing_after_resolution_is_a_new_message(
    alerting: BotServer, slack: SlackStandIn
) -> None:
    await deliver(alerting, notification(alert()))
    await deliver(alerting, notification(alert(status="resolved", ends="2026-12-01T10:42:00Z")))
    await alerting.settle()
    await deliver(alerting, notification(alert(starts="2026-12-02T08:00:00Z")))
    await slack.wait_for("chat.postMessage", count=2)
    await alerting.settle()
    assert len(alert_posts(slack)) == 2
    assert (await counts(alerting))["alerts"] == 2


async def test_a_resolution_for_an_unknown_alert_changes_nothing(
    alerting: BotServer, slack: SlackStandIn
) -> None:
    status, _ = await deliver(alerting, notification(alert(status="resolved")))
    assert status == 200  # acknowledged (Alertmanager must not retry it), nothing to do
    await alerting.settle()
    assert requested(slack.calls) == []
    assert (await counts(alerting))["alerts"] == 0


async def test_lookup_by_runbook_url_slug(alerting: BotServer, slack: SlackStandIn) -> None:
    # The alert's name matches no runbook; its URL's last segment is RB-21's file stem.
    url = "https://runbooks.example.com/runbooks/node/nodefilesystemspacefillingup/"
    await deliver(alerting, notification(alert("NodeDiskAlmostFull", runbook_url=url)))
    (post,) = await slack.wait_for("chat.postMessage")
    assert "runbook RB-21" in post.args["text"]
    assert labels_of(post.args) == ["Start runbook", "Acknowledge"]


async def test_lookup_by_alert_name_ignores_case_dashes_and_md(
    alerting: BotServer, slack: SlackStandIn
) -> None:
    # A URL whose slug matches nothing falls back to the name.
    await deliver(
        alerting,
        notification(alert("kube-pod-crash_looping", runbook_url="https://wiki.example/x/")),
    )
    (post,) = await slack.wait_for("chat.postMessage")
    assert "runbook KubePodCrashLooping" in post.args["text"]


async def test_no_runbook_says_so_and_offers_declare_incident(
    alerting: BotServer, slack: SlackStandIn
) -> None:
    await deliver(alerting, notification(alert("TotallyUnknownAlert", severity="warning")))
    (post,) = await slack.wait_for("chat.postMessage")
    assert "TotallyUnknownAlert" in post.args["text"] and "warning" in post.args["text"]
    assert "no runbook found" in post.args["text"]
    assert labels_of(post.args) == ["Declare incident", "Acknowledge"]
    assert "No runbook matches" in json.dumps(post.args["blocks"])


async def test_alert_channel_defaults_to_the_first_incident_channel(
    make_bot: BotFactory, slack: SlackStandIn, tmp_path: Path
) -> None:
    bot = await make_bot(
        alert_webhook_token=TOKEN,
        incident_channels="C_FIRST,C_SECOND",
        runbooks_dir=runbooks(tmp_path),
    )
    await deliver(bot, notification(alert()))
    (post,) = await slack.wait_for("chat.postMessage")
    assert post.args["channel"] == "C_FIRST"


async def test_webhook_text_is_escaped(alerting: BotServer, slack: SlackStandIn) -> None:
    await deliver(alerting, notification(alert("<!channel> & co", summary="<@U999> <b>")))
    (post,) = await slack.wait_for("chat.postMessage")
    # mrkdwn everywhere but the header, which is plain_text (never parsed for mentions).
    mrkdwn = [b for b in post.args["blocks"] if b["type"] != "header"]
    shown = post.args["text"] + json.dumps(mrkdwn)
    assert "<!channel>" not in shown and "<@U999>" not in shown
    assert "&lt;!channel&gt; &amp; co" in post.args["text"]
