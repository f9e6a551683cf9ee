"""``runbook-bot serve`` (and ``worker``) as real subprocesses, for the kill tests.

Each bot starts in a process group of its own, so a test kills what an
operator's ``kill -9`` of the service kills: the serving process and its
worker child at once (``kill()``), or stops one of them (``worker_pid()``).
Modules bind the fixtures they use as module attributes so pytest finds them.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bot.store.models import OutboxMessage
from tests.rig import Call, SlackStandIn
from tests.rig.botserver import (
    SIGNING_SECRET,
    Response,
    button_value,
    new_trigger,
    skip_submission,
)
from tests.rig.signing import SlackSigner, post

BIN = Path(sys.executable).parent / "runbook-bot"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of a process group."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            out.append(int(entry.name))
    return out


class BotProcess:
    """``runbook-bot serve`` in a subprocess, driven over HTTP like Slack drives it."""

    def __init__(
        self,
        env: dict[str, str],
        log_path: Path,
        http: aiohttp.ClientSession,
        slack: SlackStandIn,
        mode: str = "serve",
    ) -> None:
        self.env = env
        self.log_path = log_path
        self.http = http
        self.slack = slack
        self.mode = mode  # serve, or worker (no HTTP port)
        self.port = int(env["PORT"])
        self.url = f"http://127.0.0.1:{self.port}"
        self.signer = SlackSigner(SIGNING_SECRET)
        self.proc: asyncio.subprocess.Process | None = None
        self.starts = 0
        self.healthy_at = 0.0  # time.monotonic() when /healthz first answered 200

    async def start(self, timeout: float = 30.0) -> None:
        self.starts += 1
        log = self.log_path.open("ab")
        log.write(f"\n===== {self.mode} start {self.starts} =====\n".encode())
        log.flush()
        self.proc = await asyncio.create_subprocess_exec(
            str(BIN),
            self.mode,
            env=self.env,
            cwd=str(self.log_path.parent),
            stdout=log,
            stderr=log,
            start_new_session=True,  # its own process group: serve and its worker
        )
        log.close()
        if self.mode != "serve":
            await self.wait_log("worker running", timeout)
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.returncode is None, f"bot exited:\n{self.log()}"
            try:
                async with self.http.get(self.url + "/healthz") as resp:
                    if resp.status == 200:
                        self.healthy_at = time.monotonic()
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.02)
        raise AssertionError(f"bot did not become healthy:\n{self.log()}")

    async def wait_log(self, text: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while (
            text
            not in self.log_path.read_text(errors="replace").split(f"start {self.starts} =====")[-1]
        ):
            assert time.monotonic() < deadline, f"no {text!r} in the log:\n{self.log()}"
            await asyncio.sleep(0.05)

    async def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal the whole process group (serve and its worker) and wait until
        every process of it is gone."""
        assert self.proc is not None and self.proc.returncode is None
        pgid = self.proc.pid
        os.killpg(pgid, sig)
        code = await asyncio.wait_for(self.proc.wait(), 15)
        if sig == signal.SIGKILL:
            assert code == -signal.SIGKILL
        deadline = time.monotonic() + 15
        while _group_members(pgid):
            assert time.monotonic() < deadline, "the worker outlived its group's kill"
            await asyncio.sleep(0.02)
        self.proc = None

    def worker_pid(self) -> int:
        """The supervised worker child of this ``serve``."""
        assert self.proc is not None
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text()
        pids = [int(p) for p in children.split()]
        assert len(pids) == 1, pids
        return pids[0]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:]

    async def send(self, body: bytes) -> Response:
        status, parsed, elapsed = await post(
            self.http, self.url + "/slack/events", body, signer=self.signer
        )
        return Response(status, parsed, elapsed)

    async def command(self, command: str, text: str, **kw: Any) -> Response:
        return await self.send(self.signer.slash_command(command, text, **kw))

    async def click(
        self, call: Call, action_id: str, user_id: str = "U1", trigger_id: str | None = None
    ) -> Response:
        channel = call.args["channel"]
        message = self.slack.message(channel, call.ts)
        body = self.signer.block_action(
            action_id,
            button_value(message.get("blocks", []), action_id),
            message_ts=call.ts,
            channel_id=channel,
            user_id=user_id,
            message=message,
            trigger_id=trigger_id,
        )
        return await self.send(body)

    async def skip(self, call: Call, user_id: str = "U1", reason: str = "") -> Response:
        """Click Skip, then submit the modal it opens."""
        trigger = new_trigger()
        clicked = await self.click(call, "step_skip", user_id, trigger)
        if clicked.status != 200:
            return clicked
        body = await skip_submission(
            self.slack, self.signer, trigger, user_id=user_id, reason=reason
        )
        return await self.send(body)

    async def metrics(self) -> str:
        async with self.http.get(self.url + "/metrics") as resp:
            return await resp.text()


@pytest.fixture
async def db(clean_db: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(clean_db)
    yield engine
    await engine.dispose()


@pytest.fixture
async def make_process(clean_db: str, slack: SlackStandIn, tmp_path: Path) -> AsyncIterator[Any]:
    procs: list[BotProcess] = []
    async with aiohttp.ClientSession() as http:

        def factory(mode: str = "serve", **extra: str) -> BotProcess:
            env = {
                "PATH": os.environ.get("PATH", ""),
                "HOME": os.environ.get("HOME", str(tmp_path)),
                "SLACK_BOT_TOKEN": "xoxb-test-token",
                "SLACK_SIGNING_SECRET": SIGNING_SECRET,
                "SLACK_API_URL": slack.url,
                "DATABASE_URL": clean_db,
                "PORT": str(free_port()),
                "HOST": "127.0.0.1",
                "INCIDENT_CHANNELS": "incidents",
                "STATUS_UPDATE_INTERVAL": "1800",
                "OUTBOX_LEASE_SECONDS": "1",
                "LOG_LEVEL": "INFO",
                **extra,
            }
            if os.environ.get("PYTHONPATH"):
                env["PYTHONPATH"] = os.environ["PYTHONPATH"]
            proc = BotProcess(env, tmp_path / f"bot{len(procs)}.log", http, slack, mode)
            procs.append(proc)
            return proc

        yield factory
        slack.release_holds()
        for proc in procs:
            if proc.proc is not None and proc.proc.returncode is None:
                for pid in _group_members(proc.proc.pid):
                    os.kill(pid, signal.SIGCONT)  # a stopped one would not die of SIGKILL
                os.killpg(proc.proc.pid, signal.SIGKILL)
                await proc.proc.wait()


async def scalar(db: AsyncEngine, query: Any) -> Any:
    async with db.connect() as conn:
        return (await conn.execute(query)).scalar()


async def pending(db: AsyncEngine) -> int:
    return await scalar(
        db, select(func.count(OutboxMessage.id)).where(OutboxMessage.state == "pending")
    )


async def drained(db: AsyncEngine, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while await pending(db):
        assert time.monotonic() < deadline, "outbox did not drain"
        await asyncio.sleep(0.05)


async def wait_rejected(slack: SlackStandIn, method: str, n: int = 1, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while len([r for r in slack.rejected if r.method == method]) < n:
        assert time.monotonic() < deadline, f"no attempt to call {method}"
        await asyncio.sleep(0.05)
