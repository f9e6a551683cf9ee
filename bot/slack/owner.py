"""Who holds an outbox lease, in a form the database can check.

Why: a lease that only says "until" makes a restarted worker wait out the
leases of the process that died (``OUTBOX_LEASE_SECONDS``), and lets a live
but slow worker lose its rows to another mid-delivery. So every lease names
its owner (``slack_outbox.lease_owner``), and ownership is a fact PostgreSQL
keeps: each live worker holds a session-level advisory lock keyed by its id on
a connection of its own. When the process dies, the connection closes and
PostgreSQL drops the lock; a claim then sees the owner gone (``pg_locks``) and
takes the row over at once. A live owner keeps its rows however long it takes.

On SQLite there is one process: whatever another run leased is void at
start-up (each start draws a new id, and a claim treats any other id as dead).
"""

from __future__ import annotations

import logging
import random
import time
from typing import Any

log = logging.getLogger("bot.slack.delivery")

# pg_advisory_lock(OWNER_LOCK_CLASS, <owner id>): the first key marks the lock
# as a runbook-bot worker's ("RBOT"), the second is the id on the leased rows.
OWNER_LOCK_CLASS = 0x52424F54

# The ids of live owners, read by the claim (an InitPlan: at most once per
# claim, and only when a row leased by another owner is looked at).
LIVE_OWNERS_SQL = (
    "ARRAY(SELECT objid::bigint FROM pg_locks WHERE locktype = 'advisory' "
    f"AND classid = {OWNER_LOCK_CLASS} AND objsubid = 2 AND granted "
    "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))"
)

# How often an idle owner checks that its lock connection is still there.
CHECK_SECONDS = 5.0


def _new_id() -> int:
    return random.randint(1, 2**31 - 1)  # an id, not a secret


class LeaseOwner:
    """This process's owner id. ``current()`` is None while it owns nothing
    (the lock connection is down): then it must not claim or lease."""

    def __init__(self, dsn: str | None) -> None:
        self._dsn = dsn  # None: SQLite, one process
        self._conn: Any = None
        self._id: int | None = None if dsn else _new_id()
        self._checked = 0.0
        self.changes = 0  # how many ids this process has held (1 after start)

    @property
    def postgres(self) -> bool:
        return self._dsn is not None

    def current(self) -> int | None:
        if self._conn is not None and self._conn.is_closed():
            self._lost("lock connection closed")
        return self._id

    async def ensure(self) -> int | None:
        """Hold the lock (take a new id if the connection was lost); the id or None."""
        if self._dsn is None:
            return self._id
        if self.current() is not None and time.monotonic() - self._checked < CHECK_SECONDS:
            return self._id
        if self._conn is not None:
            try:
                await self._conn.fetchval("SELECT 1", timeout=5)
                self._checked = time.monotonic()
                return self._id
            except Exception as exc:
                self._lost(repr(exc))
        await self._acquire()
        return self._id

    async def _acquire(self) -> None:
        import asyncpg  # only on PostgreSQL

        conn = await asyncpg.connect(self._dsn, timeout=5)
        try:
            for _ in range(100):
                candidate = _new_id()
                if await conn.fetchval(
                    "SELECT pg_try_advisory_lock($1::int4, $2::int4)", OWNER_LOCK_CLASS, candidate
                ):
                    break
            else:  # pragma: no cover - 100 collisions among 2^31 ids
                raise RuntimeError("could not take an outbox owner id")
        except BaseException:
            await conn.close()
            raise
        self._conn, self._id = conn, candidate
        self._checked = time.monotonic()
        self.changes += 1
        log.info("outbox: delivering as owner %d", candidate)

    def _lost(self, why: str) -> None:
        if self._id is not None:
            # PostgreSQL dropped (or will drop) the lock: other workers may
            # take this id's rows over now; a new id is taken for new claims.
            log.warning("outbox: lost owner lock %d (%s); taking a new one", self._id, why)
        conn, self._conn, self._id = self._conn, None, None
        if conn is not None and not conn.is_closed():
            conn.terminate()

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            try:
                await conn.close(timeout=2)  # ends the session: the lock goes with it
            except Exception:
                conn.terminate()
        if self._dsn is not None:
            self._id = None
