"""Engine and session factory. Built by the app factory, never at import time."""

from __future__ import annotations

import time

from sqlalchemy import event
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from bot.store.urls import is_sqlite


class DatabaseUnavailable(Exception):
    """The database could not be reached on a path that bypasses SQLAlchemy
    (the intake writer's asyncpg connection, ``bot/intake/writer.py``)."""


# The database could not be reached: retrying later may work.
_UNREACHABLE = (
    OperationalError,
    InterfaceError,
    PoolTimeoutError,
    OSError,
    TimeoutError,
    DatabaseUnavailable,
)
# Raised when the database is down or cut off (callers answer "try again").
DB_DOWN = (*_UNREACHABLE, DBAPIError)


def is_db_down(exc: BaseException) -> bool:
    return isinstance(exc, DB_DOWN)


def is_transient(exc: BaseException) -> bool:
    """The database could not be reached (retry later), as opposed to a
    statement it refused (retrying would fail the same way)."""
    if isinstance(exc, _UNREACHABLE):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


# A worker's pooled connection idle this long (seconds) is pinged before use.
PING_AFTER_IDLE = 1.0
_LAST_USED = "runbook_bot_last_used"

# Read by the wake triggers (migration 0004): 'off' means "do not NOTIFY".
QUIET_SETTING = "runbook_bot.wake"


def make_engine(url: str, *, pool_size: int = 10, worker: bool = False) -> AsyncEngine:
    """``worker``: the engine of ``runbook-bot worker``. That process wakes its
    own loops after its commits, so its transactions send no NOTIFY
    (``runbook_bot.wake = off``, migration 0004); and everything it does is
    retried from the database when a statement fails, so a connection that
    finished a transaction less than ``PING_AFTER_IDLE`` ago is used without
    a ping (under load, that ping was one round trip in every transaction).
    The serving process pings before every use: there a dead connection
    would be a responder's "temporarily unavailable"."""
    if is_sqlite(url):
        engine = create_async_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            # WAL lets readers run beside the writer; foreign keys are off by default.
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()
            # We issue BEGIN ourselves (below), so the driver must not.
            dbapi_conn.isolation_level = None

        @event.listens_for(engine.sync_engine, "begin")
        def _begin_immediate(conn):  # type: ignore[no-untyped-def]
            # Take the write lock up front: a read-then-write transaction that
            # upgrades later fails with SQLITE_BUSY instead of waiting.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    engine = create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_timeout=5,
        connect_args={
            "timeout": 5,
            "command_timeout": 10,
            **({"server_settings": {QUIET_SETTING: "off"}} if worker else {}),
        },
    )

    if worker:

        @event.listens_for(engine.sync_engine, "checkin")
        def _note_use(_dbapi_conn, record):  # type: ignore[no-untyped-def]
            record.info[_LAST_USED] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _ping(dbapi_conn, record, _proxy):  # type: ignore[no-untyped-def]
        # Pessimistic disconnect handling: a connection cut while the database
        # blipped is replaced, not reused. SQLAlchemy's own pre-ping wraps the
        # ping in BEGIN … ROLLBACK for pgbouncer (three round trips per
        # checkout); one bare statement tells the same here.
        if worker and time.monotonic() - record.info.get(_LAST_USED, 0.0) < PING_AFTER_IDLE:
            return
        try:
            dbapi_conn.run_async(lambda conn: conn.execute("SELECT 1"))
        except Exception as exc:
            raise DisconnectionError(f"ping failed: {exc!r}") from exc

    return engine


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    from bot.store.writes import session_class

    # Timeline events and outbox messages appended in a transaction are written
    # at its commit, one multi-row INSERT per table.
    return async_sessionmaker(engine, expire_on_commit=False, sync_session_class=session_class())
