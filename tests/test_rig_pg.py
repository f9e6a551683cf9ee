"""Tests of the rig's PostgreSQL helper (needs a real PostgreSQL)."""

from __future__ import annotations

import contextlib

import asyncpg
import pytest
from sqlalchemy import text as sql
from sqlalchemy.ext.asyncio import create_async_engine

# The rig is importable as ``tests.rig`` when the repo root is on sys.path (conftest at the
# root, editable install) and as ``rig`` under pytest's default rootdir-less prepend mode.
try:
    from tests.rig import (
        PostgresUnavailable,
        create_database,
        drop_database,
        drop_stale_databases,
        ensure_postgres_up,
        temporary_database,
    )
except ImportError:  # pragma: no cover - depends on how pytest was started
    from rig import (  # type: ignore[no-redef]
        PostgresUnavailable,
        create_database,
        drop_database,
        drop_stale_databases,
        ensure_postgres_up,
        temporary_database,
    )


# ---------------------------------------------------------------------------
# pg helper (real PostgreSQL)
# ---------------------------------------------------------------------------


async def _exists(name: str) -> bool:
    conn = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
    try:
        return bool(await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name))
    finally:
        await conn.close()


async def test_create_and_drop_database() -> None:
    await ensure_postgres_up()
    url = await create_database(prefix="runbook_bot_rigtest")
    name = url.rsplit("/", 1)[1]
    assert url.startswith("postgresql+asyncpg://postgres@127.0.0.1:5432/runbook_bot_rigtest_")
    other = await create_database(prefix="runbook_bot_rigtest")
    assert other != url
    await drop_database(other)

    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(sql("SELECT current_database()"))).scalar() == name
        # An open connection must not block the drop: it gets terminated.
        held = await engine.connect()
        await held.execute(sql("SELECT 1"))
        await drop_database(url)
        assert not await _exists(name)
        with contextlib.suppress(Exception):  # its server side is gone
            await held.invalidate()
        await drop_database(url)  # idempotent
    finally:
        await engine.dispose()


async def test_temporary_database_and_stale_cleanup() -> None:
    async with temporary_database(prefix="runbook_bot_rigtmp") as url:
        name = url.rsplit("/", 1)[1]
        assert await _exists(name)
    assert not await _exists(name)

    # A leftover from a crashed session (pid that isn't running) is dropped; ours isn't.
    conn = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
    dead = "runbook_bot_rigstale_4194999_abcd1234"
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{dead}"')
        await conn.execute(f'CREATE DATABASE "{dead}"')
    finally:
        await conn.close()
    alive = await create_database(prefix="runbook_bot_rigstale")
    try:
        assert await drop_stale_databases(prefix="runbook_bot_rigstale") == [dead]
        assert await _exists(alive.rsplit("/", 1)[1])
    finally:
        await drop_database(alive)


async def test_ensure_postgres_up_explains_how_to_start(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(PostgresUnavailable, match="pg_ctlcluster --skip-systemctl-redirect"):
        await ensure_postgres_up("postgresql://postgres@127.0.0.1:1/postgres", timeout=2)
    monkeypatch.setenv("TEST_DATABASE_ADMIN_URL", "postgresql://postgres@127.0.0.1:1/postgres")
    with pytest.raises(PostgresUnavailable, match=r"127\.0\.0\.1:1 "):
        await ensure_postgres_up(timeout=2)
