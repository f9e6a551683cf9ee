"""A read-only connection straight over the driver — asyncpg, or the stdlib
``sqlite3`` — for a command that runs hand-written SQL and exits:
``runbook-bot stats`` and ``runbook-bot postmortem``. Importing SQLAlchemy
alone is a third of a second, more than those commands' queries
(docs/performance.md).

Statements use ``:name`` parameters, as SQLAlchemy's ``text()`` does, so the
same text runs here and through a session (``bot/drills/stats.py``,
``bot/incidents/postmortem.py``).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

from bot.store.urls import asyncpg_dsn, is_sqlite, sqlite_database

# ``:name`` but not a PostgreSQL ``::cast``.
_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


class DatabaseRefused(Exception):
    """The database answered with an error (no such role, database or table);
    its first line. Connection trouble stays an ``OSError``."""


def numbered(sql: str, params: Mapping[str, Any]) -> tuple[str, list[Any]]:
    """``:name`` parameters as asyncpg's ``$1, $2, …`` and their values."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    return _PARAM.sub(number, sql), [params[name] for name in names]


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


class _Postgres:
    dialect = "postgresql"

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    async def fetch(self, sql: str, params: Mapping[str, Any]) -> Sequence[Sequence[Any]]:
        text, args = numbered(sql, params)
        return list(await self._conn.fetch(text, *args))


class _SQLite:
    dialect = "sqlite"

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    async def fetch(self, sql: str, params: Mapping[str, Any]) -> Sequence[Sequence[Any]]:
        # Blocking, on purpose: the command has nothing else to do meanwhile.
        return self._conn.execute(sql, dict(params)).fetchall()


Reader = _Postgres | _SQLite


@asynccontextmanager
async def read_only(url: str) -> AsyncIterator[Reader]:
    """One connection to ``DATABASE_URL`` (``postgresql+asyncpg://`` or
    ``sqlite+aiosqlite://``), with ``dialect`` and ``fetch(sql, params)``. The
    timeouts are the engine's (``bot/store/db.py``). The database's errors, on
    connecting or in ``fetch``, are raised as :class:`DatabaseRefused`."""
    # Each driver imported only for its own URL: sqlite3 needs no asyncpg.
    if is_sqlite(url):
        import sqlite3

        try:
            conn = sqlite3.connect(sqlite_database(url) or ":memory:", timeout=30)
            try:
                yield _SQLite(conn)
            finally:
                conn.close()
        except sqlite3.Error as exc:
            raise DatabaseRefused(_first_line(exc)) from exc
        return
    import asyncpg

    try:
        pg = await asyncpg.connect(asyncpg_dsn(url), timeout=5, command_timeout=10)
        try:
            yield _Postgres(pg)
        finally:
            await pg.close()
    except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise DatabaseRefused(_first_line(exc)) from exc
