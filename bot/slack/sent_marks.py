"""Recording "sent" for each Slack message the moment Slack answered it.

Why per message: a crash may then leave at most one message of a key in
doubt, and that one is looked up before it is posted again
(``bot/slack/lookup.py``). Why group-committed: many keys deliver at once (a
burst of deadlines or alerts), and one ``UPDATE`` per message made the marks
the delivery's bottleneck. Marks that arrive while one is being written go
together in the next statement, and each waits for its own to be committed
before its key's next message goes — the same guarantee, a fraction of the
statements.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.slack.outbox_rows import MARK_ALERT, MARK_SENT
from bot.store.models import utcnow

log = logging.getLogger("bot.slack.delivery")
Sessions = async_sessionmaker[AsyncSession]


class SentMarks:
    """Commit "sent" for one message before the next message of its key goes.

    On PostgreSQL: autocommit statements over a few connections of its own
    with ``synchronous_commit = off`` — one round trip, no WAL flush to wait
    for. A killed bot process loses nothing by that (the commit is in the
    server); a crash of PostgreSQL itself may forget the last marks of a
    fraction of a second, and those rows, still leased by an owner that is
    gone, are looked up before they are posted again. Elsewhere (SQLite, or
    while the pool cannot be opened): a transaction through ``sessions``.
    """

    SQL = (
        "UPDATE slack_outbox SET state = 'sent', sent_at = $2, result_ts = $3, "
        "locked_until = NULL WHERE id = $1"
    )
    # Several messages' marks in one statement (the group commit).
    BATCH_SQL = (
        "UPDATE slack_outbox AS o SET state = 'sent', sent_at = $3, result_ts = m.ts, "
        "locked_until = NULL FROM unnest($1::bigint[], $2::text[]) AS m(id, ts) WHERE o.id = m.id"
    )
    # With an alert message's ts and channel ID, still one statement.
    ALERT_SQL = (
        f"WITH sent AS ({SQL}) UPDATE alerts SET message_ts = $3, "
        "channel_id = coalesce($5::text, channel_id) WHERE id = $4"
    )
    WRITERS = 2  # statements in flight at once; the rest queue into the next one

    def __init__(self, sessions: Sessions, dsn: str | None) -> None:
        self._sessions = sessions
        self._dsn = dsn
        self._pool: Any = None
        self._opening: asyncio.Task[None] | None = None
        self._queue: list[tuple[int, str | None, asyncio.Future[None]]] = []
        self._writers: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        """Open the pool in the background: until it is there (or if it
        cannot be opened), marks go through ``sessions``, so the first
        deliveries after a start never wait for a connection."""
        if self._dsn is not None and self._pool is None and self._opening is None:
            self._opening = asyncio.create_task(self._open(), name="outbox-sent-marks")

    async def _open(self) -> None:
        import asyncpg  # only on PostgreSQL

        try:
            self._pool = await asyncpg.create_pool(
                self._dsn,
                min_size=1,
                max_size=4,
                timeout=5,
                command_timeout=10,
                # No NOTIFY either (migration 0004): nothing waits on a sent mark.
                server_settings={"synchronous_commit": "off", "runbook_bot.wake": "off"},
            )
        except Exception as exc:
            log.warning("outbox: no connections for sent marks (%r); using the pool", exc)
        finally:
            self._opening = None

    async def mark(
        self, row_id: int, ts: str | None, alert: tuple[int, str | None] | None = None
    ) -> None:
        """``alert``: (alert id, channel ID) of an alert message, recorded with it.
        Returns once the mark is committed; raises when it could not be."""
        if self._pool is not None:
            if alert is not None:
                await self._pool.execute(self.ALERT_SQL, row_id, utcnow(), ts, *alert)
                return
            done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._queue.append((row_id, ts, done))
            if len(self._writers) < self.WRITERS:
                writer = asyncio.create_task(self._write(), name="outbox-sent-marks-write")
                self._writers.add(writer)
            await done
            return
        self.start()  # again, if opening failed before
        async with self._sessions() as session, session.begin():
            await session.execute(MARK_SENT, [{"b_id": row_id, "b_ts": ts, "b_at": utcnow()}])
            if alert is not None:
                values = {"a_id": alert[0], "a_ts": ts, "a_channel": alert[1]}
                await session.execute(MARK_ALERT, [values])

    async def _write(self) -> None:
        """Write whatever is queued, one statement per batch, until nothing is."""
        try:
            await self._drain()
        finally:
            # Leave the set in the same step that saw the queue empty: a done
            # callback runs a turn later, and a mark queued in between would
            # count this writer as in flight and wait for it forever.
            task = asyncio.current_task()
            if task is not None:
                self._writers.discard(task)

    async def _drain(self) -> None:
        while self._queue:
            batch, self._queue = self._queue, []
            try:
                if len(batch) == 1:
                    await self._pool.execute(self.SQL, batch[0][0], utcnow(), batch[0][1])
                else:
                    ids = [row_id for row_id, _, _ in batch]
                    tss = [ts for _, ts, _ in batch]
                    await self._pool.execute(self.BATCH_SQL, ids, tss, utcnow())
            except Exception as exc:
                for _, _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
            else:
                for _, _, done in batch:
                    if not done.done():
                        done.set_result(None)

    async def close(self) -> None:
        if self._opening is not None:
            self._opening.cancel()
            with contextlib.suppress(BaseException):
                await self._opening
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await pool.close()
            except Exception:
                pool.terminate()
