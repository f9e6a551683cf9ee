"""The Slack outbox: Web API writes the bot owes, committed with the decision
that owes them and delivered after the commit by ``bot/delivery.py``.

Why: a decision and the messages it owes commit in one transaction, so a click
the bot acknowledged is never lost, whatever Slack or the process does next.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Column, ColumnElement, Table, TextClause, any_, bindparam, insert, text
from sqlalchemy.dialects.postgresql import ARRAY
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


def heads_query(table: Table, *, due: str = "", due_columns: Sequence[str] = ()) -> TextClause:
    """``(id, ordering_key)`` of each key's oldest pending row, oldest first,
    at most ``:limit``; ``due`` is an extra SQL condition on those rows,
    reading ``due_columns``. Nothing is locked: callers lock what they pick.

    Only a key's oldest pending row may go next; later ones wait their turn,
    and a row being worked on (locked, or leased and still pending) blocks its
    key. Computed in one window-function pass rather than ``NOT EXISTS (an
    older pending row of my key)``: these queue tables are usually near-empty,
    so the planner estimates a row or two and runs any join against them as
    nested loops — quadratic in the backlog (5–90 ms per claim at a few
    hundred to a thousand pending rows, exactly when claims matter). This
    stays linear whatever the statistics say.
    """
    inner = ", ".join(("id", "ordering_key", *due_columns))
    cond = f" AND {due}" if due else ""
    statement = text(
        f"SELECT id, ordering_key FROM (SELECT {inner}, row_number() OVER "
        f"(PARTITION BY ordering_key ORDER BY id) AS rn FROM {table.name} "
        f"WHERE state = 'pending') AS h WHERE rn = 1{cond} ORDER BY id LIMIT :limit"
    )
    if ":now" in due:
        statement = statement.bindparams(bindparam("now", type_=table.c.created_at.type))
    return statement


def ids_filter(column: Column[Any], *, postgres: bool) -> ColumnElement[bool]:
    """``column`` is one of the ``:ids`` bound list (an array on PostgreSQL:
    one prepared statement whatever the list's length)."""
    if postgres:
        return column == any_(bindparam("ids", type_=ARRAY(column.type)))
    return column.in_(bindparam("ids", expanding=True))
