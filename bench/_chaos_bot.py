"""The chaos bench's bot: ``runbook-bot serve`` in its own process group, killed whole.

``SIGKILL`` goes to the group (serve and its ``WORKER=process`` child at once);
a kill returns only when no process of the group is left.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import aiohttp
from _common import SECRET, Process, bot_argv, free_port

INTERVAL = "2"  # STATUS_UPDATE_INTERVAL: a reminder to kill at comes every 2 s


def group_alive(pgid: int) -> bool:
    """Any live (non-zombie) process left in the process group."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if fields[0] != "Z" and int(fields[2]) == pgid:
                return True
    return False


class Bot:
    """The bot, killed and restarted as a whole (its own process group)."""

    def __init__(self, db_url: str, slack_url: str) -> None:
        self.port = free_port()
        self.env = {
            **os.environ,
            "SLACK_BOT_TOKEN": "xoxb-bench-token",
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": slack_url,
            "DATABASE_URL": db_url,
            "INCIDENT_CHANNELS": "incidents",
            "STATUS_UPDATE_INTERVAL": INTERVAL,
            "PORT": str(self.port),
            "HOST": "127.0.0.1",
            "LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
            "WORKER": "process",
        }
        self.env.pop("SLACK_APP_TOKEN", None)
        self.env.pop("OUTBOX_LEASE_SECONDS", None)
        self.proc: Process | None = None
        self.healthy_at = 0.0
        self.restart_seconds: list[float] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        began = time.monotonic()
        self.proc = Process(bot_argv(), self.env, self.port, "runbook-bot", new_session=True)
        async with aiohttp.ClientSession() as http:
            while True:
                if self.proc.proc.poll() is not None:
                    raise RuntimeError(f"the bot exited:\n{self.proc.log_tail()}")
                try:
                    async with http.get(self.url + "/healthz") as resp:
                        if resp.status == 200:
                            break
                except (aiohttp.ClientError, OSError):
                    pass
                if time.monotonic() - began > 60:
                    raise RuntimeError(f"the bot did not start:\n{self.proc.log_tail()}")
                await asyncio.sleep(0.01)
        self.healthy_at = time.monotonic()
        self.restart_seconds.append(self.healthy_at - began)

    async def kill(self) -> None:
        assert self.proc is not None
        pgid = self.proc.pid
        os.killpg(pgid, signal.SIGKILL)
        await asyncio.to_thread(self.proc.proc.wait)
        deadline = time.monotonic() + 15
        while group_alive(pgid):
            if time.monotonic() > deadline:
                raise RuntimeError("the worker outlived its group's SIGKILL")
            await asyncio.sleep(0.005)
        await self.proc.stop()

    async def stop(self) -> None:
        if self.proc is not None:
            await self.proc.stop()
