"""``runbook-bot validations`` and ``runbook-bot stats``: read, render, and
say what the exit status is. The CLI (``bot/cli.py``) only parses arguments."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.drills import render, stats_render
from bot.drills.stats import read_stats
from bot.drills.validation import human
from bot.runbook import Library

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from bot.store.direct import Reader


@dataclass(frozen=True, slots=True)
class Report:
    text: str
    status: int = 0  # the process exit status
    error: str | None = None  # printed on stderr instead


async def validations_report(
    sessions: async_sessionmaker[AsyncSession],
    library: Library,
    *,
    runbook_id: str | None,
    fmt: str,
    due: bool,
    interval_seconds: float,
) -> Report:
    """The validation log newest first, or (``due``) the runbooks due: exit 1 if any."""
    # Here, not at the top: `stats` imports this module and must not load
    # SQLAlchemy, which these (the ORM models) do.
    from bot.drills.log import due_runbooks, list_validations
    from bot.store.models import utcnow

    runbook = library.get(runbook_id) if runbook_id else None
    async with sessions() as session:
        if due:
            catalog = [(rb.id, rb.title) for rb in library.runbooks.values()]
            if runbook_id is not None:
                if runbook is None:
                    return Report("", 2, f"no runbook {runbook_id!r} in RUNBOOKS_DIR")
                catalog = [(runbook.id, runbook.title)]
            now = utcnow()
            found = await due_runbooks(session, catalog, interval_seconds=interval_seconds, now=now)
            text = render.render_due(
                found, interval_label=human(interval_seconds), now=now, fmt=fmt
            )
            return Report(text, 1 if found else 0)
        wanted = runbook.id if runbook is not None else runbook_id
        rows = await list_validations(session, wanted)
    if runbook_id is not None and runbook is None and not rows:
        return Report("", 2, f"no runbook {runbook_id!r} in RUNBOOKS_DIR and no validations of it")
    if fmt == "json":
        return Report(render.render_json(rows))
    titles = {rb.id: rb.title for rb in library.runbooks.values()}
    return Report(render.render_markdown(rows, titles))


async def stats_report(
    reader: Reader,
    library: Library,
    *,
    days: int,
    fmt: str,
    levels: tuple[str, ...] = (),
) -> Report:
    """Over a driver connection (``bot/store/direct.py``): no SQLAlchemy."""
    stats = await read_stats(reader.fetch, reader.dialect, library, days=days, levels=levels)
    if fmt == "json":
        return Report(stats_render.render_json(stats))
    return Report(stats_render.render_markdown(stats))
