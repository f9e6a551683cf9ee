"""The Slack outbox: Web API writes the bot owes, committed with the decision
that owes them and delivered after the commit by ``bot/slack/delivery.py``.

Why: a decision and the messages it owes commit in one transaction, so a click
the bot acknowledged is never lost, whatever Slack or the process does next.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    Column,
    Integer,
    Table,
    TextualSelect,
    bindparam,
    column,
    insert,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from bot.slack.pace import Priority
from bot.store.models import OutboxMessage, table_of, utcnow
from bot.store.states import OutboxState
from bot.store.writes import append_row, appended, note_inserted

# The suffix of the ordering key a key's updates queue under.
UPDATES = "/update"


def enqueue(
    session: AsyncSession,
    ordering_key: str,
    method: str,
    payload: dict[str, Any],
    *,
    thread_from: OutboxMessage | int | None = None,
    on_delivered: str | None = None,
    priority: Priority = Priority.OTHER,
    collapse: str | None = None,
) -> None:
    """Add a Slack call to the current transaction (written at commit).

    ``priority``: what goes first in the channel (``Priority``). ``collapse``:
    a key that later rows may collapse into (``enqueue_collapsing``).

    ``thread_from``: another outbox row whose delivered ``ts`` this call needs —
    as ``thread_ts`` for ``chat.postMessage``, as ``ts`` for ``chat.update``.
    ``on_delivered``: ``"run:<id>"`` / ``"incident:<id>"`` — record the returned
    ``ts`` as that run's message (and the incident's thread); ``"alert:<id>"``
    — as that alert's message (with the channel ID Slack answered with).
    """
    append_row(
        session,
        table_of(OutboxMessage),
        _outbox_row(ordering_key, method, payload, thread_from, on_delivered, priority, collapse),
    )


async def enqueue_collapsing(
    session: AsyncSession,
    ordering_key: str,
    method: str,
    payload: dict[str, Any],
    *,
    collapse: str,
    thread_from: OutboxMessage | int | None = None,
    priority: Priority = Priority.OTHER,
) -> bool:
    """Like :func:`enqueue`, but a pending row with the same ``collapse`` key
    that no worker holds yet takes this payload instead (the newest content
    wins; it keeps its place in the queue). True when it collapsed.

    Why: a message updated many times while it waits for Slack's pace (an
    alert group's counts, a run's progress) must go once, not once per change.
    """
    for row in reversed(appended(session, table_of(OutboxMessage))):
        if row.get("collapse_key") == collapse and row["method"] == method:
            row["payload"] = payload
            return True
    result = await session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.collapse_key == collapse,
            OutboxMessage.state == OutboxState.PENDING,
            OutboxMessage.method == method,
            OutboxMessage.lease_owner.is_(None),
        )
        .values(payload=payload)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount:  # type: ignore[attr-defined]
        return True
    enqueue(
        session,
        ordering_key,
        method,
        payload,
        thread_from=thread_from,
        priority=priority,
        collapse=collapse,
    )
    return False


async def enqueue_now(
    session: AsyncSession,
    ordering_key: str,
    method: str,
    payload: dict[str, Any],
    *,
    on_delivered: str | None = None,
    priority: Priority = Priority.OTHER,
) -> int:
    """Like :func:`enqueue`, inserted at once: returns the id later rows thread from."""
    row = _outbox_row(ordering_key, method, payload, None, on_delivered, priority, None)
    result = await session.execute(insert(OutboxMessage).values(**row).returning(OutboxMessage.id))
    row_id = int(result.scalar_one())
    note_inserted(session, row_id, row)  # it may be handed off too (bot/slack/delivery.py)
    return row_id


def _outbox_row(
    ordering_key: str,
    method: str,
    payload: dict[str, Any],
    thread_from: OutboxMessage | int | None,
    on_delivered: str | None,
    priority: Priority,
    collapse: str | None,
) -> dict[str, Any]:
    now = utcnow()
    parent = thread_from.id if isinstance(thread_from, OutboxMessage) else thread_from
    if method == "chat.update":
        # Updates queue apart from their key's posts: an update Slack refuses
        # for a while never holds up the next step (their order among
        # themselves is kept; one waits for the post it updates).
        ordering_key = f"{ordering_key}{UPDATES}"
    return {
        "ordering_key": ordering_key,
        "method": method,
        "payload": payload,
        "thread_from": parent,
        "on_delivered": on_delivered,
        "state": OutboxState.PENDING,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
        "priority": int(priority),
        "collapse_key": collapse,
    }


def claim_heads(
    table: Table,
    columns: Sequence[Column[Any]],
    *,
    postgres: bool,
    due: str = "",
    due_columns: Sequence[str] = (),
    window: int = 256,
    count_pending: bool = False,
    order: str = "id",
) -> TextualSelect:
    """Claim the oldest pending row of each ordering key, oldest first:
    ``:limit`` rows; ``due`` is an extra SQL condition on them, reading
    ``due_columns``.

    Only a key's oldest pending row may go; later ones wait their turn, and
    a row being worked on (locked, or leased and still pending) blocks its
    key. Built from one window-function pass, not ``NOT EXISTS (an older
    pending row of my key)``: these queue tables are usually near-empty, so
    the planner estimates a row or two and runs any join against them as
    nested loops — quadratic in the backlog (5–90 ms per claim at a few
    hundred to a thousand pending rows, exactly when claims matter). Here the
    heads are computed once (an InitPlan on PostgreSQL) and each row is
    checked against at most ``window`` ids, whatever the statistics say.
    Keys whose oldest row is past the ``window`` oldest heads wait until
    those go. ``count_pending``: each row also carries ``pending``, how many
    rows are pending in all (is there more to do after this?).
    """
    name = table.name
    cond = f" AND {due}" if due else ""
    heads = (
        f"SELECT id FROM (SELECT {', '.join(('id', 'ordering_key', *due_columns))}, "
        f"row_number() OVER "
        f"(PARTITION BY ordering_key ORDER BY id) AS rn FROM {name} "
        f"WHERE state = 'pending') AS h WHERE rn = 1{cond} ORDER BY {order} LIMIT {int(window)}"
    )
    member = f"id = ANY(ARRAY({heads}))" if postgres else f"id IN ({heads})"
    selected = ", ".join(c.name for c in columns)
    if count_pending:
        selected += f", (SELECT count(*) FROM {name} WHERE state = 'pending') AS pending"
    sql = (
        f"SELECT {selected} FROM {name} "
        f"WHERE state = 'pending'{cond} AND {member} ORDER BY {order} LIMIT :limit"
    )
    if postgres:
        sql += " FOR UPDATE SKIP LOCKED"
    statement = text(sql).columns(
        *columns, *([column("pending", Integer)] if count_pending else [])
    )
    if ":now" in sql:
        statement = statement.bindparams(bindparam("now", type_=table.c.created_at.type))
    return statement
