"""Append-only rows a transaction writes — timeline events and outbox
messages — buffered on the session and written with one multi-row INSERT per
table just before the commit.

Why: a click appends one event and three or four Slack messages; the ORM's
unit of work (identity map, per-row RETURNING) cost more CPU than the rest of
the click's transaction, and that CPU sits in front of the ack. Nothing ever
reads these rows back inside the transaction that wrote them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, event, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from bot.store.models import OutboxMessage, TimelineEvent, table_of

# Written in this order; each table's rows keep the order they were appended in.
_OUTBOX: Table = table_of(OutboxMessage)
_TABLES: tuple[Table, ...] = (table_of(TimelineEvent), _OUTBOX)
_KEY = "append_rows"
# Outbox rows this transaction inserted with their ids, as ``(id, row)`` pairs:
# at once (``bot.outbox.enqueue_now``), when a savepoint was released, or at
# commit when some were leased (``locked_until``) for a hand-off.
_INSERTED = "outbox_inserted"


def append_row(session: AsyncSession | Session, table: Table, values: dict[str, Any]) -> None:
    session.info.setdefault(_KEY, {}).setdefault(table.name, []).append(values)


def appended(session: AsyncSession | Session, table: Table) -> list[dict[str, Any]]:
    """The rows appended to ``table`` so far in this transaction (mutable)."""
    return session.info.get(_KEY, {}).get(table.name, [])


def note_inserted(session: AsyncSession | Session, row_id: int, values: dict[str, Any]) -> None:
    """An outbox row this transaction inserted itself (not at commit)."""
    session.info.setdefault(_INSERTED, []).append((row_id, values))


def inserted(session: AsyncSession | Session) -> list[tuple[int, dict[str, Any]]]:
    return session.info.get(_INSERTED, [])


def _insert_returning(session: Session, rows: list[dict[str, Any]]) -> list[int]:
    # Still one statement (insertmanyvalues); ids in row order.
    insert_ = insert(_OUTBOX).returning(_OUTBOX.c.id, sort_by_parameter_order=True)
    return list(session.execute(insert_, rows).scalars())


def session_class() -> type[Session]:
    """A Session subclass (one per app, so other apps in the process are
    untouched) that writes the appended rows inside each commit. (On
    PostgreSQL, triggers on those tables wake the workers: migration 0002.)"""

    class AppendingSession(Session):
        pass

    def before_commit(session: Session) -> None:
        pending = session.info.pop(_KEY, None)
        if pending:
            for table in _TABLES:
                rows = pending.get(table.name)
                if not rows:
                    continue
                # A savepoint released (before_commit fires for it too): its
                # rows are this transaction's own, as if inserted at once.
                # Leased rows: their ids are needed after the commit.
                if table is _OUTBOX and (
                    session.in_nested_transaction() or any(r.get("locked_until") for r in rows)
                ):
                    for row_id, row in zip(_insert_returning(session, rows), rows, strict=True):
                        note_inserted(session, row_id, row)
                else:
                    # Same columns in every row: one executemany statement.
                    session.execute(insert(table), rows)

    def forget(session: Session, *_: Any) -> None:
        session.info.pop(_KEY, None)
        session.info.pop(_INSERTED, None)

    event.listen(AppendingSession, "before_commit", before_commit)
    event.listen(AppendingSession, "after_rollback", forget)
    return AppendingSession
