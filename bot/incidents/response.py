"""Who responds and how urgently (SPEC §7): acknowledgement, priority changes,
roles. Each function works inside the caller's transaction, on a row-locked
open incident; the caller commits."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.incidents import clock_blocks
from bot.incidents.clocks import RESPONSE_TARGET, disarm, move_response_target
from bot.incidents.priority import PriorityLevel, PriorityPolicy
from bot.incidents.service import add_event, incident_view, post_in_thread
from bot.store.models import Incident, utcnow
from bot.store.states import EventKind

COMMANDER = "commander"
ROLE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
USER = re.compile(r"^(?:<@([UW][A-Z0-9]+)(?:\|[^>]*)?>|([UW][A-Z0-9]{5,}))$")


def parse_user(token: str) -> str | None:
    """``<@U123>``, ``<@U123|ann>`` (how Slack escapes a mention) or ``U123`` → ``U123``."""
    match = USER.match(token.strip())
    return (match.group(1) or match.group(2)) if match else None


async def acknowledge(
    session: AsyncSession,
    incident: Incident,
    *,
    user_id: str,
    via: str,
    at: datetime | None = None,
    data: dict | None = None,
) -> bool:
    """Record the first acknowledgement (once); False when someone was first."""
    if incident.acknowledged_at is not None:
        return False
    now = at or utcnow()
    incident.acknowledged_at = now
    incident.acknowledged_by = user_id
    add_event(
        session,
        incident.id,
        EventKind.INCIDENT_ACKNOWLEDGED,
        user_id,
        f"{incident.key} acknowledged ({via.replace('_', ' ')})",
        at=now,
        data={
            "via": via,
            "seconds": round((now - incident.opened_at).total_seconds(), 3),
            **(data or {}),
        },
    )
    await disarm(session, incident.id, kinds=(RESPONSE_TARGET,))
    return True


async def change_priority(
    session: AsyncSession,
    incident: Incident,
    *,
    user_id: str,
    level: PriorityLevel,
    policy: PriorityPolicy,
) -> datetime:
    """Set the level; an unacknowledged incident's response target becomes the
    new level's (from when it opened) and the reminder clock re-arms from the
    last status update with the new level's interval. Returns the next reminder."""
    old = incident.priority
    now = utcnow()
    incident.priority = level.name
    add_event(
        session,
        incident.id,
        EventKind.PRIORITY_CHANGED,
        user_id,
        f"Priority changed from {old} to {level.name}",
        at=now,
        data={"from": old, "to": level.name},
    )
    if incident.acknowledged_at is None:
        await move_response_target(session, incident, level.target_seconds)
    since = incident.last_update_at or incident.opened_at
    incident.next_reminder_at = since + timedelta(seconds=policy.interval_for(level.name))
    await post_in_thread(
        session,
        incident,
        clock_blocks.priority_changed_message(incident_view(incident), user_id, old),
    )
    return incident.next_reminder_at


async def assign_role(
    session: AsyncSession, incident: Incident, *, by: str, role: str, user: str
) -> str | None:
    """Give ``role`` to ``user`` (replacing its holder); returns the previous holder.
    Assigning the commander acknowledges the incident."""
    roles = dict(incident.roles or {})
    previous = roles.get(role)
    roles[role] = user
    incident.roles = roles  # a new dict: the JSON column sees the change
    now = utcnow()
    add_event(
        session,
        incident.id,
        EventKind.ROLE_ASSIGNED,
        by,
        f"<@{user}> is the {role}" + (f" (was <@{previous}>)" if previous else ""),
        at=now,
        data={"role": role, "user": user, "previous": previous},
    )
    await post_in_thread(
        session,
        incident,
        clock_blocks.role_assigned_message(incident_view(incident), by, role, user),
    )
    if role == COMMANDER:
        await acknowledge(
            session,
            incident,
            user_id=by,
            via="commander_assigned",
            at=now,
            data={"commander": user},
        )
    return previous
