"""Incidents and their append-only timeline: the database side of ``/incident``.

Each function works inside the caller's transaction; the caller commits.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import String, cast, literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot.incidents import blocks as incident_blocks
from bot.incidents.blocks import EventView, IncidentView
from bot.incidents.clocks import (
    INCIDENT_CLOCKS,
    POSTMORTEM_DUE,
    arm,
    arm_response_target,
    disarm,
)
from bot.incidents.priority import PriorityPolicy
from bot.incidents.summary import incident_stats, resolved_data
from bot.slack.mrkdwn import escape
from bot.slack.outbox import enqueue
from bot.slack.pace import Priority
from bot.store.models import (
    HandledRequest,
    Incident,
    OutboxMessage,
    Run,
    TimelineEvent,
    table_of,
    utcnow,
)
from bot.store.states import EventKind, IncidentState, OutboxState, incident_key, parse_incident_key
from bot.store.writes import append_row


def incident_view(incident: Incident) -> IncidentView:
    """The row as the (pure) incident renderers take it."""
    return IncidentView(
        id=incident.id,
        title=incident.title,
        opened_at=incident.opened_at,
        opened_by=incident.opened_by,
        state=incident.state,
        last_update_at=incident.last_update_at,
        resolved_at=incident.resolved_at,
        resolved_by=incident.resolved_by,
        drill=bool(incident.drill),
        drill_environment=incident.drill_environment,
        priority=incident.priority,
        roles=dict(incident.roles or {}),
        acknowledged_at=incident.acknowledged_at,
        acknowledged_by=incident.acknowledged_by,
    )


def event_view(event: TimelineEvent) -> EventView:
    return EventView(
        at=event.at, kind=event.kind, actor=event.actor, text=event.text, data=event.data or {}
    )


def add_event(
    session: AsyncSession,
    incident_id: int,
    kind: str,
    actor: str | None,
    text: str,
    *,
    run_id: int | None = None,
    at: datetime | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    """Append to the timeline (written when the transaction commits)."""
    append_row(
        session,
        table_of(TimelineEvent),
        {
            "incident_id": incident_id,
            "run_id": run_id,
            "kind": kind,
            "actor": actor,
            "at": at or utcnow(),
            "text": text,
            "data": data or {},
        },
    )


async def claim_request(session: AsyncSession, key: str) -> bool:
    """Record an idempotency key; False when it was already handled."""
    dialect = session.bind.dialect.name if session.bind else "postgresql"
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(HandledRequest).values(key=key[:200], at=utcnow()).on_conflict_do_nothing()
    result = await session.execute(stmt)
    return bool(result.rowcount)  # type: ignore[attr-defined]


def reminder_due_after(at: datetime, interval_seconds: float) -> datetime:
    return at + timedelta(seconds=interval_seconds)


async def create_incident(
    session: AsyncSession,
    *,
    channel_id: str,
    title: str,
    user_id: str,
    at: datetime,
    policy: PriorityPolicy,
    priority: str | None = None,
    drill_environment: str | None = None,
) -> Incident:
    """Open an incident at ``priority`` (the policy's default when None) and
    start its response-target clock. ``drill_environment``: a drill
    (``/runbook drill``) in that environment."""
    level = policy.level(priority) or policy.level(policy.default)
    assert level is not None  # settings check DEFAULT_PRIORITY names a level
    drill = drill_environment is not None
    incident = Incident(
        channel_id=channel_id,
        title=title[:2000],
        state=IncidentState.OPEN,
        opened_by=user_id,
        opened_at=at,
        next_reminder_at=reminder_due_after(at, policy.interval_for(level.name)),
        priority=level.name,
        roles={},
        drill=drill,
        drill_environment=drill_environment,
    )
    session.add(incident)
    await session.flush()
    what = f"drill in {drill_environment}" if drill else "opened"
    add_event(
        session,
        incident.id,
        EventKind.INCIDENT_OPENED,
        user_id,
        f"{incident.key} {what} ({level.name}): {title[:2000]}",
        at=at,
        data={
            "priority": level.name,
            "title": title[:2000],
            **({"drill": True, "environment": drill_environment} if drill else {}),
        },
    )
    arm_response_target(session, incident, level.target_seconds)
    return incident


async def open_incidents(session: AsyncSession, channel_id: str) -> list[Incident]:
    query = (
        select(Incident)
        .where(Incident.channel_id == channel_id, Incident.state == IncidentState.OPEN)
        .order_by(Incident.id)
    )
    return list((await session.execute(query)).scalars())


async def timeline(session: AsyncSession, incident_id: int) -> list[TimelineEvent]:
    query = (
        select(TimelineEvent)
        .where(TimelineEvent.incident_id == incident_id)
        .order_by(TimelineEvent.at, TimelineEvent.id)
    )
    return list((await session.execute(query)).scalars())


# --- flows behind /incident --------------------------------------------------


def other_channel(incident: Incident, channel_id: str) -> str | None:
    """Why a command from ``channel_id`` may not name ``incident`` (None: it may).

    An incident is run from its own channel: whoever may resolve or update it
    is whoever is in there. ``""``: a modal that carries the incident itself."""
    if not channel_id or incident.channel_id == channel_id:
        return None
    return f"{incident.key} belongs to another channel: run this in <#{incident.channel_id}>."


async def resolve_target(
    session: AsyncSession, channel_id: str, incident_id: int | None
) -> tuple[Incident | None, str | None]:
    """The incident a command means, or a message saying why it is unclear."""
    if incident_id is not None:
        incident = await session.get(Incident, incident_id)
        if incident is None:
            return None, f"There is no INC-{incident_id}."
        if (elsewhere := other_channel(incident, channel_id)) is not None:
            return None, elsewhere
        if incident.state != IncidentState.OPEN:
            return None, f"INC-{incident_id} is already resolved."
        return incident, None
    candidates = await open_incidents(session, channel_id)
    if len(candidates) == 1:
        return candidates[0], None
    if not candidates:
        return None, "No incident is open in this channel. Name one with `INC-<n>`."
    listed = ", ".join(f"`{i.key}` ({escape(i.title[:60])})" for i in candidates[:20])
    return None, f"Several incidents are open here — say which: {listed}."


class BadIncidentKey(ValueError):
    """A word meant as an incident id that is not one: refused by name, never
    taken as text (which would act on whichever incident is open)."""


# "INC", "INC-…", "inc#4", "INC7": meant as an id; "Incoming …" is text.
_MEANT_AS_KEY = re.compile(r"^inc(?:$|[^a-z])", re.IGNORECASE)


def incident_token(token: str) -> int | None:
    """``INC-4`` → 4; a word that is not meant as an id → None; a malformed
    one (``INC``, ``INC-99999999999999999999``, ``INC-x``) → :class:`BadIncidentKey`."""
    incident_id = parse_incident_key(token)
    if incident_id is None and _MEANT_AS_KEY.match(token.strip()):
        shown = escape(token.strip()[:40])
        raise BadIncidentKey(
            f"`{shown}` is not an incident ID: write `INC-<n>` (e.g. `INC-7`). Nothing was changed."
        )
    return incident_id


def split_incident_arg(rest: str) -> tuple[int | None, str]:
    """``"INC-4 text"`` → ``(4, "text")``; ``"text"`` → ``(None, "text")``;
    a malformed id → :class:`BadIncidentKey`."""
    parts = rest.strip().split(None, 1)
    if parts:
        incident_id = incident_token(parts[0])
        if incident_id is not None:
            return incident_id, parts[1] if len(parts) > 1 else ""
    return None, rest.strip()


async def record_status_update(
    session: AsyncSession,
    incident: Incident,
    *,
    user_id: str,
    text: str,
    policy: PriorityPolicy,
    via: str = "command",
) -> datetime:
    """Record the update and restart the reminder clock (the incident's level's
    interval). Returns the next due time."""
    now = utcnow()
    add_event(
        session, incident.id, EventKind.STATUS_UPDATE, user_id, text, at=now, data={"via": via}
    )
    incident.last_update_at = now
    incident.next_reminder_at = now + timedelta(seconds=policy.interval_for(incident.priority))
    message = incident_blocks.status_update_message(incident_view(incident), user_id, text, now)
    await post_in_thread(session, incident, message)
    return incident.next_reminder_at


async def post_in_thread(
    session: AsyncSession, incident: Incident, message: dict[str, Any], *, broadcast: bool = True
) -> None:
    """Post in the incident's thread (also shown in the channel: ``broadcast``),
    or in the channel when it has no thread yet."""
    payload = {"channel": incident.channel_id, **message}
    parent = None
    if incident.thread_ts:
        payload["thread_ts"] = incident.thread_ts
    else:
        # The run (or declaration) message may still be in the outbox: thread
        # under it once it is delivered.
        parent = await thread_parent(session, incident)
    if broadcast and (incident.thread_ts or parent is not None):
        payload["reply_broadcast"] = True  # in the thread and visible in the channel
    enqueue(
        session,
        incident_key(incident.id),
        "chat.postMessage",
        payload,
        thread_from=parent,
        priority=Priority.CLICK,
    )


async def thread_parent(session: AsyncSession, incident: Incident) -> OutboxMessage | None:
    """The undelivered outbox row whose ``ts`` will become the incident's thread."""
    run_keys = select(literal("run:", String) + cast(Run.id, String)).where(
        Run.incident_id == incident.id
    )
    query = (
        select(OutboxMessage)
        .where(
            OutboxMessage.state == OutboxState.PENDING,
            (OutboxMessage.on_delivered == incident_key(incident.id))
            | OutboxMessage.on_delivered.in_(run_keys),
        )
        .order_by(OutboxMessage.id)
        .limit(1)
    )
    return (await session.execute(query)).scalar_one_or_none()


async def resolve_incident(
    session: AsyncSession,
    incident: Incident,
    *,
    user_id: str,
    policy: PriorityPolicy,
    postmortem_due: float | None = None,
    ended: Sequence[str] = (),
) -> None:
    """``postmortem_due``: seconds until a (non-drill) incident's postmortem is due;
    ``ended``: a line per run the resolve ended."""
    now = utcnow()
    incident.state = IncidentState.RESOLVED
    incident.resolved_at = now
    incident.resolved_by = user_id
    incident.next_reminder_at = None  # no more reminders
    # Nor response-target or RTO clocks (follow-ups stay due after it).
    await disarm(session, incident.id, INCIDENT_CLOCKS)
    if postmortem_due and not incident.drill:
        arm(session, POSTMORTEM_DUE, incident.id, now + timedelta(seconds=postmortem_due))
    stats = await incident_stats(session, incident, policy.target_for(incident.priority))
    stats["ended_runs"] = list(ended)
    add_event(
        session,
        incident.id,
        EventKind.INCIDENT_RESOLVED,
        user_id,
        f"{incident.key} resolved",
        at=now,
        data=resolved_data(incident, stats),
    )
    enqueue(
        session,
        incident_key(incident.id),
        "chat.postMessage",
        {
            "channel": incident.channel_id,
            **incident_blocks.resolve_message(incident_view(incident), user_id, stats),
        },
        priority=Priority.CLICK,
    )


async def snooze_reminders(
    session: AsyncSession, incident: Incident, *, user_id: str, minutes: int
) -> datetime:
    now = utcnow()
    until = now + timedelta(minutes=minutes)
    incident.next_reminder_at = until
    add_event(
        session,
        incident.id,
        EventKind.REMINDER_SNOOZED,
        user_id,
        f"Reminders snoozed for {minutes} min",
        at=now,
        data={"minutes": minutes},
    )
    enqueue(
        session,
        incident_key(incident.id),
        "chat.postMessage",
        {
            "channel": incident.channel_id,
            **incident_blocks.snoozed_message(incident_view(incident), user_id, minutes, until),
        },
        priority=Priority.CLICK,
    )
    return until
