"""Housekeeping: forget delivered Slack messages and old idempotency keys.

The outbox and ``handled_requests`` only matter while a message is owed or a
Slack retry can still arrive; kept forever they would grow without bound. The
timeline is never pruned: it is the incident record.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.store.models import HandledRequest, OutboxMessage, utcnow
from bot.store.states import OutboxState
from bot.tasks import cancel_and_wait

log = logging.getLogger(__name__)

KEEP_SENT = timedelta(days=7)  # long enough to investigate a delivery question
KEEP_REQUESTS = timedelta(days=1)  # Slack retries within minutes


async def prune(
    sessions: async_sessionmaker[AsyncSession],
    *,
    now: datetime | None = None,
    keep_sent: timedelta = KEEP_SENT,
    keep_requests: timedelta = KEEP_REQUESTS,
) -> tuple[int, int]:
    """Delete sent outbox rows and idempotency keys past their use.
    Returns (outbox rows, keys) deleted. Pending and failed rows are kept."""
    now = now or utcnow()
    async with sessions() as session, session.begin():
        sent = await session.execute(
            delete(OutboxMessage).where(
                OutboxMessage.state == OutboxState.SENT, OutboxMessage.sent_at < now - keep_sent
            )
        )
        keys = await session.execute(
            delete(HandledRequest).where(HandledRequest.at < now - keep_requests)
        )
    return int(sent.rowcount or 0), int(keys.rowcount or 0)  # type: ignore[attr-defined]


class Retention:
    """Runs :func:`prune` now and then in the worker process."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], every: timedelta = timedelta(hours=1)
    ) -> None:
        self._sessions = sessions
        self._every = every.total_seconds()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="retention")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    async def _loop(self) -> None:
        while True:
            with contextlib.suppress(Exception):  # database down: try next time
                sent, keys = await prune(self._sessions)
                if sent or keys:
                    log.info("pruned %d delivered Slack messages, %d request keys", sent, keys)
            await asyncio.sleep(self._every)
