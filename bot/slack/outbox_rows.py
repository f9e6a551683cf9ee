"""What the outbox worker (``bot/slack/delivery.py``) reads and writes about its rows:
claims with a lease, "sent", "try again later", "failed", released leases, and
the ``ts`` a delivered run message leaves on its run and incident.

Each is one or two statements; the worker decides when to run them.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import String, bindparam, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.slack.outbox import claim_heads
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


def _claim_statements() -> tuple[Any, Any]:
    """What is due, oldest first — built once (bound parameters ``now``, ``limit``;
    on PostgreSQL also ``until``, the lease, taken by the same statement)."""
    c = OUTBOX.c
    columns = (c.id, c.ordering_key, c.method, c.payload, c.thread_from, c.on_delivered)
    # A head in backoff or leased to a worker blocks its key (order across processes).
    due = "next_attempt_at <= :now AND (locked_until IS NULL OR locked_until < :now)"
    due_columns = ("next_attempt_at", "locked_until")
    sqlite_claim = claim_heads(OUTBOX, columns, postgres=False, due=due, due_columns=due_columns)
    # PostgreSQL: lock, lease and read in one statement (one round trip, not two).
    heads = claim_heads(OUTBOX, (c.id,), postgres=True, due=due, due_columns=due_columns)
    pg_claim = text(
        f"UPDATE {OUTBOX.name} SET locked_until = :until WHERE id IN ({heads.element.text}) "
        f"RETURNING {', '.join(col.name for col in columns)}"
    ).columns(*columns)
    pg_claim = pg_claim.bindparams(
        bindparam("now", type_=c.created_at.type), bindparam("until", type_=c.created_at.type)
    )
    return sqlite_claim, pg_claim


_CLAIM, _CLAIM_PG = _claim_statements()

# The pending rows of some keys (index ix_outbox_key_state_id).
PENDING_OF_KEYS = text(
    "SELECT id, ordering_key FROM slack_outbox WHERE state = 'pending' "
    "AND ordering_key = ANY(:keys)"
)

# Lease rows a transaction inserted itself (a start's run message).
LEASE = text("UPDATE slack_outbox SET locked_until = :until WHERE id = ANY(:ids)").bindparams(
    bindparam("until", type_=OUTBOX.c.created_at.type)
)

# One statement, run with many parameter sets (asyncpg pipelines them).
MARK_SENT = (
    update(OUTBOX)
    .where(OUTBOX.c.id == bindparam("b_id"))
    .values(state="sent", sent_at=bindparam("b_at"), result_ts=bindparam("b_ts"), locked_until=None)
)


async def claim(
    session: AsyncSession, *, now: datetime, until: datetime, limit: int, postgres: bool
) -> list[Claimed]:
    """Lease the oldest due row of each key until ``until``; oldest first."""
    if postgres:
        result = await session.execute(_CLAIM_PG, {"now": now, "until": until, "limit": limit})
        # RETURNING has no order: oldest first, as claimed.
        return sorted((Claimed(*r) for r in result.all()), key=lambda r: r.id)
    rows = [Claimed(*r) for r in (await session.execute(_CLAIM, {"now": now, "limit": limit}))]
    if rows:
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_([r.id for r in rows]))
            .values(locked_until=until)
        )
    return rows


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
                .values(locked_until=None)
            )
    except Exception as exc:  # their leases run out by themselves
        log.warning("outbox: could not release %d leased rows: %r", len(rows), exc)


async def still_pending(sessions: Sessions, row_id: int) -> bool:
    async with sessions() as session:
        state = (
            await session.execute(select(OutboxMessage.state).where(OutboxMessage.id == row_id))
        ).scalar()
    return state == "pending"


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
# needs the ID; ALERT_CHANNEL may be a name), recorded with the batch of "sent"
# marks (``OutboxWorker._record_sent``), not in a transaction per message: an
# alert burst posts hundreds at once, and nothing threads under them.
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
    """``"alert:<id>"`` → id (recorded in the batch, not in a transaction of its own)."""
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
    session: AsyncSession, row: OutboxMessage, error: str, delay: float | None = None
) -> None:
    row.attempts += 1
    row.last_error = error[:2000]
    backoff = delay if delay is not None else min(60.0, 0.5 * 2 ** min(row.attempts, 7))
    row.next_attempt_at = utcnow() + timedelta(seconds=backoff)
    row.locked_until = None
    await session.commit()
    if delay is None:
        log.warning("outbox: %s failed (attempt %d), retry in %.1fs", error, row.attempts, backoff)


async def fail(session: AsyncSession, row: OutboxMessage, error: str) -> None:
    row.state = "failed"
    row.attempts += 1
    row.last_error = error[:2000]
    row.locked_until = None
    await session.commit()
    log.error("outbox: giving up on message %d: %s", row.id, error)
