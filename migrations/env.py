"""Alembic environment for runbook-bot (async engines: asyncpg, aiosqlite).

Run three ways:
- from code, ``bot.migrate.upgrade(url)``: the URL comes from the config and a
  connection may be handed in as ``config.attributes["connection"]``;
- from the ``alembic`` command line in the repo (``alembic.ini``): the URL is
  ``DATABASE_URL``, defaulting to the embedded SQLite database;
- offline (``alembic upgrade head --sql``): SQL is printed, nothing connected.

Logging is left alone (no ``fileConfig``): the application owns it.
"""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy import pool, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from bot.store.migrate import MIGRATION_LOCK_KEY
from bot.store.models import Base

DEFAULT_URL = "sqlite+aiosqlite:///./runbook-bot.db"

config = context.config
target_metadata = Base.metadata


def database_url() -> str:
    return config.get_main_option("sqlalchemy.url") or os.environ.get("DATABASE_URL") or DEFAULT_URL


def run_migrations_offline() -> None:
    url = database_url()
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=url.startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        # SQLite alters tables by copying them: batch mode does that for us.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # Transaction-scoped advisory lock, taken before the version table is
            # read: a second process waits here, then finds the work done. It is
            # released when the migration transaction commits or rolls back.
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
            )
        context.run_migrations()


async def run_async_migrations() -> None:
    url = database_url()
    connect_args = {"timeout": 30} if url.startswith("sqlite") else {}
    engine = create_async_engine(url, poolclass=pool.NullPool, connect_args=connect_args)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(do_run_migrations)
            await connection.commit()
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        # Handed in by bot.store.migrate (inside AsyncConnection.run_sync) or a test.
        do_run_migrations(connection)
    else:
        asyncio.run(run_async_migrations())


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
