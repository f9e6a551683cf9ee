"""The postmortem's due date: resolving a (non-drill) incident arms a
``postmortem_due`` deadline (``bot/incidents/service.py``); ``/incident
postmortem done <link>`` records it and disarms the deadline; a deadline that
passes first posts one notice to the commander (or who resolved it)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.incidents.clocks import POSTMORTEM_DUE
from bot.incidents.flows import Outcome, Request, Sessions
from bot.incidents.followups import find_incident, post_notice
from bot.incidents.service import add_event, claim_request
from bot.slack.mrkdwn import escape
from bot.store.models import Deadline, TimelineEvent
from bot.store.states import EventKind

LINK = re.compile(r"^<?(https?://[^\s<>|]{1,1000})(?:\|[^>]*)?>?$")
USAGE = "Usage: `/incident postmortem [INC-<n>] done <link>`"


def parse_link(text: str) -> str | None:
    """A URL as typed, or as Slack sends it (``<https://…>``, ``<https://…|label>``)."""
    match = LINK.match(text.strip())
    return match.group(1) if match else None


async def record_done(
    sessions: Sessions, request: Request, incident_id: int | None, link: str
) -> Outcome:
    async with sessions() as session, session.begin():
        incident, problem = await find_incident(session, request.channel, incident_id)
        if incident is None:
            return Outcome.say(f"{problem} Nothing was recorded.")
        if request.request_key and not await claim_request(session, request.request_key):
            return Outcome()
        add_event(
            session,
            incident.id,
            EventKind.POSTMORTEM_DONE,
            request.user,
            f"Postmortem written: {link}",
            data={"link": link},
        )
        await session.execute(
            delete(Deadline).where(
                Deadline.incident_id == incident.id,
                Deadline.kind == POSTMORTEM_DUE,
                Deadline.fired_at.is_(None),
            )
        )
        return Outcome.say(f"📝 Postmortem of {incident.key} recorded: {escape(link)}")


async def fire_overdue(session: AsyncSession, incident: Any, now: datetime) -> bool:
    """The overdue notice, in the claim's transaction; False once it was written."""
    written = await session.execute(
        select(func.count(TimelineEvent.id)).where(
            TimelineEvent.incident_id == incident.id,
            TimelineEvent.kind == EventKind.POSTMORTEM_DONE,
        )
    )
    if written.scalar():
        return False
    who = (incident.roles or {}).get("commander") or incident.resolved_by
    add_event(
        session,
        incident.id,
        EventKind.POSTMORTEM_OVERDUE,
        None,
        f"The postmortem of INC-{incident.id} is overdue",
        at=now,
        data={"mentioned": who},
    )
    key = f"INC-{incident.id}"
    mention = f"<@{who}>: " if who else ""
    text = (
        f"📝 {mention}the postmortem of {key} is due. A draft from its record: "
        f"`runbook-bot postmortem {key}`. When it is written: "
        f"`/incident postmortem {key} done <link>`"
    )
    await post_notice(session, incident, {"text": text})
    return True
