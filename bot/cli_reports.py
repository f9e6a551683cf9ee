"""``runbook-bot timeline``, ``followups`` and ``postmortem``: read-only reports
printed from the database (imported only by those commands; ``postmortem`` runs
without SQLAlchemy)."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from bot.settings import Settings

    Sessions = async_sessionmaker[AsyncSession]


async def run(settings: Settings, args: argparse.Namespace) -> int:
    from bot.store.db import make_engine, make_sessionmaker

    engine = make_engine(settings.database_url)
    try:
        sessions = make_sessionmaker(engine)
        if args.command == "timeline":
            return await _timeline(sessions, args.incident, args.format)
        return await _followups(sessions, overdue=args.overdue, fmt=args.format)
    finally:
        await engine.dispose()


async def _timeline(sessions: Sessions, key: str, fmt: str) -> int:
    from bot.incidents.timeline import export_incident
    from bot.store.states import parse_incident_key

    incident_id = parse_incident_key(key)
    if incident_id is None:
        print(f"error: {key!r} is not an incident ID (INC-<n>)", file=sys.stderr)
        return 2
    text = await export_incident(sessions, incident_id, fmt)
    if text is None:
        print(f"error: there is no INC-{incident_id}", file=sys.stderr)
        return 1
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


async def _followups(sessions: Sessions, *, overdue: bool, fmt: str) -> int:
    """Open follow-ups (``overdue``: only those past due; exit 1 when any is)."""
    from bot.incidents import followup_text, followups
    from bot.store.models import utcnow
    from bot.store.people import names_of

    now = utcnow()
    views = await followups.listed(sessions, overdue_at=now if overdue else None)
    if fmt == "json":
        text = followup_text.as_json(views, now)
    else:
        async with sessions() as session:
            handles = await names_of(session, {v.owner for v in views if v.owner})
        text = followup_text.as_markdown(views, now, handles)
    sys.stdout.write(text)
    return 1 if overdue and views else 0


async def postmortem(settings: Settings, args: argparse.Namespace) -> int:
    """``runbook-bot postmortem``: straight over the driver, no SQLAlchemy (its
    import alone took longer than the draft's queries; docs/performance.md)."""
    from datetime import UTC, datetime

    from bot.incidents import postmortem_render
    from bot.incidents.postmortem import read_draft
    from bot.store.direct import read_only
    from bot.store.states import parse_incident_key

    incident_id = parse_incident_key(args.incident)
    if incident_id is None:
        print(f"error: {args.incident!r} is not an incident ID (INC-<n>)", file=sys.stderr)
        return 2
    async with read_only(settings.database_url) as reader:
        draft = await read_draft(reader.fetch, reader.dialect, incident_id, settings.priorities)
    if draft is None:
        print(f"error: there is no INC-{incident_id}", file=sys.stderr)
        return 1
    fmt = args.format
    render = postmortem_render.render_json if fmt == "json" else postmortem_render.render_markdown
    sys.stdout.write(render(draft, datetime.now(UTC)))
    return 0
