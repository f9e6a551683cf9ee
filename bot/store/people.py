"""Slack handles by user id (the ``people`` table), for output meant for
people rather than Slack: the validation log's Markdown shows ``@alice``,
where an id means nothing once pasted into a runbook in git.

Slack sends the acting user's handle with every request; the intake worker
records it when it acts on the request (``bot/intake/worker.py``), and a slash
command's listener right after its ack, in the background
(``commands/common.py``) — never on the ack path, and only when that app has
not already seen that exact (id, name) pair (``SeenNames``), so a busy run
writes nothing per click.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.models import Person, table_of

NAME_MAX = 255  # the column's length
_TABLE = table_of(Person)


def clean_name(raw: object) -> str | None:
    """A handle as stored: a non-empty string cut to the column, else None."""
    if not isinstance(raw, str):
        return None
    name = raw.strip()[:NAME_MAX]
    return name or None


async def record_name(
    session: AsyncSession, user_id: str, name: str, *, at: datetime, postgres: bool
) -> None:
    """Upsert (user_id, name) seen at ``at``, inside the caller's transaction.

    Idempotent, and safe when several processes write the same person at
    once (``ON CONFLICT``). A row seen later than ``at`` is kept: items of
    different runs may be acted on out of arrival order, and an older
    request must not bring back a name the person has since changed.
    """
    insert = postgresql.insert if postgres else sqlite.insert
    statement = insert(_TABLE).values(user_id=user_id, name=name, seen_at=at)
    excluded = statement.excluded
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[_TABLE.c.user_id],
            set_={"name": excluded.name, "seen_at": excluded.seen_at},
            where=_TABLE.c.seen_at <= excluded.seen_at,
        )
    )


async def names_of(session: AsyncSession, user_ids: Iterable[str]) -> dict[str, str]:
    """The known handles of ``user_ids`` (one query; unknown ids are left out)."""
    wanted = sorted(set(user_ids))
    if not wanted:
        return {}
    query = select(_TABLE.c.user_id, _TABLE.c.name).where(_TABLE.c.user_id.in_(wanted))
    return {user_id: name for user_id, name in (await session.execute(query)).all()}


class SeenNames:
    """The (id, name) pairs this process already recorded, at most ``limit``
    (the oldest forgotten first: forgetting costs one idempotent upsert)."""

    def __init__(self, limit: int = 10_000) -> None:
        self._limit = limit
        self._names: dict[str, str] = {}

    def is_new(self, user_id: str, name: str) -> bool:
        return self._names.get(user_id) != name

    def remember(self, user_id: str, name: str) -> None:
        """Call after the upsert committed: a rolled-back one must be retried."""
        self._names.pop(user_id, None)
        if len(self._names) >= self._limit:
            del self._names[next(iter(self._names))]
        self._names[user_id] = name
