"""The incident's own messages kept current: its declare message re-rendered
(buttons as the incident now stands), and its earlier reminders collapsed so
the channel shows one live reminder per open incident. Each works inside the
caller's transaction; the updates go through the outbox, paced like every
message (``chat.update`` rows queue under the key's ``/update`` suffix)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.incidents.action_blocks import running_line, superseded_reminder
from bot.incidents.blocks import declared_message
from bot.incidents.service import incident_view
from bot.slack.outbox import enqueue, enqueue_collapsing
from bot.slack.pace import Priority
from bot.store.models import Incident, OutboxMessage, Run, utcnow
from bot.store.states import (
    OutboxState,
    RunStatus,
    incident_key,
    incident_message_key,
    reminder_key,
)


async def _latest_post(session: AsyncSession, *where: object) -> int | None:
    query = (
        select(OutboxMessage.id)
        .where(
            OutboxMessage.method == "chat.postMessage",
            OutboxMessage.state != OutboxState.FAILED,
            *where,  # type: ignore[arg-type]
        )
        .order_by(OutboxMessage.id.desc())
        .limit(1)
    )
    return (await session.execute(query)).scalar_one_or_none()


async def running_lines(session: AsyncSession, incident_id: int) -> list[str]:
    """A line per run still going, as Resolve's confirmation names it."""
    query = select(Run.runbook_id).where(
        Run.incident_id == incident_id, Run.state == RunStatus.RUNNING
    )
    return [running_line(r) for r in (await session.execute(query.order_by(Run.id))).scalars()]


async def refresh_declared(
    session: AsyncSession, incident: Incident, running: Sequence[str] | None = None
) -> None:
    """Re-render the incident's declare message, if it has one (an incident a
    run opened has only its run message). Pending re-renders collapse into the
    newest. ``running``: the runs still going (default: as stored now)."""
    row = await _latest_post(session, OutboxMessage.on_delivered == incident_key(incident.id))
    if row is None:
        return
    if running is None:
        running = await running_lines(session, incident.id)
    payload = declared_message(incident_view(incident), incident.opened_by or "", running)
    await enqueue_collapsing(
        session,
        incident_key(incident.id),
        "chat.update",
        {"channel": incident.channel_id, **payload},
        collapse=incident_message_key(incident.id),
        thread_from=row,
        priority=Priority.CLICK,
    )


async def collapse_last_reminder(
    session: AsyncSession, incident: Incident, *, resolved: bool = False
) -> None:
    """The incident's latest reminder loses its buttons: one line says it was
    superseded (a newer one is being posted) or that the incident was resolved."""
    row = await _latest_post(session, OutboxMessage.collapse_key == reminder_key(incident.id))
    if row is None:
        return
    payload = superseded_reminder(incident.key, utcnow(), resolved=resolved)
    enqueue(
        session,
        incident_key(incident.id),
        "chat.update",
        {"channel": incident.channel_id, **payload},
        thread_from=row,
        priority=Priority.REMINDER,
    )
