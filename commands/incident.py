"""``/incident declare | update | note | resolve | timeline``."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.context import AppContext
from bot.incidents import blocks as incident_blocks
from bot.incidents.service import (
    add_event,
    claim_request,
    create_incident,
    record_status_update,
    resolve_incident,
    resolve_target,
    split_incident_arg,
    timeline,
)
from bot.runs import catalog_blocks
from bot.slack.mrkdwn import escape
from bot.slack.outbox import enqueue
from bot.store.models import Incident, utcnow
from commands.common import slash_command

MAX_TEXT = 40_000


def register(bolt: AsyncApp, ctx: AppContext) -> None:
    slash_command(bolt, ctx, "/incident", dispatch)


async def dispatch(ctx: AppContext, verb: str, rest: str, command: dict[str, Any]) -> dict | None:
    channel = command.get("channel_id", "")
    user = command.get("user_id", "")
    request_key = f"trigger:{command['trigger_id']}" if command.get("trigger_id") else None
    if verb in ("", "help"):
        return catalog_blocks.help_message(catalog_blocks.INCIDENT_HELP)
    if verb not in ("declare", "open", "update", "note", "resolve", "timeline"):
        return {"text": f"Unknown subcommand `{escape(verb)}`. Try `/incident help`."}
    if len(rest) > MAX_TEXT:
        return {"text": f"That text is {len(rest):,} characters; the limit is {MAX_TEXT:,}."}
    # A start or click acknowledged a moment ago is acted on first.
    await ctx.intake_worker.drain_channel(channel)
    if verb in ("declare", "open"):
        if not rest:
            return {"text": "Give the incident a title: `/incident declare <title>`"}
        if not ctx.settings.is_incident_channel(channel, command.get("channel_name")):
            allowed = ", ".join(f"#{c}" for c in ctx.settings.incident_channels)
            return {
                "text": f"Incidents can only be declared in an incident channel "
                f"({escape(allowed)}). Nothing was recorded."
            }
        async with ctx.sessions() as session, session.begin():
            if request_key and not await claim_request(session, request_key):
                return None
            incident = await create_incident(
                session,
                channel_id=channel,
                title=rest,
                user_id=user,
                at=utcnow(),
                interval_seconds=ctx.settings.status_update_interval,
            )
            payload = incident_blocks.declared_message(incident, user)
            enqueue(
                session,
                f"incident:{incident.id}",
                "chat.postMessage",
                {"channel": channel, **payload},
                on_delivered=f"incident:{incident.id}",
            )
        ctx.outbox.notify()
        ctx.reminders.nudge(incident.next_reminder_at)
        return None

    incident_id, text = split_incident_arg(rest)
    if verb in ("update", "note") and not text.strip():
        return {"text": f"Nothing to record: `/incident {verb} [INC-<n>] <text>`"}
    async with ctx.sessions() as session, session.begin():
        incident, problem = await resolve_target(session, channel, incident_id)
        if incident is None:
            if verb == "timeline" and incident_id is not None:
                # A resolved incident's timeline is still worth reading.
                incident = await session.get(Incident, incident_id)
            if incident is None:
                return {"text": problem or "No such incident."}
        if verb == "timeline":
            events = await timeline(session, incident.id)
            return incident_blocks.timeline_blocks(incident, events)
        # Lock the row: a concurrent resolve, update or reminder claim waits
        # for this one, and a second resolve finds the incident resolved.
        await session.refresh(incident, with_for_update=True)
        if incident.state != "open":
            return {"text": f"{incident.key} is already resolved."}
        if request_key and not await claim_request(session, request_key):
            return None
        # Serialise with the reminder job, which claims the row FOR UPDATE: the
        # event's time is taken after the lock, so timeline ids and times agree.
        await session.refresh(incident, with_for_update=ctx.postgres)
        if verb == "update":
            due = await record_status_update(
                session,
                incident,
                user_id=user,
                text=text,
                interval_seconds=ctx.settings.status_update_interval,
            )
        elif verb == "note":
            add_event(session, incident.id, "note", user, text)
            due = None
        else:
            await resolve_incident(session, incident, user_id=user)
            due = None
        key = incident.key
    ctx.outbox.notify()
    if due is not None:
        ctx.reminders.nudge(due)
    if verb == "note":
        return {"text": f"📝 Note added to {key}'s timeline."}
    return None
