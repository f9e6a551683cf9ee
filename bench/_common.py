"""Shared helpers for the benchmark scripts (not a test module).

Every script runs the bot the way production does: ``runbook-bot serve`` as its
own process (with its worker child under ``WORKER=process``, the default;
``BENCH_WORKER=embedded`` keeps delivery and reminders in the serving process),
configured by environment variables, talking to a fresh PostgreSQL database and
to the Slack Web API stand-in from ``tests/rig`` (``bench/standin_server.py``,
its own process, on loopback). The load generator lives in the benchmark
process, so the bot's event loop never shares time with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python bench/x.py` puts bench/ first, not the repo
    sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402

from tests.rig import (  # noqa: E402
    SlackSigner,
    create_database,
    drop_database,
    ensure_postgres_up,
)

SECRET = "bench-signing-secret"
PREFIX = "runbook_bot_bench"


from _process import Process, descendants, postgres_cpu_seconds  # noqa: E402, F401
from _report import bench_line, machine, ms, percentile, print_header, table  # noqa: E402, F401

# --- database ----------------------------------------------------------------------


@contextlib.asynccontextmanager
async def fresh_database(*, migrate: bool = True) -> AsyncIterator[str]:
    """A new PostgreSQL database (``postgresql+asyncpg://`` URL), dropped afterwards."""
    await ensure_postgres_up()
    url = await create_database(prefix=PREFIX)
    try:
        if migrate:
            from bot.store.migrate import upgrade

            await upgrade(url)
        yield url
    finally:
        await drop_database(url)


def asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def pg_version(url: str) -> str:
    import asyncpg

    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()


# --- processes ---------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bot_argv() -> list[str]:
    """``runbook-bot serve`` from this interpreter's environment.

    With ``BENCH_PROFILE=<file>`` the bot runs under pyinstrument and writes a
    text profile there when it stops.
    """
    profile = os.environ.get("BENCH_PROFILE")
    if profile:
        return [
            sys.executable,
            "-m",
            "pyinstrument",
            "-r",
            "text",
            "-o",
            profile,
            "-m",
            "bot.cli",
            "serve",
        ]
    script = Path(sys.executable).parent / "runbook-bot"
    if script.exists():
        return [str(script), "serve"]
    return [sys.executable, "-m", "bot.cli", "serve"]


WORKER_MODES = ("process", "embedded")


def worker_mode(value: str | None = None) -> str:
    """Where the bot delivers and reminds: ``process`` (default) or ``embedded``.

    ``BENCH_WORKER`` sets it for every script (``bench/run_all.py --worker``).
    """
    mode = value or os.environ.get("BENCH_WORKER") or "process"
    if mode not in WORKER_MODES:
        raise SystemExit(f"worker mode must be one of {WORKER_MODES}, not {mode!r}")
    return mode


async def start_bot(
    database_url: str, slack_url: str, *, worker: str | None = None, **env: str
) -> Process:
    """``runbook-bot serve`` with ``WORKER=process`` (default) or ``embedded``."""
    mode = worker_mode(worker)
    port = free_port()
    values = {
        **os.environ,
        "SLACK_BOT_TOKEN": "xoxb-bench-token",
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": slack_url,
        "DATABASE_URL": database_url,
        "INCIDENT_CHANNELS": "incidents",
        "STATUS_UPDATE_INTERVAL": "1800",
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
        "WORKER": mode,
    }
    values.pop("SLACK_APP_TOKEN", None)
    values.update(env)
    bot = Process(bot_argv(), values, port, "runbook-bot")
    bot.expect_children = 1 if mode == "process" else 0
    await bot.wait_ready("/healthz")
    await bot.settle()
    return bot


async def start_bare(slack_url: str, mode: str, database_url: str | None = None) -> Process:
    """The framework's floor: a bare Bolt AsyncApp whose listeners only ack().

    ``durable``: its listeners INSERT and COMMIT one row first (``database_url``).
    """
    port = free_port()
    argv = [
        sys.executable,
        str(ROOT / "bench" / "bare_bolt.py"),
        "--port",
        str(port),
        "--mode",
        mode,
        "--slack-url",
        slack_url,
    ]
    if database_url:
        argv += ["--database-url", database_url]
    proc = Process(argv, {**os.environ, "PYTHONPATH": str(ROOT)}, port, f"bare-{mode}")
    await proc.wait_ready("/healthz")
    return proc


class RemoteCall:
    """A call the stand-in accepted, as reported by ``/bench/calls``."""

    __slots__ = ("args", "at", "method", "ts", "wall")

    def __init__(self, data: dict[str, Any]) -> None:
        self.method: str = data["method"]
        self.args: dict[str, Any] = data["args"]
        self.ts: str = str(data.get("ts") or "")
        self.at: float = float(data["at"])
        self.wall: float = float(data["wall"])


class StandIn:
    """``bench/standin_server.py`` in its own process; ``calls`` is refreshed on demand."""

    def __init__(self) -> None:
        self.calls: list[RemoteCall] = []
        self.invalid = 0
        self.rejected = 0
        self.received = 0  # Web API calls the stand-in received
        self.rate_limited = 0  # of them answered 429 by Slack's pace
        self.rate_limited_by_method: dict[str, int] = {}
        self.retried_early: dict[str, int] = {}  # calls made again before Retry-After
        self._proc: subprocess.Popen[bytes] | None = None
        self._http: aiohttp.ClientSession | None = None
        # One refresh at a time: two in flight ask for the same ``since`` and
        # would both append the same calls (an audit would count them twice).
        self._refreshing = asyncio.Lock()
        self.url = ""

    def _spawn(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "standin_server.py")],
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )

    async def __aenter__(self) -> StandIn:
        self._proc = self._spawn()
        assert self._proc.stdout is not None
        line = await asyncio.to_thread(self._proc.stdout.readline)
        if not line:
            raise RuntimeError("the Slack stand-in did not start")
        self.url = line.decode().strip()
        self._base = self.url.removesuffix("/api/")
        self._http = aiohttp.ClientSession()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._http is not None:
            await self._http.close()
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(self._proc.wait, 10)
            except subprocess.TimeoutExpired:
                self._proc.kill()

    async def refresh(self) -> list[RemoteCall]:
        """Fetch the calls accepted since the last refresh; return them."""
        assert self._http is not None
        async with self._refreshing:
            async with self._http.get(
                f"{self._base}/bench/calls", params={"since": str(len(self.calls))}
            ) as resp:
                data = await resp.json()
            new = [RemoteCall(c) for c in data["calls"]]
            self.calls.extend(new)
            self.invalid, self.rejected = data["invalid"], data["rejected"]
            self.received, self.rate_limited = data["received"], data["rate_limited"]
            self.rate_limited_by_method = data["rate_limited_by_method"]
            self.retried_early = data["retried_early"]
        return new

    def refused_share(self) -> float:
        """429s of Slack's pace / calls received, as of the last refresh."""
        return self.rate_limited / self.received if self.received else 0.0

    async def quiesce(self, quiet: float = 0.3, timeout: float = 120.0) -> None:
        """Wait until no new call has arrived for ``quiet`` seconds."""
        deadline = time.monotonic() + timeout
        last_change = time.monotonic()
        seen = len(self.calls)
        while time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            await self.refresh()
            # Counted, not what this refresh returned: a Poller refreshing
            # meanwhile takes the new calls, and this one would see none.
            if len(self.calls) != seen:
                seen = len(self.calls)
                last_change = time.monotonic()
            elif time.monotonic() - last_change >= quiet:
                return
        raise RuntimeError("the bot kept calling Slack; its outbox did not settle")


