"""Running an action: a real program (no shell) and a real HTTP request to a loopback receiver."""

from __future__ import annotations

import hmac
import json
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from bot.runbook.actions import CommandAction, HttpAction
from bot.runs.executor import MASK, run_action, sign

VARS = {"incident": "INC-7", "user": "U0ALICE1", "step": "2", "runbook": "RB-90"}
ENV = {"PATH": "/usr/bin:/bin", "DB_PASSWORD": "hunter2-secret", "HOOK_SECRET": "s3cr3t-key"}


def command(code: str, **extra: object) -> CommandAction:
    fields = {"id": "c", "kind": "command", "argv": [sys.executable, "-c", code], **extra}
    return CommandAction.model_validate(fields)


async def test_command_gets_whole_value_variables_and_shows_the_last_20_lines() -> None:
    code = "import sys\nfor n in range(30): print('line', n)\nprint(sys.argv[1:])"
    action = command(code, argv=[sys.executable, "-c", code, "{incident}; rm -rf /", "{user}"])
    outcome = await run_action(action, VARS, execution_id=1, environ=ENV)
    assert (outcome.ok, outcome.code, outcome.summary) == (True, 0, "succeeded")
    lines = outcome.tail.splitlines()
    assert len(lines) == 20 and lines[0] == "line 11"
    assert lines[-1] == "['INC-7; rm -rf /', 'U0ALICE1']"  # one argv element each, no shell


async def test_secrets_from_the_environment_are_masked_and_nothing_else_leaks() -> None:
    code = "import os; print(os.environ['PW'], sorted(os.environ))"
    action = command(code, env={"PW": "${DB_PASSWORD}"})
    outcome = await run_action(action, VARS, execution_id=1, environ=ENV)
    assert "hunter2-secret" not in outcome.tail
    assert outcome.tail.startswith(MASK)
    assert "HOOK_SECRET" not in outcome.tail  # the bot's own environment is not passed on


async def test_failing_and_timed_out_commands() -> None:
    failed = await run_action(command("print('boom'); raise SystemExit(3)"), VARS, execution_id=1)
    assert (failed.ok, failed.code, failed.summary, failed.tail) == (
        False,
        3,
        "failed with exit code 3",
        "boom",
    )
    slow = command("import time; time.sleep(30)", timeout="1s")
    outcome = await run_action(slow, VARS, execution_id=1)
    assert (outcome.ok, outcome.code, outcome.summary) == (False, None, "timed out after 1s")
    missing = command("", argv=["/nonexistent/prog"])
    gone = await run_action(missing, VARS, execution_id=1)
    assert not gone.ok and gone.summary.startswith("could not start")


@dataclass
class Receiver:
    url: str
    status: int = 200
    seen: list[dict[str, object]] = field(default_factory=list)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    box = Receiver("")

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        timestamp = request.headers.get("X-Runbook-Bot-Timestamp", "")
        expected = sign("s3cr3t-key", timestamp, body)
        given = request.headers.get("X-Runbook-Bot-Signature", "")
        box.seen.append(
            {
                "signed": hmac.compare_digest(expected, given),
                "key": request.headers.get("Idempotency-Key"),
                "auth": request.headers.get("Authorization"),
                "body": json.loads(body),
            }
        )
        return web.Response(status=box.status, text="queued s3cr3t-key\nok")

    async def moved(_: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect("/hook")

    app = web.Application()
    app.router.add_post("/hook", hook)
    app.router.add_post("/moved", moved)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    box.url = f"http://127.0.0.1:{port}/hook"
    yield box
    await runner.cleanup()


def http_action(url: str) -> HttpAction:
    return HttpAction.model_validate(
        {
            "id": "page",
            "kind": "http",
            "url": url,
            "headers": {"Authorization": "Token ${DB_PASSWORD}"},
            "body": {"incident": "{incident}", "by": "{user}", "n": 1},
            "secret_env": "HOOK_SECRET",
        }
    )


async def test_http_action_is_signed_and_carries_the_execution_id(receiver: Receiver) -> None:
    outcome = await run_action(http_action(receiver.url), VARS, execution_id=41, environ=ENV)
    assert (outcome.ok, outcome.code) == (True, 200)
    assert receiver.seen == [
        {
            "signed": True,
            "key": "41",
            "auth": "Token hunter2-secret",
            "body": {"incident": "INC-7", "by": "U0ALICE1", "n": 1},
        }
    ]
    assert outcome.tail == f"queued {MASK}\nok"  # the signing secret is masked too


async def test_http_action_failure_is_its_status(receiver: Receiver) -> None:
    receiver.status = 503
    outcome = await run_action(http_action(receiver.url), VARS, execution_id=42, environ=ENV)
    assert (outcome.ok, outcome.code, outcome.summary) == (False, 503, "failed with HTTP 503")


async def test_a_variables_value_is_never_read_as_an_environment_reference(
    receiver: Receiver,
) -> None:
    # {reason} (or any value the bot fills in) may contain "${…}": it stays text.
    tricky = {**VARS, "incident": "INC-7 ${DB_PASSWORD}", "user": "{incident}"}
    outcome = await run_action(http_action(receiver.url), tricky, execution_id=43, environ=ENV)
    assert outcome.ok
    body = receiver.seen[0]["body"]
    assert body == {"incident": "INC-7 ${DB_PASSWORD}", "by": "{incident}", "n": 1}


async def test_a_redirect_is_not_followed(receiver: Receiver) -> None:
    # The signed body and the secret headers go to the reviewed URL only.
    moved = http_action(receiver.url.replace("/hook", "/moved"))
    outcome = await run_action(moved, VARS, execution_id=44, environ=ENV)
    assert (outcome.ok, outcome.code, outcome.summary) == (False, 307, "failed with HTTP 307")
    assert receiver.seen == []
