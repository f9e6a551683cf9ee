"""The Slack outbox: Web API writes the bot owes, committed with the decision
that owes them and delivered after the commit by ``bot/delivery.py``.

Why: a decision and the messages it owes commit in one transaction, so a click
the bot acknowledged is never lost, whatever Slack or the process does next.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Subquery, Table, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.models import OutboxMessage, utcnow
from bot.writes import append_row


def enqueue(
    session: AsyncSession,
    ordering_key: str,
    method: str,
    payload: dict[str, Any],
    *,
    thread_from: OutboxMessage | int | None = None,
    on_delivered: str | None = None,
) -> None:
    """Add a Slack call to the current transaction (written at commit).

    ``thread_from``: another outbox row whose delivered ``ts`` this call needs —
    as ``thread_ts`` for ``chat.postMessage``, as ``ts`` for ``chat.update``.
    ``on_delivered``: ``"run:<id>"`` / ``"incident:<id>"`` — record the returned
    ``ts`` as that run's message (and the incident's thread).
    """
    append_row(
        session,
        OutboxMessage.__table__,  # type: ignore[arg-type]
        _outbox_row(ordering_key, method, payload, thread_from, on_delivered),
    )


async def enqueue_now(
    session: AsyncSession,
    ordering_key: str,
    method: str,
    payload: dict[str, Any],
    *,
    on_delivered: str | None = None,
) -> int:
    """Like :func:`enqueue`, inserted at once: returns the id later rows thread from."""
    row = _outbox_row(ordering_key, method, payload, None, on_delivered)
    result = await session.execute(insert(OutboxMessage).values(**row).returning(OutboxMessage.id))
    return int(result.scalar_one())


def _outbox_row(
    ordering_key: str,
    method: str,
    payload: dict[str, Any],
    thread_from: OutboxMessage | int | None,
    on_delivered: str | None,
) -> dict[str, Any]:
    now = utcnow()
    parent = thread_from.id if isinstance(thread_from, OutboxMessage) else thread_from
    return {
        "ordering_key": ordering_key,
        "method": method,
        "payload": payload,
        "thread_from": parent,
        "on_delivered": on_delivered,
        "state": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }


def pending_heads(table: Table) -> Subquery:
    """The oldest pending row of each ordering key (the only ones that may go next).

    Why GROUP BY and not ``NOT EXISTS (an older pending row of my key)``:
    these queue tables are usually near-empty, so the planner estimates a
    row or two and runs that anti-join as a nested loop of sequential scans —
    quadratic in the backlog, 5–20 ms per claim at a few hundred pending rows,
    which is exactly when claims matter. One grouping pass stays linear
    whatever the statistics say.
    """
    c = table.c
    return (
        select(func.min(c.id).label("id"))
        .where(c.state == "pending")
        .group_by(c.ordering_key)
        .subquery("heads")
    )
