"""What the outbox worker (``bot/slack/delivery.py``) reads and writes about its rows:
claims with a lease, "sent", "try again later", "failed", released leases, and
the ``ts`` a delivered run message leaves on its run and incident.

Each is one or two statements; the worker decides when to run them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, String, bindparam, func, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.slack.outbox import claim_heads
from bot.slack.owner import LIVE_OWNERS_SQL
from bot.store.models import Alert, Incident, OutboxMessage, Run, utcnow

# The worker's log: operators follow one logger for delivery (docs/operations.md).
log = logging.getLogger("bot.slack.delivery")

OUTBOX = OutboxMessage.__table__

Sessions = async_sessionmaker[AsyncSession]


@dataclass(frozen=True, slots=True)
class Claimed:
    """A leased row, read by the claim itself (no second SELECT per row)."""

    id: int
    ordering_key: str
    method: str
    payload: dict[str, Any]
    thread_from: int | None
    on_delivered: str | None
    created_at: datetime | None = None
    # Slack may already have it: look it up before posting (bot/slack/lookup.py).
    in_doubt: bool = False


_COLUMNS = ("id", "ordering_key", "method", "payload", "thread_from", "on_delivered", "created_at")


def _due(postgres: bool) -> str:
    """What a claim may take: due, and not leased — or leased by an owner that
    is gone (``bot/slack/owner.py``), or by this owner but forgotten (its lease
    ran out and it is not in flight here: ``:busy``). A live owner's lease
    holds however long it lasts: a slow worker keeps its rows."""
    if postgres:
        busy, dead = "id = ANY(:busy)", f"lease_owner <> ALL({LIVE_OWNERS_SQL})"
    else:  # one process: any other id is a previous run's
        busy, dead = "id IN (SELECT value FROM json_each(:busy))", "TRUE"
    return (
        "next_attempt_at <= :now AND ("
        "(lease_owner IS NULL AND (locked_until IS NULL OR locked_until < :now))"
        f" OR (lease_owner = :owner AND locked_until < :now AND NOT ({busy}))"
        f" OR (lease_owner <> :owner AND {dead}))"
    )


# A row taken over with an owner still on it was never settled: in doubt.
_TAKE = (
    "locked_until = :until, lease_owner = :owner, in_doubt = (in_doubt OR lease_owner IS NOT NULL)"
)


def _claim_statements() -> tuple[Any, Any]:
    """What is due, oldest first — built once (bound parameters ``now``,
    ``until``, ``owner``, ``busy``, ``limit``): lock, lease and read in one
    statement on PostgreSQL (one round trip, not two)."""
    c = OUTBOX.c
    columns = [c[name] for name in _COLUMNS]
    due_columns = ("next_attempt_at", "locked_until", "lease_owner")
    typed = (
        bindparam("now", type_=c.created_at.type),
        bindparam("until", type_=c.created_at.type),
    )
    sqlite_heads = claim_heads(
        OUTBOX, (c.id,), postgres=False, due=_due(False), due_columns=due_columns
    )
    sqlite_claim = text(
        f"UPDATE {OUTBOX.name} SET {_TAKE} WHERE id IN ({sqlite_heads.element.text}) "
        f"RETURNING {', '.join(_COLUMNS)}, in_doubt"
    ).columns(*columns, c.in_doubt)
    heads = claim_heads(OUTBOX, (c.id,), postgres=True, due=_due(True), due_columns=due_columns)
    pg_claim = text(
        f"UPDATE {OUTBOX.name} SET {_TAKE} WHERE id IN ({heads.element.text}) "
        f"RETURNING {', '.join(_COLUMNS)}, in_doubt"
    ).columns(*columns, c.in_doubt)
    pg_claim = pg_claim.bindparams(*typed, bindparam("busy", type_=ARRAY(BigInteger)))
    return sqlite_claim.bindparams(*typed), pg_claim


_CLAIM, _CLAIM_PG = _claim_statements()

# The pending rows of some keys (index ix_outbox_key_state_id).
PENDING_OF_KEYS = text(
    "SELECT id, ordering_key FROM slack_outbox WHERE state = 'pending' "
    "AND ordering_key = ANY(:keys)"
)

# Lease rows a transaction inserted itself (a start's run message).
LEASE = text(
    "UPDATE slack_outbox SET locked_until = :until, lease_owner = :owner WHERE id = ANY(:ids)"
).bindparams(bindparam("until", type_=OUTBOX.c.created_at.type))

# One statement, run with many parameter sets (asyncpg pipelines them).
MARK_SENT = (
    update(OUTBOX)
    .where(OUTBOX.c.id == bindparam("b_id"))
    .values(state="sent", sent_at=bindparam("b_at"), result_ts=bindparam("b_ts"), locked_until=None)
)


async def claim(
    session: AsyncSession,
    *,
    now: datetime,
    until: datetime,
    limit: int,
    postgres: bool,
    owner: int,
    busy: Sequence[int] = (),
) -> list[Claimed]:
    """Lease the oldest due row of each key to ``owner`` until ``until``; oldest first."""
    params: dict[str, Any] = {"now": now, "until": until, "limit": limit, "owner": owner}
    if postgres:
        params["busy"] = list(busy)
        result = await session.execute(_CLAIM_PG, params)
    else:
        params["busy"] = json.dumps(list(busy))
        result = await session.execute(_CLAIM, params)
    # RETURNING has no order: oldest first, as claimed.
    return sorted((Claimed(*r) for r in result.all()), key=lambda r: r.id)


async def release(sessions: Sessions, rows: Sequence[Claimed]) -> None:
    """Give up leases early, so the rows are claimed in order, not at lease end."""
    if not rows:
        return
    try:
        async with sessions() as session, session.begin():
            await session.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.id.in_([r.id for r in rows]),
                    OutboxMessage.state == "pending",
                )
                .values(locked_until=None, lease_owner=None)
            )
    except Exception as exc:  # their leases run out by themselves
        log.warning("outbox: could not release %d leased rows: %r", len(rows), exc)


async def still_ours(sessions: Sessions, row_id: int, owner: int | None) -> bool:
    """Still pending and leased to ``owner`` (no one took it over meanwhile)."""
    async with sessions() as session:
        found = (
            await session.execute(
                select(OutboxMessage.state, OutboxMessage.lease_owner).where(
                    OutboxMessage.id == row_id
                )
            )
        ).first()
    return found is not None and found.state == "pending" and found.lease_owner == owner


async def parent(sessions: Sessions, row_id: int) -> tuple[str, str | None] | None:
    """(state, delivered ts) of the row a message threads from."""
    async with sessions() as session:
        found = (
            await session.execute(
                select(OutboxMessage.state, OutboxMessage.result_ts).where(
                    OutboxMessage.id == row_id
                )
            )
        ).first()
    return (found.state, found.result_ts) if found is not None else None


# An alert message's ts and the channel ID Slack answered with (chat.update
# needs the ID; ALERT_CHANNEL may be a name), recorded with its "sent" mark
# (``SentMarks``: one autocommit statement, not a transaction per message: an
# alert burst posts hundreds at once, and nothing threads under them).
_ALERTS = Alert.__table__
MARK_ALERT = (
    update(_ALERTS)
    .where(_ALERTS.c.id == bindparam("a_id"))
    .values(
        message_ts=bindparam("a_ts"),
        channel_id=func.coalesce(bindparam("a_channel", type_=String()), _ALERTS.c.channel_id),
    )
)


def alert_target(target: str | None) -> int | None:
    """``"alert:<id>"`` → id (recorded with the sent mark, ``SentMarks``)."""
    kind, _, raw_id = (target or "").partition(":")
    return int(raw_id) if kind == "alert" and raw_id.isdigit() else None


async def mark_delivered_with_ts(sessions: Sessions, row_id: int, target: str, ts: str) -> None:
    """A run or incident message: its ``ts`` and its sent mark commit together."""
    async with sessions() as session, session.begin():
        await session.execute(MARK_SENT, [{"b_id": row_id, "b_ts": ts, "b_at": utcnow()}])
        await _record_ts(session, target, ts)


async def _record_ts(session: AsyncSession, target: str, ts: str) -> None:
    kind, _, raw_id = target.partition(":")
    if kind == "run":
        run_id = int(raw_id)
        await session.execute(update(Run).where(Run.id == run_id).values(message_ts=ts))
        incident_id = select(Run.incident_id).where(Run.id == run_id).scalar_subquery()
        await session.execute(
            update(Incident)
            .where(Incident.id == incident_id, Incident.thread_ts.is_(None))
            .values(thread_ts=ts)
        )
    elif kind == "incident":
        await session.execute(
            update(Incident)
            .where(Incident.id == int(raw_id), Incident.thread_ts.is_(None))
            .values(thread_ts=ts)
        )


Outcome = Callable[..., Awaitable[None]]


async def settle(sessions: Sessions, row_id: int, outcome: Outcome, *args: Any) -> None:
    """Record a failed attempt (rare path: the ORM row is loaded for it)."""
    async with sessions() as session:
        row = await session.get(OutboxMessage, row_id)
        if row is None or row.state != "pending":
            return
        await outcome(session, row, *args)


async def reschedule(
    session: AsyncSession,
    row: OutboxMessage,
    error: str,
    delay: float | None = None,
    doubt: bool = False,
) -> None:
    """Try again later; ``doubt``: Slack may have it after all (look it up first)."""
    row.attempts += 1
    row.in_doubt = row.in_doubt or doubt
    row.lease_owner = None
    row.last_error = error[:2000]
    backoff = delay if delay is not None else min(60.0, 0.5 * 2 ** min(row.attempts, 7))
    row.next_attempt_at = utcnow() + timedelta(seconds=backoff)
    row.locked_until = None
    await session.commit()
    if delay is None:
        log.warning("outbox: %s failed (attempt %d), retry in %.1fs", error, row.attempts, backoff)


async def fail(session: AsyncSession, row: OutboxMessage, error: str) -> None:
    row.state = "failed"
    row.lease_owner = None
    row.attempts += 1
    row.last_error = error[:2000]
    row.locked_until = None
    await session.commit()
    log.error("outbox: giving up on message %d: %s", row.id, error)


class SentMarks:
    """Commit "sent" for one message the moment Slack answered it, before the
    next message of its key goes (so a crash leaves at most one message of a
    key in doubt, and that one is looked up: ``bot/slack/lookup.py``).

    On PostgreSQL: one ``UPDATE`` in autocommit over a few connections of
    its own with ``synchronous_commit = off`` — one round trip, no WAL flush
    to wait for. A killed bot process loses nothing by that (the commit is in
    the server); a crash of PostgreSQL itself may forget the last marks of a
    fraction of a second, and those rows, still leased by an owner that is
    gone, are looked up before they are posted again. Elsewhere (SQLite, or
    while the pool cannot be opened): a transaction through ``sessions``.
    """

    SQL = (
        "UPDATE slack_outbox SET state = 'sent', sent_at = $2, result_ts = $3, "
        "locked_until = NULL WHERE id = $1"
    )
    # With an alert message's ts and channel ID, still one statement.
    ALERT_SQL = (
        f"WITH sent AS ({SQL}) UPDATE alerts SET message_ts = $3, "
        "channel_id = coalesce($5::text, channel_id) WHERE id = $4"
    )

    def __init__(self, sessions: Sessions, dsn: str | None) -> None:
        self._sessions = sessions
        self._dsn = dsn
        self._pool: Any = None
        self._opening: asyncio.Task[None] | None = None

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
        """``alert``: (alert id, channel ID) of an alert message, recorded with it."""
        if self._pool is not None:
            if alert is None:
                await self._pool.execute(self.SQL, row_id, utcnow(), ts)
            else:
                await self._pool.execute(self.ALERT_SQL, row_id, utcnow(), ts, *alert)
            return
        self.start()  # again, if opening failed before
        async with self._sessions() as session, session.begin():
            await session.execute(MARK_SENT, [{"b_id": row_id, "b_ts": ts, "b_at": utcnow()}])
            if alert is not None:
                values = {"a_id": alert[0], "a_ts": ts, "a_channel": alert[1]}
                await session.execute(MARK_ALERT, [values])

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
