"""Slack's rate budgets, shared by every bot process (``bot/slack/pace.py``
says how fast each bucket may go).

Why in the database: Slack counts calls per workspace (and posts per
channel), not per process. Two workers pacing themselves separately would
each use the whole budget and Slack would refuse half their calls. So each
bucket is one row of ``slack_pace`` holding GCRA's theoretical arrival time
(``tat``): a call may go when ``tat - now`` is within its priority's
tolerance, and then moves ``tat`` one interval on — one statement, taken
under the row's lock, on the database's clock (the one clock every process
shares). After a 429, ``blocked_until`` keeps everyone off the bucket until
Slack's ``Retry-After`` has passed.

SQLite means one process: the same arithmetic in memory.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Protocol

from sqlalchemy import Float, bindparam, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.slack.pace import Priority, rate_of

Sessions = async_sessionmaker[AsyncSession]

# Take a call's slot: insert the bucket, or move its tat on — only when the
# call is within its tolerance and Slack has not asked us to wait. The outer
# SELECT sees the row as it was before (a refusal leaves it unchanged): how
# long until this priority may go.
_TAKE = text(
    """
    WITH took AS (
      INSERT INTO slack_pace AS p (bucket, tat)
      VALUES (:bucket, clock_timestamp() + make_interval(secs => :interval))
      ON CONFLICT (bucket) DO UPDATE
        SET tat = GREATEST(p.tat, clock_timestamp()) + make_interval(secs => :interval)
        WHERE p.tat - clock_timestamp() <= make_interval(secs => :tolerance)
          AND (p.blocked_until IS NULL OR p.blocked_until <= clock_timestamp())
      RETURNING 1
    )
    SELECT CASE WHEN EXISTS (SELECT 1 FROM took) THEN 0.0 ELSE COALESCE((
      SELECT GREATEST(
        EXTRACT(EPOCH FROM p.tat - clock_timestamp())::float8 - :tolerance,
        COALESCE(EXTRACT(EPOCH FROM p.blocked_until - clock_timestamp())::float8, 0.0),
        0.001)
      FROM slack_pace p WHERE p.bucket = :bucket), 0.001) END AS wait
    """
).bindparams(
    bindparam("interval", type_=Float()),
    bindparam("tolerance", type_=Float()),
)

_BLOCK = text(
    """
    INSERT INTO slack_pace AS p (bucket, tat, blocked_until)
    VALUES (:bucket, clock_timestamp(), clock_timestamp() + make_interval(secs => :seconds))
    ON CONFLICT (bucket) DO UPDATE SET blocked_until = GREATEST(
      COALESCE(p.blocked_until, clock_timestamp()), EXCLUDED.blocked_until)
    """
).bindparams(bindparam("seconds", type_=Float()))


_ENSURE = text(
    "INSERT INTO slack_pace (bucket, tat) VALUES (:bucket, clock_timestamp()) "
    "ON CONFLICT (bucket) DO NOTHING"
)
# How far ahead of now the bucket's tat is, and how long Slack asked us to wait.
_LOCK = text(
    "SELECT EXTRACT(EPOCH FROM tat - clock_timestamp())::float8, "
    "COALESCE(EXTRACT(EPOCH FROM blocked_until - clock_timestamp())::float8, 0.0) "
    "FROM slack_pace WHERE bucket = :bucket FOR UPDATE"
)
_ADVANCE = text(
    "UPDATE slack_pace SET tat = GREATEST(tat, clock_timestamp()) "
    "+ make_interval(secs => :seconds) WHERE bucket = :bucket"
).bindparams(bindparam("seconds", type_=Float()))


def slots(ahead: float, blocked: float, n: int, interval: float, tolerance: float) -> int:
    """How many of ``n`` calls may go now: GCRA with the bucket ``ahead``
    seconds past its steady pace (pure)."""
    if blocked > 0 or n <= 0:
        return 0
    ahead = max(0.0, ahead)
    if ahead > tolerance:
        return 0
    return min(n, math.floor((tolerance - ahead) / interval + 1e-9) + 1)


class Budgets(Protocol):
    async def take(self, bucket: str, priority: Priority) -> float:
        """0.0: go now (the call is counted). Otherwise: seconds until a call
        of this priority may go (nothing counted)."""
        ...

    async def refused(self, bucket: str, retry_after: float) -> None:
        """Slack answered 429: no call of this bucket before ``retry_after``."""
        ...

    async def take_many(self, bucket: str, n: int, priority: Priority) -> int:
        """Up to ``n`` calls' slots at once (counted): how many may go now."""
        ...


async def wait_for_slot(budgets: Budgets, bucket: str, priority: Priority) -> None:
    """Until a call of ``bucket`` may go (counted) — for background loops that
    have nothing better to do than wait for their turn."""
    while True:
        wait = await budgets.take(bucket, priority)
        if wait <= 0:
            return
        await asyncio.sleep(wait)  # the slot's known time


class SharedBudgets:
    """PostgreSQL: one autocommit statement per call, every process counted."""

    def __init__(self, sessions: Sessions) -> None:
        self._sessions = sessions

    async def take(self, bucket: str, priority: Priority) -> float:
        rate = rate_of(bucket)
        params = {
            "bucket": bucket,
            "interval": rate.interval,
            "tolerance": rate.tolerance(priority),
        }
        async with self._sessions() as session, session.begin():
            wait = (await session.execute(_TAKE, params)).scalar_one()
        return float(wait)

    async def refused(self, bucket: str, retry_after: float) -> None:
        async with self._sessions() as session, session.begin():
            await session.execute(_BLOCK, {"bucket": bucket, "seconds": float(retry_after)})

    async def take_many(self, bucket: str, n: int, priority: Priority) -> int:
        rate = rate_of(bucket)
        async with self._sessions() as session, session.begin():
            await session.execute(_ENSURE, {"bucket": bucket})
            ahead, blocked = (await session.execute(_LOCK, {"bucket": bucket})).one()
            k = slots(float(ahead), float(blocked), n, rate.interval, rate.tolerance(priority))
            if k:
                await session.execute(_ADVANCE, {"bucket": bucket, "seconds": k * rate.interval})
        return k


class LocalBudgets:
    """One process (SQLite): the same GCRA, in memory."""

    def __init__(self) -> None:
        self._tat: dict[str, float] = {}
        self._blocked: dict[str, float] = {}

    async def take(self, bucket: str, priority: Priority) -> float:
        return self.take_now(bucket, priority, time.monotonic())

    def take_now(self, bucket: str, priority: Priority, now: float) -> float:
        rate = rate_of(bucket)
        tolerance = rate.tolerance(priority)
        tat = self._tat.get(bucket, now)
        blocked = self._blocked.get(bucket, 0.0)
        if tat - now <= tolerance and blocked <= now:
            self._tat[bucket] = max(tat, now) + rate.interval
            return 0.0
        return max(tat - now - tolerance, blocked - now, 0.001)

    async def refused(self, bucket: str, retry_after: float) -> None:
        until = time.monotonic() + retry_after
        self._blocked[bucket] = max(self._blocked.get(bucket, 0.0), until)

    async def take_many(self, bucket: str, n: int, priority: Priority) -> int:
        rate, now = rate_of(bucket), time.monotonic()
        tat = self._tat.get(bucket, now)
        blocked = self._blocked.get(bucket, 0.0) - now
        k = slots(tat - now, blocked, n, rate.interval, rate.tolerance(priority))
        if k:
            self._tat[bucket] = max(tat, now) + k * rate.interval
        return k
