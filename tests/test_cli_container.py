"""What running in a container asks of the commands, through the installed
``runbook-bot`` as users (and the image) start it: SIGTERM stops ``serve`` while
its database hangs at start-up; the playground listens on HOST and its hint
fits where it runs. The image itself is smoke-tested by `make image-test`."""

from __future__ import annotations

import asyncio
import signal
import socket
from pathlib import Path

import aiohttp

from bot.playground.server import SLACK_HINT, SLACK_HINT_INSTALLED, loopback_for, slack_hint
from tests.test_cli import BIN, base_env, free_port

REPO = Path(__file__).resolve().parent.parent


async def test_sigterm_stops_serve_while_the_database_hangs_at_start_up(tmp_path: Path) -> None:
    connected = asyncio.Event()
    held: list[asyncio.StreamWriter] = []

    async def accept(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)  # accepted, never answered: a database hanging at start-up
        connected.set()

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    env = base_env(
        DATABASE_URL=f"postgresql+asyncpg://u@127.0.0.1:{port}/db",
        SLACK_BOT_TOKEN="xoxb-test",
        SLACK_SIGNING_SECRET="secret",
        PORT=str(free_port()),
    )
    proc = await asyncio.create_subprocess_exec(
        str(BIN), "serve", cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        await asyncio.wait_for(connected.wait(), 60)  # its migration waits on the database
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), 10)
    finally:
        if proc.returncode is None:
            proc.kill()
        server.close()
    assert proc.stdout is not None
    out = (await proc.stdout.read()).decode()
    assert code == 0, out
    assert "stopped before start-up finished" in out
    assert "Traceback" not in out


async def test_playground_listens_on_host_and_answers_there(tmp_path: Path) -> None:
    port = free_port()
    env = base_env(HOST="127.0.0.2", PORT=str(port))
    proc = await asyncio.create_subprocess_exec(
        str(BIN), "playground", cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        while not any("connect a real Slack" in line for line in lines):
            line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
            assert line, "".join(lines)
            lines.append(line)
        text = "".join(lines)
        assert f"open http://127.0.0.2:{port}/" in text, text
        # Outside a checkout there is no `make run` to suggest.
        assert "runbook-bot serve" in lines[-1] and "make run" not in text
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.2:{port}/") as resp:
                assert resp.status == 200
        with socket.socket() as sock:  # loopback's usual address is not listened on
            assert sock.connect_ex(("127.0.0.1", port)) != 0
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 15) == 0


def test_hint_and_own_address_follow_where_it_runs(tmp_path: Path) -> None:
    assert slack_hint(REPO) == SLACK_HINT and "make run" in SLACK_HINT
    assert slack_hint(tmp_path) == SLACK_HINT_INSTALLED
    assert loopback_for("0.0.0.0") == "127.0.0.1"
    assert loopback_for("::") == "127.0.0.1"
    assert loopback_for("::1") == "[::1]"
    assert loopback_for("10.1.2.3") == "10.1.2.3"
