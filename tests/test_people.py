"""The ``people`` table (migration 0009): handles Slack sent with requests,
upserted by the intake worker (``bot/store/people.py``), on both backends."""

# The database fixtures are test_migrations' (imported, so pytest finds them
# here): tests naming them as parameters "redefine" the imports.
# ruff: noqa: F811

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from bot.store import migrate
from bot.store.db import make_sessionmaker
from bot.store.migrate import alembic_config, current_revision, upgrade
from bot.store.models import Person
from bot.store.people import names_of, record_name
from tests.test_migrations import (  # noqa: F401  (fixtures, and what they need)
    HEAD,
    _diffs,
    _engine,
    _table_names,
    new_pg_database,
    pg_url,
    sqlite_url,
    url,
)


def _downgrade_to(url: str, revision: str) -> Callable[[Connection], None]:
    from alembic import command

    def run(connection: Connection) -> None:
        cfg = alembic_config(url)
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, revision)

    return run


async def test_0009_people_up_and_down(url: str) -> None:
    """0009 adds ``people`` on top of 0008 and its downgrade takes only that away."""
    await upgrade(url, "0008")
    before = await _table_names(url)
    assert "people" not in before and "validations" in before
    await upgrade(url, "0009")
    assert await current_revision(url) == "0009"
    assert await _table_names(url) == before | {"people"}
    engine = migrate._migration_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                sa.text("INSERT INTO people (user_id, name, seen_at) VALUES ('U1', 'ann', :at)"),
                {"at": datetime.now(UTC)},
            )
            await conn.run_sync(_downgrade_to(url, "0008"))
        assert await current_revision(url) == "0008"
        assert await _table_names(url) == before
    finally:
        await engine.dispose()
    await upgrade(url)  # and back up again
    assert await current_revision(url) == HEAD
    assert await _diffs(url) == []


async def test_people_upsert_is_idempotent_and_newest_wins(url: str) -> None:
    """The intake worker's upsert (``bot/store/people.py``) on each backend."""
    await upgrade(url)
    engine = _engine(url)
    postgres = url.startswith("postgresql")
    t0 = datetime.now(UTC)
    try:
        sessions = make_sessionmaker(engine)
        for name, at in (("bob", t0), ("bob", t0), ("robert", t0 + timedelta(seconds=1))):
            async with sessions() as session, session.begin():
                await record_name(session, "UBOB", name, at=at, postgres=postgres)
        async with sessions() as session, session.begin():
            # Older than the row: kept as it is.
            await record_name(session, "UBOB", "bob", at=t0, postgres=postgres)
        async with sessions() as session:
            [row] = (await session.execute(sa.select(Person))).scalars()
            assert (row.user_id, row.name) == ("UBOB", "robert")
            assert row.seen_at == t0 + timedelta(seconds=1)
            assert await names_of(session, ["UBOB", "UGHOST", "UBOB"]) == {"UBOB": "robert"}
            assert await names_of(session, []) == {}
    finally:
        await engine.dispose()
