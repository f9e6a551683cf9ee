"""Waking the worker in another process: PostgreSQL LISTEN / NOTIFY.

Triggers on ``intake``, ``slack_outbox``, ``incidents`` (migrations 0002–0004)
and ``deadlines`` (0006)
notify inside the transaction that adds the work, so workers hear about it
exactly when it becomes visible — never before the commit, never for a
rolled-back one — and the bot spends no extra round trip on it. The payload
says what was added, so only the loop with work wakes; a worker process's own
transactions do not notify (it wakes itself). Workers listen on one dedicated
connection and fall back to polling if it drops, so a lost notification only
delays delivery by the poll interval.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from bot.tasks import cancel_and_wait

log = logging.getLogger(__name__)

# Notified by triggers on intake, slack_outbox, incidents and deadlines (0002–0006).
CHANNEL = "runbook_bot_wake"


@dataclass(frozen=True, slots=True)
class Wake:
    """Which loops a notification concerns."""

    intake: bool = False
    outbox: bool = False
    reminders: bool = False
    due: datetime | None = None  # a new incident's first reminder, or a deadline
    deadlines: bool = False


# Reconnected (anything may have been missed), or a database still at
# migration 0003 (empty payload): wake everything.
EVERYTHING = Wake(intake=True, outbox=True, reminders=True, deadlines=True)

DEADLINE = "deadline:"


def parse_wake(payload: str) -> Wake:
    if payload == "intake":
        return Wake(intake=True)
    if payload == "outbox":
        return Wake(outbox=True)
    if payload.startswith(DEADLINE):
        try:
            return Wake(deadlines=True, due=datetime.fromisoformat(payload[len(DEADLINE) :]))
        except ValueError:
            return Wake(deadlines=True)
    if payload:
        try:
            return Wake(reminders=True, due=datetime.fromisoformat(payload))
        except ValueError:
            pass
    return EVERYTHING


class WakeListener:
    """One LISTEN connection; calls ``on_wake(Wake)`` for every notification."""

    def __init__(
        self, dsn: str, on_wake: Callable[[Wake], None], *, retry_seconds: float = 2.0
    ) -> None:
        self._dsn = dsn
        self._on_wake = on_wake
        self._retry = retry_seconds
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="wake-listener")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    def _callback(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        self._on_wake(parse_wake(payload))

    async def _run(self) -> None:
        while True:
            conn = None
            try:
                conn = await asyncpg.connect(self._dsn, timeout=5)
                await conn.add_listener(CHANNEL, self._callback)
                self.connected.set()
                self._on_wake(EVERYTHING)  # catch up on anything committed while not listening
                while not conn.is_closed():
                    await asyncio.sleep(self._retry)
                    await conn.execute("SELECT 1")  # notice a silently dropped connection
            except asyncio.CancelledError:
                if conn is not None:
                    await conn.close(timeout=1)
                raise
            except Exception as exc:  # database down: polling covers it until we're back
                log.warning("wake listener: %r; retrying in %.0fs", exc, self._retry)
            finally:
                self.connected.clear()
                if conn is not None and not conn.is_closed():
                    conn.terminate()
            await asyncio.sleep(self._retry)
