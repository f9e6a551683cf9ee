"""A fresh PostgreSQL database per test session (real server, no mocks)."""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from sqlalchemy.engine import URL, make_url

__all__ = [
    "DEFAULT_ADMIN_URL",
    "PostgresUnavailable",
    "create_database",
    "drop_database",
    "drop_stale_databases",
    "ensure_postgres_up",
    "resolve_admin_url",
    "temporary_database",
]

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
START_HINT = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
_NAME_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class PostgresUnavailable(RuntimeError):
    """The test PostgreSQL server can't be reached."""


def resolve_admin_url(explicit: str | None = None) -> str:
    """Admin DSN: the explicit one, else ``TEST_DATABASE_ADMIN_URL``, else the default."""
    return explicit or os.environ.get("TEST_DATABASE_ADMIN_URL") or DEFAULT_ADMIN_URL


def _asyncpg_dsn(url: URL) -> str:
    # asyncpg wants a plain libpq-style DSN, not SQLAlchemy's "+asyncpg" dialect form.
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _quote_ident(name: str) -> str:
    if not _NAME_RE.match(name):
        raise ValueError(f"refusing unusual database name {name!r}")
    return f'"{name}"'


async def ensure_postgres_up(
    admin_url: str | None = None,
    *,
    timeout: float = 5.0,
) -> None:
    """Raise PostgresUnavailable with the start command when the server isn't reachable."""
    url = make_url(resolve_admin_url(admin_url))
    try:
        conn = await asyncpg.connect(_asyncpg_dsn(url), timeout=timeout)
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        raise PostgresUnavailable(
            f"PostgreSQL is not reachable at {url.host}:{url.port or 5432} "
            f"as {url.username!r} ({type(exc).__name__}: {exc}).\n"
            f"Start it with:  {START_HINT}\n"
            "or point TEST_DATABASE_ADMIN_URL at a reachable server."
        ) from exc
    await conn.close()


async def create_database(admin_url: str | None = None, prefix: str = "runbook_bot_test") -> str:
    """Create a uniquely named database; return its ``postgresql+asyncpg://`` URL.

    The name embeds the pid so :func:`drop_stale_databases` can tell leftovers of
    crashed sessions from databases of sessions still running.
    """
    url = make_url(resolve_admin_url(admin_url))
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}".lower()
    conn = await asyncpg.connect(_asyncpg_dsn(url))
    try:
        # CREATE DATABASE can't take bind parameters; the name is validated instead.
        await conn.execute(f"CREATE DATABASE {_quote_ident(name)}")
    finally:
        await conn.close()
    return url.set(drivername="postgresql+asyncpg", database=name).render_as_string(
        hide_password=False
    )


async def drop_database(url: str, admin_url: str | None = None) -> None:
    """Terminate other connections to the database in ``url`` and drop it (idempotent)."""
    target = make_url(url)
    name = target.database
    if not name:
        raise ValueError(f"no database name in {url!r}")
    # Connect to the admin database on the same server as the target.
    admin_db = make_url(resolve_admin_url(admin_url)).database or "postgres"
    conn = await asyncpg.connect(_asyncpg_dsn(target.set(database=admin_db)))
    try:
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = $1 AND pid <> pg_backend_pid()",
            name,
        )
        # WITH (FORCE) (PG13+) covers connections that raced in after the terminate.
        await conn.execute(f"DROP DATABASE IF EXISTS {_quote_ident(name)} WITH (FORCE)")
    finally:
        await conn.close()


async def drop_stale_databases(
    admin_url: str | None = None, prefix: str = "runbook_bot_test"
) -> list[str]:
    """Drop ``prefix_<pid>_*`` databases whose pid is no longer running; return their names."""
    url = make_url(resolve_admin_url(admin_url))
    conn = await asyncpg.connect(_asyncpg_dsn(url))
    try:
        rows = await conn.fetch(
            "SELECT datname FROM pg_database WHERE datname LIKE $1", f"{prefix}\\_%"
        )
    finally:
        await conn.close()
    dropped = []
    for row in rows:
        m = re.match(rf"^{re.escape(prefix)}_(\d+)_[0-9a-f]+$", row["datname"])
        if m is None or _pid_alive(int(m.group(1))):
            continue
        await drop_database(url.set(database=row["datname"]).render_as_string(False), admin_url)
        dropped.append(row["datname"])
    return dropped


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@asynccontextmanager
async def temporary_database(
    admin_url: str | None = None, prefix: str = "runbook_bot_test"
) -> AsyncIterator[str]:
    """``async with temporary_database() as url:`` — created on entry, dropped on exit."""
    await ensure_postgres_up(admin_url)
    url = await create_database(admin_url, prefix)
    try:
        yield url
    finally:
        await drop_database(url, admin_url)
