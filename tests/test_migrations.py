"""The migrations build exactly the schema of bot/store/models.py, on PostgreSQL and SQLite."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import exc
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine

import bot
from bot.store import migrate
from bot.store.db import make_engine, make_sessionmaker
from bot.store.migrate import alembic_config, current_revision, migrations_dir, upgrade
from bot.store.models import Base, Incident, Run, StepDecision, TimelineEvent
from tests.rig.pg import resolve_admin_url

# The server the rest of the suite uses (TEST_DATABASE_ADMIN_URL overrides it).
PG_ADMIN_DSN = resolve_admin_url()
HEAD = "0013"  # the newest revision in migrations/versions

REPO_ROOT = Path(bot.__file__).resolve().parent.parent

NewDatabase = Callable[[], Awaitable[str]]


@pytest.fixture(scope="module")
async def new_pg_database() -> AsyncIterator[NewDatabase]:
    """Creates empty scratch databases on demand; drops them all at the end."""
    # The suite requires PostgreSQL: an unreachable server fails loudly, never skips.
    admin = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
    names: list[str] = []

    async def create() -> str:
        name = f"rbb_migrations_{uuid.uuid4().hex[:12]}"
        await admin.execute(f'CREATE DATABASE "{name}"')
        names.append(name)
        admin_url = make_url(PG_ADMIN_DSN)
        return admin_url.set(drivername="postgresql+asyncpg", database=name).render_as_string(
            hide_password=False
        )

    try:
        yield create
    finally:
        for name in names:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture
async def pg_url(new_pg_database: NewDatabase) -> str:
    return await new_pg_database()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"


@pytest.fixture(params=["postgresql", "sqlite"])
def url(request: pytest.FixtureRequest) -> str:
    """Each backend in turn: a fresh PostgreSQL database, or SQLite in tmp_path."""
    return request.getfixturevalue("pg_url" if request.param == "postgresql" else "sqlite_url")


def _engine(url: str) -> AsyncEngine:
    return make_engine(url, pool_size=2)


def _schema_diffs(connection: Connection) -> list[object]:
    """What autogenerate would change to make the database match the models.

    Nothing needs filtering: autogenerate skips its own alembic_version table and
    does not reflect triggers or functions (the PostgreSQL append-only trigger).
    Types are compared (JSON vs JSONB, timestamp time zones, string lengths, ...).
    """
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return compare_metadata(context, Base.metadata)


async def _diffs(url: str) -> list[object]:
    engine = _engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_schema_diffs)
    finally:
        await engine.dispose()


async def _table_names(url: str) -> set[str]:
    engine = _engine(url)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda c: sa.inspect(c).get_table_names()))
    finally:
        await engine.dispose()


def test_migrations_found_from_the_package_not_the_cwd() -> None:
    folder = migrations_dir()
    assert folder.is_absolute()
    assert (folder / "env.py").is_file()
    assert (folder / "versions" / "0001_initial.py").is_file()
    cfg = alembic_config("postgresql+asyncpg://u:p%40ss@h/db")
    assert cfg.get_main_option("script_location") == str(folder)
    assert cfg.get_main_option("sqlalchemy.url") == "postgresql+asyncpg://u:p%40ss@h/db"


async def test_postgresql_schema_matches_models(pg_url: str) -> None:
    assert await current_revision(pg_url) is None
    await upgrade(pg_url)
    assert await current_revision(pg_url) == HEAD
    assert await _diffs(pg_url) == []


async def test_sqlite_schema_matches_models(sqlite_url: str) -> None:
    assert await current_revision(sqlite_url) is None
    await upgrade(sqlite_url)
    assert await current_revision(sqlite_url) == HEAD
    assert await _diffs(sqlite_url) == []
    # The comparison has teeth: a missing index shows up.
    engine = _engine(sqlite_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(sa.text("DROP INDEX ix_outbox_state_id"))
    finally:
        await engine.dispose()
    assert [d[0] for d in await _diffs(sqlite_url)] == ["add_index"]


async def test_upgrade_twice_is_idempotent(url: str) -> None:
    await upgrade(url)
    await upgrade(url)
    assert await current_revision(url) == HEAD
    assert await _diffs(url) == []


async def test_concurrent_upgrades_in_one_process(pg_url: str) -> None:
    await asyncio.gather(upgrade(pg_url), upgrade(pg_url), upgrade(pg_url))
    assert await current_revision(pg_url) == HEAD
    assert await _diffs(pg_url) == []


async def test_upgrade_waits_for_the_postgresql_advisory_lock(pg_url: str) -> None:
    # Another process holds the migration lock: upgrade must wait for it.
    dsn = pg_url.replace("postgresql+asyncpg://", "postgresql://")
    other = await asyncpg.connect(dsn, timeout=5)
    try:
        await other.execute("SELECT pg_advisory_lock($1)", migrate.MIGRATION_LOCK_KEY)
        task = asyncio.create_task(upgrade(pg_url))
        await asyncio.sleep(0.5)
        assert not task.done()
        assert await current_revision(pg_url) is None
        await other.execute("SELECT pg_advisory_unlock($1)", migrate.MIGRATION_LOCK_KEY)
        await asyncio.wait_for(task, 30)
    finally:
        await other.close()
    assert await current_revision(pg_url) == HEAD


async def test_two_processes_migrate_at_once_from_another_cwd(pg_url: str, tmp_path: Path) -> None:
    # As two `serve` processes starting together would, from a directory that has
    # no migrations/ folder: each finds the migrations from the package.
    code = (
        "import asyncio, sys; from bot.store.migrate import upgrade; "
        "asyncio.run(upgrade(sys.argv[1]))"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            code,
            pg_url,
            cwd=tmp_path,
            env=env,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(2)
    ]
    for proc in procs:
        _, stderr = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, stderr.decode()
    assert await current_revision(pg_url) == HEAD
    assert await _diffs(pg_url) == []


async def test_downgrade_removes_everything(pg_url: str) -> None:
    from alembic import command

    await upgrade(pg_url)
    engine = migrate._migration_engine(pg_url)
    try:

        def downgrade(connection: Connection) -> None:
            cfg = alembic_config(pg_url)
            cfg.attributes["connection"] = connection
            command.downgrade(cfg, "base")

        async with engine.begin() as conn:
            await conn.run_sync(downgrade)
            functions = await conn.scalar(
                sa.text(
                    "SELECT count(*) FROM pg_proc WHERE proname = 'timeline_events_append_only'"
                )
            )
    finally:
        await engine.dispose()
    assert functions == 0
    assert await _table_names(pg_url) <= {"alembic_version"}
    assert await current_revision(pg_url) is None
    await upgrade(pg_url)  # and back up again
    assert await current_revision(pg_url) == HEAD


async def _incident_with_run(url: str) -> tuple[AsyncEngine, int, int]:
    engine = _engine(url)
    async with make_sessionmaker(engine)() as session:
        incident = Incident(channel_id="C1", title="db down", opened_by="U1")
        session.add(incident)
        await session.flush()
        run = Run(
            incident_id=incident.id,
            runbook_id="RB-04",
            runbook_title="Database failover",
            content_hash="0" * 64,
            snapshot={"steps": [], "rollback": []},
            channel_id="C1",
            started_by="U1",
        )
        session.add(run)
        await session.flush()
        session.add(TimelineEvent(incident_id=incident.id, run_id=run.id, kind="runbook_started"))
        await session.commit()
        return engine, incident.id, run.id


async def test_timeline_is_append_only_on_postgresql(pg_url: str) -> None:
    await upgrade(pg_url)
    engine, incident_id, _ = await _incident_with_run(pg_url)
    try:
        for statement in (
            "UPDATE timeline_events SET text = 'rewritten'",
            "DELETE FROM timeline_events",
        ):
            async with engine.connect() as conn:
                with pytest.raises(exc.DBAPIError, match="timeline_events is append-only"):
                    await conn.execute(sa.text(statement))
                await conn.rollback()
        async with engine.begin() as conn:
            # Appending still works; TRUNCATE (test cleanup) stays allowed.
            await conn.execute(
                sa.insert(TimelineEvent).values(
                    incident_id=incident_id, kind="note", at=datetime.now(UTC), text="x", data={}
                )
            )
            count = await conn.scalar(sa.select(sa.func.count()).select_from(TimelineEvent))
            assert count == 2
            await conn.execute(sa.text("TRUNCATE timeline_events"))
    finally:
        await engine.dispose()


async def test_one_decision_per_step(url: str) -> None:
    await upgrade(url)
    engine, _, run_id = await _incident_with_run(url)
    try:
        sessions = make_sessionmaker(engine)
        async with sessions() as session:
            session.add(
                StepDecision(run_id=run_id, step_index=0, decision="approved", decided_by="U1")
            )
            await session.commit()
        async with sessions() as session:
            session.add(
                StepDecision(run_id=run_id, step_index=0, decision="skipped", decided_by="U2")
            )
            with pytest.raises(exc.IntegrityError):
                await session.commit()
        async with sessions() as session:
            # Another step of the same run is fine.
            session.add(
                StepDecision(run_id=run_id, step_index=1, decision="skipped", decided_by="U2")
            )
            await session.commit()
            decisions = (await session.scalars(sa.select(StepDecision.decided_by))).all()
            assert sorted(decisions) == ["U1", "U2"]
    finally:
        await engine.dispose()


async def test_postgresql_new_work_notifies_workers(new_pg_database) -> None:
    """Migrations 0002–0004: inserting outbox rows, an incident or intake items
    NOTIFYs at commit, saying which; a connection with runbook_bot.wake = off
    (a worker process's own) does not."""
    url = await new_pg_database()
    await upgrade(url)
    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    listener = await asyncpg.connect(dsn)
    writer = await asyncpg.connect(dsn)
    heard: asyncio.Queue[str] = asyncio.Queue()
    await listener.add_listener("runbook_bot_wake", lambda *args: heard.put_nowait(args[-1]))
    try:
        async with writer.transaction():
            await writer.execute(
                "INSERT INTO incidents (channel_id, title, state, opened_at, next_reminder_at)"
                " VALUES ('C', 't', 'open', now(), '2030-01-02T03:04:05+00')"
            )
            await asyncio.sleep(0.2)
            assert heard.empty()  # nothing before the commit
        assert await asyncio.wait_for(heard.get(), 5) == "2030-01-02T03:04:05+00:00"
        async with writer.transaction():
            await writer.execute(
                "INSERT INTO slack_outbox (ordering_key, method, payload, state, attempts,"
                " next_attempt_at, created_at) VALUES ('k', 'chat.postMessage', '{}',"
                " 'pending', 0, now(), now())"
            )
        assert await asyncio.wait_for(heard.get(), 5) == "outbox"
        await writer.execute(
            "INSERT INTO intake (kind, ordering_key, payload, received_at, state)"
            " VALUES ('decide', 'run:1', '{}', now(), 'pending')"
        )
        assert await asyncio.wait_for(heard.get(), 5) == "intake"
        with contextlib.suppress(RuntimeError):
            async with writer.transaction():
                await writer.execute(
                    "INSERT INTO slack_outbox (ordering_key, method, payload, state, attempts,"
                    " next_attempt_at, created_at) VALUES ('k', 'chat.update', '{}',"
                    " 'pending', 0, now(), now())"
                )
                raise RuntimeError("roll back")
        await asyncio.sleep(0.3)
        assert heard.empty()  # a rolled-back transaction wakes nobody
        quiet = await asyncpg.connect(dsn, server_settings={"runbook_bot.wake": "off"})
        try:
            await quiet.execute(
                "INSERT INTO incidents (channel_id, title, state, opened_at, next_reminder_at)"
                " VALUES ('C', 't', 'open', now(), now());"
                "INSERT INTO slack_outbox (ordering_key, method, payload, state, attempts,"
                " next_attempt_at, created_at) VALUES ('k', 'chat.update', '{}',"
                " 'pending', 0, now(), now());"
                "INSERT INTO intake (kind, ordering_key, payload, received_at, state)"
                " VALUES ('decide', 'run:1', '{}', now(), 'pending')"
            )
        finally:
            await quiet.close()
        await writer.execute(
            "INSERT INTO intake (kind, ordering_key, payload, received_at, state)"
            " VALUES ('decide', 'run:2', '{}', now(), 'pending')"
        )
        # The quiet connection's three inserts woke nobody; the next one did.
        assert await asyncio.wait_for(heard.get(), 5) == "intake"
        assert heard.empty()
    finally:
        await listener.close()
        await writer.close()
