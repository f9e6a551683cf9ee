"""``runbook-bot serve`` in Socket Mode (SPEC §2–§3), as a real subprocess.

With ``SLACK_APP_TOKEN`` set, the bot asks ``apps.connections.open`` (through its
Web API client, i.e. the stand-in) for a websocket URL and takes slash commands
and clicks as Socket Mode envelopes from the stand-in; ``/healthz`` and
``/metrics`` stay on HTTP ``PORT``; no signing secret is needed.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.rig import SlackSigner, SlackStandIn, create_database, drop_database, ensure_postgres_up
from tests.rig.botserver import button_value
from tests.rig.standin import socket_envelope
from tests.test_cli import BIN, base_env, free_port, wait_healthy
from tests.test_e2e_runbook import is_step

APP_TOKEN = "xapp-1-test"


@pytest.fixture
async def standin() -> AsyncIterator[SlackStandIn]:
    async with SlackStandIn() as slack:
        yield slack
    assert slack.invalid == [], slack.invalid


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
        return
    await ensure_postgres_up()
    url = await create_database()
    try:
        yield url
    finally:
        await drop_database(url)


async def start_serve(
    tmp_path: Path, slack: SlackStandIn, database_url: str, **extra: str
) -> tuple[asyncio.subprocess.Process, int]:
    port = free_port()
    env = base_env(
        SLACK_BOT_TOKEN="xoxb-socket-test",
        SLACK_APP_TOKEN=APP_TOKEN,  # and no SLACK_SIGNING_SECRET
        SLACK_API_URL=slack.url,
        DATABASE_URL=database_url,
        PORT=str(port),
        HOST="127.0.0.1",
        INCIDENT_CHANNELS="incidents",
        **extra,
    )
    proc = await asyncio.create_subprocess_exec(
        str(BIN),
        "serve",
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    return proc, port


async def stop(proc: asyncio.subprocess.Process) -> str:
    """SIGTERM; the process must exit 0 without a traceback. Returns its stderr."""
    proc.send_signal(signal.SIGTERM)
    _, stderr = await asyncio.wait_for(proc.communicate(), timeout=30)
    log = stderr.decode(errors="replace")
    assert proc.returncode == 0, log
    assert "Traceback" not in log, log
    return log


async def envelope_ack(slack: SlackStandIn, body: bytes) -> dict[str, Any]:
    envelope_id = await slack.socket_send(socket_envelope(body))
    return await slack.socket_ack(envelope_id, timeout=10)


async def test_serve_in_socket_mode(
    tmp_path: Path, standin: SlackStandIn, database_url: str
) -> None:
    slack = standin
    proc, port = await start_serve(tmp_path, slack, database_url)
    base = f"http://127.0.0.1:{port}"
    signer = SlackSigner("unused-in-socket-mode")
    try:
        async with aiohttp.ClientSession() as http:
            await wait_healthy(http, base, proc)
            async with http.get(base + "/metrics") as response:
                assert response.status == 200
                assert "runbook_bot_" in await response.text()
            # Slack traffic does not come over HTTP: nothing unsigned gets in there.
            async with http.post(
                base + "/slack/events",
                data=signer.slash_command("/runbook", "start RB-04"),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            ) as response:
                assert response.status in (401, 404), response.status

        await slack.socket_connected(timeout=30)
        assert slack.calls_to("apps.connections.open"), slack.summary()
        assert not [r for r in slack.rejected if r.method == "apps.connections.open"]

        # /runbook list: the runbook list travels back in the ack's payload.
        ack = await envelope_ack(slack, signer.slash_command("/runbook", "list"))
        payload = ack.get("payload") or {}
        assert payload.get("response_type", "ephemeral") == "ephemeral", ack
        assert "RB-04" in payload.get("text", ""), ack
        assert "RB-12" in payload.get("text", ""), ack

        # /runbook start RB-04 in #incidents: acked empty, then run message + first step.
        ack = await envelope_ack(
            slack,
            signer.slash_command(
                "/runbook", "start RB-04 socket drill", channel_id="C_INC", user_id="UALICE"
            ),
        )
        assert not (ack.get("payload") or {}).get("text"), ack
        posted = await slack.wait_for("chat.postMessage", count=2, timeout=20)
        run_msg, step1 = posted[0], posted[1]
        assert "RB-04" in run_msg.args["text"] and "INC-" in run_msg.args["text"]
        assert is_step(step1), step1.args
        assert step1.args.get("thread_ts") == run_msg.ts
        labels = str(step1.args["blocks"])
        assert "Approve" in labels and "Skip" in labels

        # Approve, clicked in Slack, arrives as an interactive envelope.
        message = slack.message("C_INC", step1.ts)
        click = signer.block_action(
            "step_approve",
            button_value(message["blocks"], "step_approve"),
            message_ts=step1.ts,
            channel_id="C_INC",
            user_id="UALICE",
            message=message,
        )
        ack = await envelope_ack(slack, click)
        assert ack["envelope_id"]
        updates = await slack.wait_for(
            "chat.update", lambda c: c.args["ts"] == step1.ts, timeout=20
        )
        updated = updates[0].args
        assert updated["channel"] == "C_INC"
        assert "<@UALICE>" in str(updated.get("blocks")) + updated.get("text", "")
        assert "step_approve" not in str(slack.message("C_INC", step1.ts)["blocks"])
        # ...and the second step follows in the thread.
        await slack.wait_for("chat.postMessage", is_step, count=2, timeout=20)
    finally:
        if proc.returncode is None:
            await stop(proc)
    assert proc.returncode == 0


async def test_rejected_app_token_is_one_line(tmp_path: Path, standin: SlackStandIn) -> None:
    standin.fail("apps.connections.open", status=200, error="invalid_auth", times=100)
    proc, _ = await start_serve(tmp_path, standin, f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}")
    try:
        _, stderr = await asyncio.wait_for(proc.communicate(), timeout=60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    lines = [line for line in stderr.decode().splitlines() if line.startswith("runbook-bot:")]
    assert proc.returncode != 0
    assert lines and "SLACK_APP_TOKEN" in lines[-1] and "invalid_auth" in lines[-1], stderr
    assert b"Traceback" not in stderr, stderr.decode()
