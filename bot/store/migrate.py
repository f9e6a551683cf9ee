"""Apply the Alembic migrations in ``migrations/`` from code.

``runbook-bot migrate`` and ``runbook-bot serve`` call :func:`upgrade`. The
migrations are found from this package's own installation, never from the
current directory: a wheel carries them as ``bot/_bundled/migrations`` (see
``pyproject.toml``), an editable install or a checkout uses ``<repo>/migrations``.
No ``alembic.ini`` is needed at run time.
"""

from __future__ import annotations

import asyncio
import weakref
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

import bot

# Key of the PostgreSQL advisory lock env.py takes around a migration run, so
# two processes starting at once apply each migration exactly once.
MIGRATION_LOCK_KEY = 0x72756E626F6F6B  # b"runbook"


def migrations_dir() -> Path:
    """The folder holding ``env.py`` and ``versions/``."""
    package = Path(bot.__file__).resolve().parent
    bundled = package / "_bundled" / "migrations"
    if (bundled / "env.py").is_file():
        return bundled
    return package.parent / "migrations"


def alembic_config(url: str) -> Config:
    """An Alembic config built in code: no ini file, no logging setup."""
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    cfg.set_main_option("path_separator", "os")
    # Config values go through ConfigParser interpolation: escape '%' (URL-encoded
    # passwords) so the URL comes back unchanged.
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


# Alembic's ``context``/``op`` are process-wide proxies: two migration runs may not
# overlap in one process (they would, across a lock wait, as two tasks on one event
# loop). Runs in one process take turns here; across processes the PostgreSQL
# advisory lock does the same job.
_turns: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


def _one_at_a_time() -> asyncio.Lock:
    loop = asyncio.get_running_loop()
    lock = _turns.get(loop)
    if lock is None:
        lock = _turns[loop] = asyncio.Lock()
    return lock


def _migration_engine(url: str) -> AsyncEngine:
    # Not bot.db.make_engine: migrations need no pool, no statement timeout (a
    # second process waits on the advisory lock for as long as the first one
    # migrates) and SQLite foreign keys left off, as batch table rebuilds require.
    connect_args = {"timeout": 30} if url.startswith("sqlite") else {}
    return create_async_engine(url, poolclass=pool.NullPool, connect_args=connect_args)


def _upgrade_sync(connection: Connection, url: str, revision: str) -> None:
    cfg = alembic_config(url)
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, revision)


async def upgrade(url: str, revision: str = "head") -> None:
    """Apply pending migrations up to ``revision``. Idempotent; on PostgreSQL safe
    to run from several processes at once (env.py serialises them)."""
    async with _one_at_a_time():
        engine = _migration_engine(url)
        try:
            async with engine.begin() as conn:
                await conn.run_sync(_upgrade_sync, url, revision)
        finally:
            await engine.dispose()


def _current_sync(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def current_revision(url: str) -> str | None:
    """The revision the database is at, or None before the first migration."""
    engine = _migration_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_current_sync)
    finally:
        await engine.dispose()
