"""Follow-ups as whole transactions: add, mark done, list — and the overdue
notice the deadline machinery (``bot/incidents/deadlines.py``) fires once.

A follow-up with a due time arms a ``followup_due`` deadline; marking it done
deletes the pending one. Follow-ups are added after an incident as often as
during it, so these act on resolved incidents too.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.incidents import followup_text
from bot.incidents.clocks import FOLLOWUP_DUE
from bot.incidents.flows import Outcome, Request, Sessions
from bot.incidents.followup_text import FollowupSpec, FollowupView
from bot.incidents.service import (
    add_event,
    claim_request,
    open_incidents,
    other_channel,
    thread_parent,
)
from bot.slack.outbox import enqueue
from bot.slack.pace import Priority
from bot.store.backend import backend
from bot.store.models import Deadline, Followup, Incident, utcnow
from bot.store.states import EventKind, incident_key


def view_of(row: Any) -> FollowupView:
    return FollowupView(
        id=row.id,
        incident_id=row.incident_id,
        text=row.text,
        owner=row.owner,
        due_at=row.due_at,
        done_at=row.done_at,
    )


async def find_incident(
    session: AsyncSession, channel: str, incident_id: int | None
) -> tuple[Incident | None, str | None]:
    """The named incident (open or resolved); else the one open here; else the
    channel's latest (a follow-up is usually agreed after resolving)."""
    if incident_id is not None:
        incident = await session.get(Incident, incident_id)
        if incident is None:
            return None, f"There is no INC-{incident_id}."
        elsewhere = other_channel(incident, channel)
        return (incident, None) if elsewhere is None else (None, elsewhere)
    candidates = await open_incidents(session, channel)
    if len(candidates) > 1:
        listed = ", ".join(f"`{i.key}`" for i in candidates[:20])
        return None, f"Several incidents are open here — say which: {listed}."
    if candidates:
        return candidates[0], None
    latest = (
        await session.execute(
            select(Incident)
            .where(Incident.channel_id == channel)
            .order_by(Incident.id.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    return latest, None if latest else "No incident here yet. Name one with `INC-<n>`."


async def add(
    sessions: Sessions, request: Request, incident_id: int | None, spec: FollowupSpec
) -> Outcome:
    async with sessions() as session, session.begin():
        incident, problem = await find_incident(session, request.channel, incident_id)
        if incident is None:
            return Outcome.say(f"{problem} Nothing was recorded.")
        if request.request_key and not await claim_request(session, request.request_key):
            return Outcome()
        now = utcnow()
        owner = spec.owner or request.user
        row = Followup(
            incident_id=incident.id,
            text=spec.text,
            owner=owner,
            due_at=spec.due_at,
            created_by=request.user,
            created_at=now,
        )
        session.add(row)
        await session.flush()
        data = {
            "id": row.id,
            "text": spec.text,
            "owner": owner,
            "due": spec.due_at.isoformat() if spec.due_at else None,
        }
        summary = f"Follow-up #{row.id}: {spec.text}"
        add_event(
            session, incident.id, EventKind.FOLLOWUP_ADDED, request.user, summary, at=now, data=data
        )
        if spec.due_at is not None:
            session.add(
                Deadline(
                    kind=FOLLOWUP_DUE,
                    incident_id=incident.id,
                    followup_id=row.id,
                    due_at=spec.due_at,
                )
            )
        reply = followup_text.added_reply(view_of(row))
    return Outcome(reply={"text": reply}, deadline=spec.due_at)


async def done(sessions: Sessions, request: Request, followup_id: int) -> Outcome:
    async with sessions() as session, session.begin():
        row = await session.get(
            Followup, followup_id, with_for_update=backend(session).postgres or None
        )
        if row is None:
            return Outcome.say(f"There is no follow-up #{followup_id}. Nothing changed.")
        if row.done_at is not None:
            return Outcome.say(f"Follow-up #{followup_id} is already done.")
        if request.request_key and not await claim_request(session, request.request_key):
            return Outcome()
        now = utcnow()
        row.done_at, row.done_by = now, request.user
        add_event(
            session,
            row.incident_id,
            EventKind.FOLLOWUP_DONE,
            request.user,
            f"Follow-up #{row.id} done: {row.text}",
            at=now,
            data={"id": row.id},
        )
        await session.execute(
            delete(Deadline).where(Deadline.followup_id == row.id, Deadline.fired_at.is_(None))
        )
        return Outcome.say(f"☑️ Follow-up *#{row.id}* of INC-{row.incident_id} is done.")


async def listed(
    sessions: Sessions,
    *,
    incident_ids: list[int] | None = None,
    owner: str | None = None,
    open_only: bool = True,
    overdue_at: datetime | None = None,
) -> list[FollowupView]:
    """Follow-ups matching all the given filters (open ones unless told)."""
    query = select(Followup).order_by(Followup.id)
    if incident_ids is not None:
        query = query.where(Followup.incident_id.in_(incident_ids))
    if owner is not None:
        query = query.where(Followup.owner == owner)
    if open_only:
        query = query.where(Followup.done_at.is_(None))
    if overdue_at is not None:
        query = query.where(Followup.due_at <= overdue_at)
    async with sessions() as session:
        return [view_of(row) for row in (await session.execute(query)).scalars()]


async def incident_for(sessions: Sessions, channel: str, incident_id: int | None) -> int | str:
    """The incident a command means (open or resolved) by id, or why it is unclear."""
    async with sessions() as session:
        incident, problem = await find_incident(session, channel, incident_id)
        return incident.id if incident is not None else str(problem)


async def channel_incidents(sessions: Sessions, channel: str) -> list[int]:
    async with sessions() as session:
        query = select(Incident.id).where(Incident.channel_id == channel)
        return list((await session.execute(query)).scalars())


async def fire_overdue(session: AsyncSession, deadline: Any, incident: Any, now: datetime) -> bool:
    """The overdue notice, in the claim's transaction; False when it was done."""
    if deadline.followup_id is None:
        return False
    row = await session.get(Followup, deadline.followup_id)
    if row is None or row.done_at is not None:
        return False
    view = view_of(row)
    late = round(max(0.0, (now - deadline.due_at).total_seconds()), 3)
    add_event(
        session,
        incident.id,
        EventKind.FOLLOWUP_OVERDUE,
        None,
        f"Follow-up #{row.id} is overdue",
        at=now,
        data={
            "id": row.id,
            "owner": row.owner,
            "due": deadline.due_at.isoformat(),
            "late_seconds": late,
        },
    )
    await post_notice(session, incident, followup_text.overdue_message(view))
    return True


async def post_notice(session: AsyncSession, incident: Any, message: dict[str, Any]) -> None:
    """A deadline's notice in the incident's thread (or under the message that
    will start it), at escalation priority."""
    payload: dict[str, Any] = {"channel": incident.channel_id, **message}
    parent = None
    if incident.thread_ts:
        payload["thread_ts"] = incident.thread_ts
    else:
        parent = await thread_parent(session, incident)
    enqueue(
        session,
        incident_key(incident.id),
        "chat.postMessage",
        payload,
        thread_from=parent,
        priority=Priority.ESCALATION,
    )
