"""The ``/incident`` verbs as whole transactions: find the incident, lock it,
claim the request's idempotency key, act — then say what the listener owes.

The listener (``commands/incident.py``) parses the text and calls one of
these; every flow commits before it returns, so nothing acknowledged is lost.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.incidents import blocks as incident_blocks
from bot.incidents import clock_blocks, response
from bot.incidents.messages import collapse_last_reminder, refresh_declared
from bot.incidents.priority import PriorityLevel, PriorityPolicy
from bot.incidents.service import (
    add_event,
    claim_request,
    create_incident,
    event_view,
    incident_view,
    other_channel,
    record_status_update,
    resolve_incident,
    resolve_target,
    snooze_reminders,
    timeline,
)
from bot.incidents.timeline_blocks import timeline_blocks
from bot.slack.outbox import enqueue
from bot.slack.pace import Priority
from bot.store.backend import backend
from bot.store.models import Incident, utcnow
from bot.store.states import EventKind, IncidentState, incident_key

Sessions = async_sessionmaker[AsyncSession]


@dataclass(frozen=True, slots=True)
class Request:
    """Who asked, where, and the key that makes a retried request a no-op."""

    channel: str
    user: str
    request_key: str | None = None

    @classmethod
    def from_command(cls, command: dict[str, Any]) -> Request:
        trigger = command.get("trigger_id")
        return cls(
            channel=command.get("channel_id", ""),
            user=command.get("user_id", ""),
            request_key=f"trigger:{trigger}" if trigger else None,
        )


@dataclass(slots=True)
class Outcome:
    """What a flow leaves for the listener: a private reply, work for the
    outbox, a reminder due time to wake the scheduler for."""

    reply: dict[str, Any] | None = None
    delivered: bool = False  # the outbox has rows to send
    due: datetime | None = None
    deadline: datetime | None = None  # a response target was set or moved

    @classmethod
    def say(cls, text: str) -> Outcome:
        return cls(reply={"text": text})


# Acts on a locked, open incident inside the flow's transaction.
Action = Callable[[AsyncSession, Incident], Awaitable[Outcome]]


async def declare(
    sessions: Sessions,
    request: Request,
    title: str,
    *,
    policy: PriorityPolicy,
    priority: str | None = None,
) -> Outcome:
    async with sessions() as session, session.begin():
        if request.request_key and not await claim_request(session, request.request_key):
            return Outcome()
        incident = await create_incident(
            session,
            channel_id=request.channel,
            title=title,
            user_id=request.user,
            at=utcnow(),
            policy=policy,
            priority=priority,
        )
        payload = incident_blocks.declared_message(incident_view(incident), request.user)
        enqueue(
            session,
            incident_key(incident.id),
            "chat.postMessage",
            {"channel": request.channel, **payload},
            on_delivered=incident_key(incident.id),
            priority=Priority.CLICK,
        )
    target = policy.target_for(incident.priority) or 0.0
    deadline = incident.opened_at + timedelta(seconds=target)
    return Outcome(delivered=True, due=incident.next_reminder_at, deadline=deadline)


async def act_on_open(
    sessions: Sessions,
    request: Request,
    incident_id: int | None,
    action: Action,
) -> Outcome:
    """Run ``action`` on the open incident the request means, row-locked
    (PostgreSQL), so a concurrent resolve, update or reminder claim waits for
    this one, and the event's time is taken after the lock (timeline ids and
    times agree).
    """
    async with sessions() as session, session.begin():
        incident, problem = await resolve_target(session, request.channel, incident_id)
        if incident is None:
            return Outcome.say(problem or "No such incident.")
        await session.refresh(incident, with_for_update=backend(session).postgres)
        if incident.state != IncidentState.OPEN:
            return Outcome.say(f"{incident.key} is already resolved.")
        if request.request_key and not await claim_request(session, request.request_key):
            return Outcome()
        return await action(session, incident)


async def show_timeline(sessions: Sessions, channel: str, incident_id: int | None) -> Outcome:
    async with sessions() as session:
        incident, problem = await resolve_target(session, channel, incident_id)
        if incident is None and incident_id is not None:
            # A resolved incident's timeline is still worth reading (in its channel).
            incident = await session.get(Incident, incident_id)
            if incident is not None and (elsewhere := other_channel(incident, channel)):
                return Outcome.say(elsewhere)
        if incident is None:
            return Outcome.say(problem or "No such incident.")
        events = [event_view(e) for e in await timeline(session, incident.id)]
        return Outcome(reply=timeline_blocks(incident_view(incident), events))


# --- actions on an open incident ----------------------------------------------


def post_update(user: str, text: str, *, policy: PriorityPolicy, via: str = "command") -> Action:
    """``via``: "command" (``/incident update``) or "modal" (the reminder's button)."""

    async def act(session: AsyncSession, incident: Incident) -> Outcome:
        due = await record_status_update(
            session, incident, user_id=user, text=text, policy=policy, via=via
        )
        return Outcome(delivered=True, due=due)

    return act


def add_note(user: str, text: str) -> Action:
    async def act(session: AsyncSession, incident: Incident) -> Outcome:
        add_event(session, incident.id, EventKind.NOTE, user, text)
        return Outcome.say(f"📝 Note added to {incident.key}'s timeline.")

    return act


def snooze(user: str, minutes: int) -> Action:
    """The reminder's Snooze: no reminder for ``minutes``."""

    async def act(session: AsyncSession, incident: Incident) -> Outcome:
        due = await snooze_reminders(session, incident, user_id=user, minutes=minutes)
        return Outcome(delivered=True, due=due)

    return act


def resolve(
    user: str,
    *,
    policy: PriorityPolicy,
    postmortem_due: float | None = None,
    ended: Sequence[str] = (),
) -> Action:
    """``ended``: a line per run the resolve ended (``bot/runs/resolving.py``
    ends them first), said in the summary."""

    async def act(session: AsyncSession, incident: Incident) -> Outcome:
        await resolve_incident(
            session,
            incident,
            user_id=user,
            policy=policy,
            postmortem_due=postmortem_due,
            ended=ended,
        )
        # No live reminder and no buttons are left on a resolved incident.
        await collapse_last_reminder(session, incident, resolved=True)
        await refresh_declared(session, incident, running=())
        due = utcnow() + timedelta(seconds=postmortem_due) if postmortem_due else None
        return Outcome(delivered=True, deadline=due)

    return act


def acknowledge(user: str, *, policy: PriorityPolicy, via: str = "command") -> Action:
    """``via``: "command" (``/incident ack``) or "button" (the incident's Acknowledge)."""

    async def act(session: AsyncSession, incident: Incident) -> Outcome:
        if not await response.acknowledge(session, incident, user_id=user, via=via):
            return Outcome.say(clock_blocks.already_acknowledged(incident_view(incident)))
        await refresh_declared(session, incident)
        view = incident_view(incident)
        reply = clock_blocks.ack_reply(view, policy.target_for(incident.priority))
        return Outcome(reply={"text": reply}, delivered=True)

    return act


def set_priority(user: str, level: PriorityLevel, *, policy: PriorityPolicy) -> Action:
    async def act(session: AsyncSession, incident: Incident) -> Outcome:
        if incident.priority == level.name:
            return Outcome.say(f"{incident.key} is already {level.name}. Nothing changed.")
        due = await response.change_priority(
            session, incident, user_id=user, level=level, policy=policy
        )
        await refresh_declared(session, incident)
        deadline = incident.opened_at + timedelta(seconds=level.target_seconds)
        return Outcome(delivered=True, due=due, deadline=deadline)

    return act


def assign_role(user: str, role: str, holder: str) -> Action:
    async def act(session: AsyncSession, incident: Incident) -> Outcome:
        if (incident.roles or {}).get(role) == holder:
            return Outcome.say(f"<@{holder}> is already the {role} of {incident.key}.")
        await response.assign_role(session, incident, by=user, role=role, user=holder)
        await refresh_declared(session, incident)
        return Outcome(delivered=True)

    return act


def then(action: Action, hook: Callable[[AsyncSession, Incident], Awaitable[None]]) -> Action:
    """``action``, then ``hook`` in the same transaction when it changed something
    (e.g. re-render the incident's run messages, which ``bot/runs`` owns)."""

    async def act(session: AsyncSession, incident: Incident) -> Outcome:
        outcome = await action(session, incident)
        if outcome.delivered:
            await hook(session, incident)
        return outcome

    return act
