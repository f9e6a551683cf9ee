"""What the outbox worker (``bot/slack/delivery.py``) reads and writes about its rows:
claims with a lease, "sent", "try again later", "failed", released leases, and
the ``ts`` a delivered run message leaves on its run and incident.

Each is one or two statements; the worker decides when to run them.
"""

from __future__ import annotations

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
from bot.store.models import Alert, Incident, OutboxMessage, Run, table_of, utcnow
from bot.store.states import OutboxState

# The worker's log: operators follow one logger for delivery (docs/operations.md).
log = logging.getLogger("bot.slack.delivery")

OUTBOX = table_of(OutboxMessage)

Sessions = async_sessionmaker[AsyncSession]


def _sql(query: Any) -> str:
    """The SQL text of a textual select (``text(...).columns(...)``)."""
    return str(query.element.text)


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
    priority: int = 4  # bot.slack.pace.Priority
    collapse_key: str | None = None
    attempts: int = 0
    # Slack may already have it: look it up before posting (bot/slack/lookup.py).
    in_doubt: bool = False


_COLUMNS = (
    "id",
    "ordering_key",
    "method",
    "payload",
    "thread_from",
    "on_delivered",
    "created_at",
    "priority",
    "collapse_key",
    "attempts",
)


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


# What goes first: a click's messages before escalations, alerts, reminders
# (``bot.slack.pace.Priority``), then the oldest.
_ORDER = "priority, id"


def _claim_statements() -> tuple[Any, Any]:
    """What is due, oldest first — built once (bound parameters ``now``,
    ``until``, ``owner``, ``busy``, ``limit``): lock, lease and read in one
    statement on PostgreSQL (one round trip, not two)."""
    c = OUTBOX.c
    columns = [c[name] for name in _COLUMNS]
    due_columns = ("next_attempt_at", "locked_until", "lease_owner", "priority")
    typed = (
        bindparam("now", type_=c.created_at.type),
        bindparam("until", type_=c.created_at.type),
    )
    sqlite_heads = claim_heads(
        OUTBOX, (c.id,), postgres=False, due=_due(False), due_columns=due_columns, order=_ORDER
    )
    sqlite_claim = text(
        f"UPDATE {OUTBOX.name} SET {_TAKE} WHERE id IN ({_sql(sqlite_heads)}) "
        f"RETURNING {', '.join(_COLUMNS)}, in_doubt"
    ).columns(*columns, c.in_doubt)
    heads = claim_heads(
        OUTBOX, (c.id,), postgres=True, due=_due(True), due_columns=due_columns, order=_ORDER
    )
    pg_claim = text(
        f"UPDATE {OUTBOX.name} SET {_TAKE} WHERE id IN ({_sql(heads)}) "
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
    .values(
        state=OutboxState.SENT,
        sent_at=bindparam("b_at"),
        result_ts=bindparam("b_ts"),
        locked_until=None,
    )
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
    # RETURNING has no order: first first, as claimed.
    return sorted((Claimed(*r) for r in result.all()), key=lambda r: (r.priority, r.id))


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
                    OutboxMessage.state == OutboxState.PENDING,
                )
                .values(locked_until=None, lease_owner=None)
            )
    except Exception as exc:  # their leases run out by themselves
        log.warning("outbox: could not release %d leased rows: %r", len(rows), exc)


# Rows waiting (not in backoff after a failure, not in flight) ahead of a
# higher-priority one in their key take its priority, due now.
INHERIT = text(
    "UPDATE slack_outbox AS o SET priority = v.p, "
    "next_attempt_at = LEAST(o.next_attempt_at, :now) "
    "FROM unnest(CAST(:keys AS text[]), CAST(:priorities AS smallint[])) AS v(k, p) "
    "WHERE o.ordering_key = v.k AND o.state = 'pending' AND o.priority > v.p "
    "AND o.attempts = 0 AND o.lease_owner IS NULL"
).bindparams(bindparam("now", type_=OUTBOX.c.created_at.type))

DEFER = text(
    "UPDATE slack_outbox SET next_attempt_at = :at, locked_until = NULL, lease_owner = NULL "
    "WHERE id = :id AND state = 'pending'"
).bindparams(bindparam("at", type_=OUTBOX.c.created_at.type))

# A pending row with the same collapse key, newer than this one: this one is superseded.
NEWER_OF_COLLAPSE = text(
    "SELECT 1 FROM slack_outbox WHERE collapse_key = :key AND state = 'pending' AND id > :id "
    "LIMIT 1"
)
SUPERSEDE = text(
    "UPDATE slack_outbox SET state = 'superseded', locked_until = NULL, lease_owner = NULL "
    "WHERE id = :id AND state = 'pending'"
)


async def defer(sessions: Sessions, row_id: int, at: datetime) -> None:
    """Not yet: Slack's pace (or a 429) says when. No attempt is counted."""
    async with sessions() as session, session.begin():
        await session.execute(DEFER, {"id": row_id, "at": at})


async def supersede_if_newer(sessions: Sessions, row: Claimed) -> bool:
    """A collapsing row with a newer one pending: skip it (the newer carries
    the newest content). True when skipped."""
    async with sessions() as session, session.begin():
        newer = (
            await session.execute(NEWER_OF_COLLAPSE, {"key": row.collapse_key, "id": row.id})
        ).first()
        if newer is None:
            return False
        await session.execute(SUPERSEDE, {"id": row.id})
    return True


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
    return found is not None and found.state == OutboxState.PENDING and found.lease_owner == owner


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
_ALERTS = table_of(Alert)
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
        if row is None or row.state != OutboxState.PENDING:
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
    backoff = delay if delay is not None else min(10.0, 0.25 * 2 ** min(row.attempts, 6))
    row.next_attempt_at = utcnow() + timedelta(seconds=backoff)
    row.locked_until = None
    await session.commit()
    if delay is None:
        log.warning("outbox: %s failed (attempt %d), retry in %.1fs", error, row.attempts, backoff)


async def fail(session: AsyncSession, row: OutboxMessage, error: str) -> None:
    row.state = OutboxState.FAILED
    row.lease_owner = None
    row.attempts += 1
    row.last_error = error[:2000]
    row.locked_until = None
    await session.commit()
    log.error("outbox: giving up on message %d: %s", row.id, error)
