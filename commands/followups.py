"""``/incident followup …``, ``/incident followups …`` and ``/incident
postmortem``: parse, call a flow in ``bot/incidents/``, answer privately."""

from __future__ import annotations

from bot.context import AppContext
from bot.incidents import followup_text, followups, postmortem_due, postmortem_render
from bot.incidents.flows import Outcome, Request
from bot.incidents.postmortem import load_draft
from bot.incidents.service import split_incident_arg
from bot.slack.mrkdwn import escape
from bot.store.models import utcnow
from bot.store.states import parse_incident_key

LIST_USAGE = "Usage: `/incident followups [INC-<n> | mine | overdue]`"


async def followup(ctx: AppContext, request: Request, rest: str, command: dict) -> Outcome:
    words = rest.split()
    if words and words[0].lower() == "done":
        followup_id = followup_text.parse_id(words[1]) if len(words) == 2 else None
        if followup_id is None:
            return Outcome.say("Usage: `/incident followup done <id>`, e.g. `done 12`")
        return await followups.done(ctx.sessions, request, followup_id)
    incident_id, text = split_incident_arg(rest)
    spec = followup_text.parse_followup(text, utcnow())
    if isinstance(spec, str):
        return Outcome.say(f"{spec} Nothing was recorded.")
    return await followups.add(ctx.sessions, request, incident_id, spec)


async def list_followups(ctx: AppContext, request: Request, rest: str, command: dict) -> Outcome:
    word = rest.strip()
    now = utcnow()
    if not word:
        ids = await followups.channel_incidents(ctx.sessions, request.channel)
        views = await followups.listed(ctx.sessions, incident_ids=ids)
        title = "open in this channel"
    elif word.lower() == "mine":
        views = await followups.listed(ctx.sessions, owner=request.user)
        title = "you own"
    elif word.lower() == "overdue":
        views = await followups.listed(ctx.sessions, overdue_at=now)
        title = "overdue"
    elif (incident_id := parse_incident_key(word)) is not None:
        views = await followups.listed(ctx.sessions, incident_ids=[incident_id], open_only=False)
        title = f"of INC-{incident_id}"
    else:
        return Outcome.say(f"`{escape(word[:100])}` is not a choice. {LIST_USAGE}")
    return Outcome.say(followup_text.list_reply(views, title, now))


async def postmortem(ctx: AppContext, request: Request, rest: str, command: dict) -> Outcome:
    incident_id, extra = split_incident_arg(rest)
    words = extra.split()
    if words and words[0].lower() == "done":
        link = postmortem_due.parse_link(words[1]) if len(words) == 2 else None
        if link is None:
            return Outcome.say(
                f"Give the postmortem's link (http or https). {postmortem_due.USAGE}"
            )
        return await postmortem_due.record_done(ctx.sessions, request, incident_id, link)
    if extra:
        return Outcome.say(f"Usage: `/incident postmortem [INC-<n>]`. {postmortem_due.USAGE}")
    found = await followups.incident_for(ctx.sessions, request.channel, incident_id)
    if isinstance(found, str):
        return Outcome.say(found)
    draft = await load_draft(ctx.sessions, found, ctx.settings.priorities)
    if draft is None:
        return Outcome.say(f"There is no INC-{found}.")
    return Outcome.say(postmortem_render.summary(draft, utcnow()))
