"""Shared fixtures: one fresh PostgreSQL database per test session (migrated
with the real Alembic migrations), a Slack stand-in per test, and the real bot
served over HTTP on loopback."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from bot.store.migrate import upgrade
from bot.store.models import Base
from tests.rig import SlackStandIn, create_database, drop_database, ensure_postgres_up
from tests.rig.botserver import BotServer, start_bot

# Read-only listings the bot keeps up in the background from start-up (user
# groups, the Declare channel): not caused by any request.
BACKGROUND_LISTINGS = frozenset({"conversations.list", "usergroups.list", "usergroups.users.list"})


def requested(calls: list[Any]) -> list[Any]:
    """The calls (or rejections) besides the background listings."""
    return [c for c in calls if c.method not in BACKGROUND_LISTINGS]


# Every table the models define, so a new one is never left out.
TABLES = ", ".join(table.name for table in Base.metadata.sorted_tables)


@pytest.fixture(scope="session")
async def pg_url() -> AsyncIterator[str]:
    await ensure_postgres_up()
    url = await create_database()
    await upgrade(url)
    yield url
    await drop_database(url)


@pytest.fixture
async def clean_db(pg_url: str) -> str:
    """Each test starts from empty tables (and INC-1)."""
    engine = create_async_engine(pg_url)
    async with engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
    await engine.dispose()
    return pg_url


@pytest.fixture
async def slack() -> AsyncIterator[SlackStandIn]:
    standin = SlackStandIn()
    await standin.start()
    yield standin
    await standin.stop()
    # Every message the bot sent must be valid Block Kit within limits.
    assert standin.invalid == [], standin.invalid


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


BotFactory = Callable[..., Awaitable[BotServer]]


@pytest.fixture
async def make_bot(
    slack: SlackStandIn, clean_db: str, http: aiohttp.ClientSession
) -> AsyncIterator[BotFactory]:
    started: list[BotServer] = []

    async def factory(**overrides: Any) -> BotServer:
        server = await start_bot(slack, overrides.pop("database_url", clean_db), http, **overrides)
        started.append(server)
        return server

    yield factory
    for server in reversed(started):
        await server.close()


@pytest.fixture
async def bot(make_bot: BotFactory) -> BotServer:
    return await make_bot()


@pytest.fixture(scope="session", autouse=True)
async def _no_task_outlives_the_session() -> AsyncIterator[None]:
    """At the end of a worker's session, cancel what tests left running and wait
    at most 20 s. A task that will not finish (seen twice at the very end of a
    worker, after test_stats' SQLite run) is printed with its stack and let go,
    so the event loop's close cannot hang the run for ever."""
    yield
    me = asyncio.current_task()
    left = [t for t in asyncio.all_tasks() if t is not me and not t.done()]
    for task in left:
        task.cancel()
    if not left:
        return
    _done, stuck = await asyncio.wait(left, timeout=20)
    for task in stuck:
        print(f"\nA task did not finish when cancelled: {task!r}", file=sys.stderr)
        task.print_stack(file=sys.stderr)
        asyncio.tasks._unregister_task(task)  # type: ignore[attr-defined]
