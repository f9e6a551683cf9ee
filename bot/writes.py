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

from bot.models import OutboxMessage, TimelineEvent

# Written in this order; each table's rows keep the order they were appended in.
_TABLES: tuple[Table, ...] = (TimelineEvent.__table__, OutboxMessage.__table__)  # type: ignore[assignment]
_KEY = "append_rows"


def append_row(session: AsyncSession | Session, table: Table, values: dict[str, Any]) -> None:
    session.info.setdefault(_KEY, {}).setdefault(table.name, []).append(values)


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
                if rows:
                    # Same columns in every row: one executemany statement.
                    session.execute(insert(table), rows)

    def forget(session: Session, *_: Any) -> None:
        session.info.pop(_KEY, None)

    event.listen(AppendingSession, "before_commit", before_commit)
    event.listen(AppendingSession, "after_rollback", forget)
    return AppendingSession
