"""docs/actions.md as written: its PagerDuty example, loaded from the page's own
YAML block and pointed at a loopback stand-in of the Events API, sends the
trigger event PagerDuty expects; its Python verifier accepts what the bot
signs and refuses the rest."""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bot.runbook.actions import HttpAction, parse_actions
from bot.runs.executor import MASK, run_action, sign

DOC = Path(__file__).resolve().parent.parent / "docs" / "actions.md"
PAGERDUTY_URL = "https://events.pagerduty.com/v2/enqueue"
ROUTING_KEY = "R0UTINGKEY1234567890abcdefABCDEF"
REASON = "INC-42 (critical) not acknowledged within its response target"


def blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```$", DOC.read_text(), re.M | re.S)


def pagerduty_yaml() -> str:
    (found,) = [b for b in blocks("yaml") if "pagerduty-trigger" in b]
    return found


@pytest.fixture
async def events_api() -> AsyncIterator[dict[str, Any]]:
    """PagerDuty's Events API v2, as far as a trigger goes."""
    box: dict[str, Any] = {"seen": [], "url": ""}

    async def enqueue(request: web.Request) -> web.Response:
        event = json.loads(await request.read())
        box["seen"].append({"headers": dict(request.headers), "event": event})
        if event.get("routing_key") != ROUTING_KEY:
            # Its real answer names what is wrong (and here echoes the key: masked).
            text = f"invalid routing_key {event.get('routing_key')}"
            return web.json_response({"status": "invalid event", "errors": [text]}, status=400)
        body = {"status": "success", "message": "Event processed", "dedup_key": event["dedup_key"]}
        return web.json_response(body, status=202)

    app = web.Application()
    app.router.add_post("/v2/enqueue", enqueue)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    box["url"] = f"http://127.0.0.1:{port}/v2/enqueue"
    yield box
    await runner.cleanup()


def pagerduty_action(url: str) -> HttpAction:
    text = pagerduty_yaml()
    assert PAGERDUTY_URL in text
    found = parse_actions(text.replace(PAGERDUTY_URL, url).encode(), "docs/actions.md")
    assert found.problems == []
    action = found.actions["pagerduty-trigger"]
    assert isinstance(action, HttpAction) and action.idempotent
    return action


async def test_the_documented_pagerduty_action_sends_a_trigger(
    events_api: dict[str, Any],
) -> None:
    action = pagerduty_action(events_api["url"])
    variables = {"incident": "INC-42", "priority": "critical", "reason": REASON}
    environ = {"PAGERDUTY_ROUTING_KEY": ROUTING_KEY}
    outcome = await run_action(action, variables, execution_id=7, environ=environ)
    assert (outcome.ok, outcome.code) == (True, 202), outcome
    (request,) = events_api["seen"]
    assert request["event"] == {
        "routing_key": ROUTING_KEY,  # from the environment
        "event_action": "trigger",
        "dedup_key": "INC-42",  # the incident ID
        "payload": {
            "summary": REASON,
            "severity": "critical",
            "source": "runbook-bot",
            "custom_details": {"incident": "INC-42", "priority": "critical"},
        },
    }
    assert request["headers"]["Content-Type"] == "application/json"
    assert request["headers"]["Idempotency-Key"] == "7"
    assert '"dedup_key": "INC-42"' in outcome.tail

    # A wrong key: PagerDuty's 400, and the key never shows in the output.
    wrong = "WR0NGKEY-from-the-environment"
    environ = {"PAGERDUTY_ROUTING_KEY": wrong}
    failed = await run_action(action, variables, execution_id=8, environ=environ)
    assert (failed.ok, failed.code, failed.summary) == (False, 400, "failed with HTTP 400")
    assert wrong not in failed.tail and MASK in failed.tail


def test_the_documented_verifier_accepts_the_bots_signature_only() -> None:
    (source,) = [b for b in blocks("python") if "def verify" in b]
    namespace: dict[str, Any] = {}
    exec(compile(source, str(DOC), "exec"), namespace)
    verify = namespace["verify"]
    body = b'{"incident": "INC-42"}'
    now = str(int(time.time()))
    headers = {"X-Runbook-Bot-Timestamp": now, "X-Runbook-Bot-Signature": sign("s3", now, body)}
    assert verify("s3", headers, body) is True
    assert verify("other", headers, body) is False
    assert verify("s3", headers, body + b" ") is False
    old = str(int(time.time()) - 600)
    stale = {"X-Runbook-Bot-Timestamp": old, "X-Runbook-Bot-Signature": sign("s3", old, body)}
    assert verify("s3", stale, body) is False
    assert verify("s3", {}, body) is False