# --- requests ------------------------------------------------------------------------


signer = SlackSigner(SECRET)


class Poller:
    """Polls the stand-in's recorded calls into indexes a benchmark waits on;
    a subclass says how (``_index``)."""

    def __init__(self, slack: StandIn) -> None:
        self.slack = slack
        self._task: asyncio.Task[None] | None = None
        self._indexed = len(slack.calls)  # the calls up to here are indexed (or not wanted)

    def _index(self, calls: list[RemoteCall]) -> None:
        raise NotImplementedError

    def catch_up(self) -> None:
        """Index every call fetched so far, whoever fetched it (an audit's
        ``quiesce`` refreshes too: what it brings in must be indexed as well)."""
        new = self.slack.calls[self._indexed :]
        self._indexed += len(new)
        self._index(new)

    async def _poll(self) -> None:
        while True:
            await self.slack.refresh()
            self.catch_up()
            await asyncio.sleep(0.003)

    def start(self) -> None:
        self._task = asyncio.create_task(self._poll())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def wait(self, table_: dict[str, RemoteCall], key: str, timeout: float = 60.0) -> Any:
        deadline = time.monotonic() + timeout
        while key not in table_:
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out waiting for {key}")
            await asyncio.sleep(0.002)
        return table_[key]


async def send(http: aiohttp.ClientSession, url: str, body: bytes) -> tuple[int, float, Any]:
    """Sign now and POST to ``url/slack/events``; (status, seconds, parsed body)."""
    headers = signer.headers(body)
    started = time.perf_counter()
    async with http.post(url + "/slack/events", data=body, headers=headers) as resp:
        raw = await resp.read()
        elapsed = time.perf_counter() - started
        status = resp.status
    return status, elapsed, raw


INC_RE = re.compile(r"INC-(\d+)")


def click_body(call: RemoteCall, action_id: str, value: str, user_id: str = "U1") -> bytes:
    """A click on a message as posted (the stand-in's copy of it)."""
    channel = call.args["channel"]
    message = {**call.args, "ts": call.ts}
    return signer.block_action(
        action_id,
        value,
        message_ts=call.ts,
        channel_id=channel,
        user_id=user_id,
        thread_ts=call.args.get("thread_ts"),
        message=message,
    )


def step_button(call: Any, action_id: str) -> str | None:
    """The value of ``action_id``'s button in a posted message, if any."""
    for block in call.args.get("blocks") or []:
        if block.get("type") != "actions":
            continue
        for element in block.get("elements", []):
            if element.get("action_id") == action_id:
                return str(element.get("value", ""))
    return None


async def start_runs(
    http: aiohttp.ClientSession,
    url: str,
    steps: dict[str, Any],
    command: str,
    count: int,
    timeout: float = 60.0,
) -> list[int]:
    """Start ``count`` runs with ``/runbook <command>`` (``{i}``: the run's
    number) and wait until each has posted its first step into ``steps`` (a
    poller's ``"run:index"`` index); their run ids, ascending."""
    known = set(steps)
    for i in range(count):
        status, _, _ = await send(http, url, signer.slash_command("/runbook", command.format(i=i)))
        if status != 200:
            raise RuntimeError(f"start answered {status}")
    deadline = time.monotonic() + timeout
    while len(new := [k for k in steps if k not in known and k.endswith(":0")]) < count:
        if time.monotonic() > deadline:
            raise RuntimeError("runs did not post their first step")
        await asyncio.sleep(0.01)
    return sorted(int(k.split(":")[0]) for k in new)
