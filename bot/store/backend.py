"""Which database a session talks to, asked of the session itself: the one
place the PostgreSQL / SQLite difference is decided, instead of a
``postgres`` flag handed from the app factory down every call."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True, slots=True)
class Backend:
    postgres: bool

    @property
    def insert(self) -> Any:
        """The dialect's ``insert`` (with ``on_conflict_do_nothing``)."""
        return postgresql.insert if self.postgres else sqlite.insert

    @property
    def row_lock(self) -> bool | None:
        """``with_for_update=`` for ``session.get``: SQLite has no row locks
        (its writes are serialized by ``BEGIN IMMEDIATE``)."""
        return True if self.postgres else None


POSTGRES = Backend(postgres=True)
SQLITE = Backend(postgres=False)


def backend(session: AsyncSession) -> Backend:
    return POSTGRES if session.get_bind().dialect.name == "postgresql" else SQLITE
