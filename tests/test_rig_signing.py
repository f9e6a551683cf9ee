"""Tests of the request signer: checked by slack_sdk's verifier and by a real Bolt app."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl

import aiohttp
import pytest
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

# The rig is importable as ``tests.rig`` when the repo root is on sys.path (conftest at the
# root, editable install) and as ``rig`` under pytest's default rootdir-less prepend mode.
try:
    from tests import rig_support
    from tests.rig import SlackSigner, SlackStandIn, post
    from tests.rig.slack_bodies import default_name
    from tests.rig_support import TOKEN, step_blocks
except ImportError:  # pragma: no cover - depends on how pytest was started
    import rig_support  # type: ignore[no-redef]
    from rig import SlackSigner, SlackStandIn, post  # type: ignore[no-redef]
    from rig.slack_bodies import default_name  # type: ignore[no-redef]
    from rig_support import TOKEN, step_blocks  # type: ignore[no-redef]

# Shared fixtures from rig_support (tests/conftest.py belongs to the lead).
slack = rig_support.slack
http = rig_support.http

SECRET = "rig-signing-secret"


# ---------------------------------------------------------------------------
# signing: checked by slack_sdk's verifier and by a real Bolt app over HTTP
# ---------------------------------------------------------------------------


def test_signatures_verify_with_slack_sdk() -> None:
    signer = SlackSigner(SECRET)
    verifier = SignatureVerifier(SECRET)
    body = signer.slash_command("/runbook", "start RB-04 db & <down>")
    headers = signer.headers(body)
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert verifier.is_valid_request(body, headers)
    assert verifier.is_valid_request(body.decode(), headers)
    assert not verifier.is_valid_request(body + b"x", headers)
    assert not SignatureVerifier("other").is_valid_request(body, headers)
    stale = signer.headers(body, timestamp=int(time.time()) - 301)
    assert not verifier.is_valid_request(body, stale)

    event = signer.event({"type": "app_mention", "text": "hi"})
    ev_headers = signer.headers(event, content_type="application/json")
    assert ev_headers["Content-Type"] == "application/json"
    assert verifier.is_valid_request(event, ev_headers)


def test_slash_command_body_matches_slack() -> None:
    body = SlackSigner(SECRET).slash_command("/runbook", "start RB-04", trigger_id="1.2.3")
    fields = parse_qsl(body.decode(), keep_blank_values=True)
    assert [k for k, _ in fields] == [
        "token",
        "team_id",
        "team_domain",
        "channel_id",
        "channel_name",
        "user_id",
        "user_name",
        "command",
        "text",
        "api_app_id",
        "is_enterprise_install",
        "response_url",
        "trigger_id",
    ]
    assert b"command=%2Frunbook" in body and b"text=start+RB-04" in body
    assert dict(fields)["trigger_id"] == "1.2.3"
    # Each user gets their own handle unless the test names one.
    assert dict(fields)["user_name"] == "u1"
    bob = parse_qsl(SlackSigner(SECRET).slash_command("/runbook", "x", user_id="UBOB").decode())
    assert dict(bob)["user_name"] == "bob"
    named = SlackSigner(SECRET).slash_command("/runbook", "x", user_id="U0CMD1", user_name="cmd")
    assert dict(parse_qsl(named.decode()))["user_name"] == "cmd"
    assert default_name("U0CMD1") == "u0cmd1" and default_name("UALICE") == "alice"


def test_block_action_payload_shape() -> None:
    signer = SlackSigner(SECRET)
    message = {"channel": "C_INC", "ts": "5.000001", "thread_ts": "4.000001", "text": "s"}
    message["blocks"] = step_blocks()
    body = signer.block_action("approve", "run1:1", message_ts="5.000001", message=message)
    payload = json.loads(dict(parse_qsl(body.decode()))["payload"])
    assert payload["type"] == "block_actions"
    assert payload["container"] == {
        "type": "message",
        "message_ts": "5.000001",
        "channel_id": "C_INC",
        "is_ephemeral": False,
        "thread_ts": "4.000001",
    }
    assert payload["message"]["blocks"] == step_blocks() and "channel" not in payload["message"]
    (action,) = payload["actions"]
    assert action["type"] == "button" and action["value"] == "run1:1"
    assert action["text"]["text"] == "Approve"  # echoed from the message's button
    assert payload["user"] == {"id": "U1", "username": "u1", "name": "u1", "team_id": "T1"}

    plain = json.loads(
        dict(parse_qsl(signer.block_action("a", "v", message_ts="1.1").decode()))["payload"]
    )
    assert "thread_ts" not in plain["container"] and "thread_ts" not in plain["message"]


@pytest.fixture
async def bolt(
    slack: SlackStandIn,
) -> AsyncIterator[tuple[str, AsyncApp, list[tuple[str, Any]]]]:
    """A real Bolt AsyncApp behind aiohttp, talking to the stand-in."""
    app = AsyncApp(
        signing_secret=SECRET,
        client=AsyncWebClient(token=TOKEN, base_url=slack.url),
    )
    seen: list[tuple[str, Any]] = []

    @app.command("/runbook")
    async def runbook(ack, command, client, respond, request) -> None:  # type: ignore[no-untyped-def]
        await ack("on it")
        seen.append(("retry", request.headers.get("x-slack-retry-num", [None])[0]))
        await client.chat_postMessage(channel=command["channel_id"], text=command["text"])
        await respond("done")

    @app.action("approve")
    async def approve(ack, body, action) -> None:  # type: ignore[no-untyped-def]
        await ack()
        seen.append(("approve", (body["container"], action["value"], body["user"]["id"])))

    @app.action("snooze")
    async def snooze(ack, action) -> None:  # type: ignore[no-untyped-def]
        await ack()
        seen.append(("snooze", action["selected_option"]["value"]))

    @app.view("start")
    async def start(ack, view) -> None:  # type: ignore[no-untyped-def]
        await ack()
        seen.append(("view", (view["state"]["values"], view["private_metadata"])))

    @app.event("app_mention")
    async def mention(event) -> None:  # type: ignore[no-untyped-def]
        seen.append(("event", event["text"]))

    async def endpoint(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await app.async_dispatch(await to_bolt_request(request)))

    web_app = web.Application()
    web_app.router.add_post("/slack/events", endpoint)
    runner = web.AppRunner(web_app, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/slack/events", app, seen
    finally:
        await runner.cleanup()


async def test_signed_requests_reach_bolt_handlers(
    slack: SlackStandIn,
    http: aiohttp.ClientSession,
    bolt: tuple[str, AsyncApp, list[tuple[str, Any]]],
) -> None:
    url, _, seen = bolt
    signer = SlackSigner(SECRET)

    body = signer.slash_command("/runbook", "start RB-04", response_url=slack.response_url("cmd"))
    status, reply, elapsed = await post(http, url, body, signer=signer, retry_num=1)
    assert status == 200 and reply == "on it" and elapsed < 3
    (posted,) = await slack.wait_for("chat.postMessage")
    assert (posted.args["channel"], posted.args["text"]) == ("C_INC", "start RB-04")
    await slack.wait_for("response_url")
    assert ("retry", "1") in seen

    (message,) = slack.messages.values()
    posted_ts = message["ts"]
    body = signer.block_action(
        "approve", "run1:1", message_ts=posted_ts, message=message, user_id="U9"
    )
    assert (await signer.post(http, url, body))[0] == 200
    body = signer.block_action("snooze", message_ts=posted_ts, selected_option_value="30")
    assert (await signer.post(http, url, body))[0] == 200
    body = signer.view_submission("start", {"summary": {"text": "db down"}}, private_metadata="m")
    assert (await signer.post(http, url, body))[0] == 200
    body = signer.event({"type": "app_mention", "user": "U1", "text": "<@UBOT> hi", "ts": "1.2"})
    assert (await signer.post(http, url, body))[0] == 200

    for _ in range(100):  # event listeners run after the ack; give them a moment
        if any(kind == "event" for kind, _ in seen):
            break
        await asyncio.sleep(0.01)
    got = dict(seen)
    container, value, user = got["approve"]
    assert container["message_ts"] == posted_ts and container["channel_id"] == "C_INC"
    assert (value, user) == ("run1:1", "U9")
    assert got["snooze"] == "30"
    assert got["view"] == (
        {"summary": {"text": {"type": "plain_text_input", "value": "db down"}}},
        "m",
    )
    assert got["event"] == "<@UBOT> hi"
    assert slack.calls_to("auth.test")  # Bolt's single-team authorization hit the stand-in


async def test_bolt_rejects_bad_signatures(
    slack: SlackStandIn,
    http: aiohttp.ClientSession,
    bolt: tuple[str, AsyncApp, list[tuple[str, Any]]],
) -> None:
    url, _, seen = bolt
    signer = SlackSigner(SECRET)
    body = signer.slash_command("/runbook", "start RB-04")
    cases: list[dict[str, Any]] = [
        {"signer": None},
        {"signer": SlackSigner("wrong-secret")},
        {"signer": signer, "timestamp": int(time.time()) - 6 * 60},
        {"signer": signer, "headers_override": {"x-slack-signature": "v0=deadbeef"}},
        {"signer": signer, "headers_override": {"X-Slack-Request-Timestamp": None}},
    ]
    for kwargs in cases:
        status, _, _ = await post(http, url, body, **kwargs)
        assert status == 401, kwargs
    assert seen == [] and slack.calls_to("chat.postMessage") == []
