"""``/incident declare | ack | priority | role | update | note | resolve | timeline``
(and ``followup`` / ``followups``: ``commands/followups.py``).

One small handler per verb (``VERBS``): parse, call a flow in
``bot/incidents/flows.py``, return the private reply. Adding a verb is one
function and one table entry.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.context import AppContext
from bot.incidents import flows
from bot.incidents.flows import Outcome, Request
from bot.incidents.priority import level_of_word, read_level_word
from bot.incidents.response import ROLE, parse_user
from bot.incidents.service import split_incident_arg
from bot.runbook.words import did_you_mean
from bot.runs import catalog_blocks
from bot.runs import resolving as resolving_flow
from bot.runs.messaging import refresh_run_messages
from bot.slack.mrkdwn import escape, readable
from commands.common import slash_command
from commands.followups import followup, list_followups, postmortem

MAX_TEXT = 40_000

Handler = Callable[[AppContext, Request, str, dict[str, Any]], Awaitable[Outcome]]


def register(bolt: AsyncApp, ctx: AppContext) -> None:
    slash_command(bolt, ctx, "/incident", dispatch)


async def dispatch(ctx: AppContext, verb: str, rest: str, command: dict[str, Any]) -> dict | None:
    if verb in ("", "help"):
        levels = f"\nPriority levels, most urgent first: {ctx.settings.priorities.describe()}."
        return catalog_blocks.help_message(catalog_blocks.INCIDENT_HELP + levels)
    handler = VERBS.get(verb)
    if handler is None:
        hint = did_you_mean(verb, VERBS)
        return {"text": f"Unknown subcommand `{escape(verb)}`.{hint} Try `/incident help`."}
    if len(rest) > MAX_TEXT:
        return {"text": f"That text is {len(rest):,} characters; the limit is {MAX_TEXT:,}."}
    request = Request.from_command(command)
    # A start or click acknowledged a moment ago is acted on first.
    await ctx.intake_worker.drain_channel(request.channel)
    outcome = await handler(ctx, request, rest, command)
    if outcome.delivered:
        ctx.outbox.notify()
    if outcome.due is not None:
        ctx.reminders.nudge(outcome.due)
    if outcome.deadline is not None:
        ctx.deadlines.nudge(outcome.deadline)
    return outcome.reply


async def declare(ctx: AppContext, request: Request, rest: str, command: dict) -> Outcome:
    policy = ctx.settings.priorities
    said = read_level_word(rest, policy.names)
    if said.unknown is not None:
        example = f"/incident declare {{level}} {said.rest}"
        return Outcome.say(policy.unknown_level(said.unknown, example))
    level, title = said.level, said.rest
    if not title:
        return Outcome.say("Give the incident a title: `/incident declare [<level>] <title>`")
    if not ctx.settings.is_incident_channel(request.channel, command.get("channel_name")):
        allowed = ", ".join(f"#{c}" for c in ctx.settings.incident_channels)
        return Outcome.say(
            f"Incidents can only be declared in an incident channel ({escape(allowed)}). "
            "Nothing was recorded."
        )
    title = readable(title)
    return await flows.declare(ctx.sessions, request, title, policy=policy, priority=level)


# The transitions behind both the verbs and the incident's buttons
# (``commands/incident_actions.py``): one path each.


def acknowledging(ctx: AppContext, user: str, via: str = "command") -> flows.Action:
    """Acknowledge, then re-render the run messages (no Acknowledge button left)."""
    action = flows.acknowledge(user, policy=ctx.settings.priorities, via=via)
    return flows.then(action, refresh_run_messages)


def assigning(user: str, role: str, holder: str) -> flows.Action:
    return flows.then(flows.assign_role(user, role, holder), refresh_run_messages)


def resolving(ctx: AppContext, user: str) -> flows.Action:
    """Resolve, ending the runs still going (``bot/runs/resolving.py``)."""
    return resolving_flow.resolve(
        user, policy=ctx.settings.priorities, postmortem_due=ctx.settings.postmortem_due
    )


async def ack(ctx: AppContext, request: Request, rest: str, command: dict) -> Outcome:
    incident_id, extra = split_incident_arg(rest)
    if extra:
        return Outcome.say("Usage: `/incident ack [INC-<n>]`")
    action = acknowledging(ctx, request.user)
    return await flows.act_on_open(ctx.sessions, request, incident_id, action)


async def priority(ctx: AppContext, request: Request, rest: str, command: dict) -> Outcome:
    policy = ctx.settings.priorities
    incident_id, word = split_incident_arg(rest)
    if not word or len(word.split()) != 1:
        return Outcome.say(f"Usage: `/incident priority [INC-<n>] <level>` — {policy.describe()}")
    level = policy.level(level_of_word(word, policy.names))
    if level is None:
        return Outcome.say(
            f"`{escape(word)}` is not a priority level. Levels: {policy.describe()}. "
            "Nothing changed."
        )
    action = flows.then(
        flows.set_priority(request.user, level, policy=policy), refresh_run_messages
    )
    return await flows.act_on_open(ctx.sessions, request, incident_id, action)


async def role(ctx: AppContext, request: Request, rest: str, command: dict) -> Outcome:
    incident_id, args = split_incident_arg(rest)
    parts = args.split()
    usage = "Usage: `/incident role [INC-<n>] <role> <@user>`, e.g. `/incident role commander @ana`"
    if len(parts) != 2:
        return Outcome.say(usage)
    name, holder = parts[0].lower(), parse_user(parts[1])
    if not ROLE.match(name):
        return Outcome.say(f"`{escape(parts[0])}` is not a role name (one word). {usage}")
    if holder is None:
        return Outcome.say(f"`{escape(parts[1])}` is not a user: mention them. {usage}")
    action = assigning(request.user, name, holder)
    return await flows.act_on_open(ctx.sessions, request, incident_id, action)


async def update(ctx: AppContext, request: Request, rest: str, command: dict) -> Outcome:
    incident_id, text = split_incident_arg(rest)
    if not text.strip():
        return Outcome.say("Nothing to record: `/incident update [INC-<n>] <text>`")
    action = flows.post_update(request.user, readable(text), policy=ctx.settings.priorities)
    return await flows.act_on_open(ctx.sessions, request, incident_id, action)


async def note(ctx: AppContext, request: Request, rest: str, command: dict) -> Outcome:
    incident_id, text = split_incident_arg(rest)
    if not text.strip():
        return Outcome.say("Nothing to record: `/incident note [INC-<n>] <text>`")
    action = flows.add_note(request.user, readable(text))
    return await flows.act_on_open(ctx.sessions, request, incident_id, action)


async def resolve(ctx: AppContext, request: Request, rest: str, command: dict) -> Outcome:
    incident_id, _ = split_incident_arg(rest)
    action = resolving(ctx, request.user)
    return await flows.act_on_open(ctx.sessions, request, incident_id, action)


async def timeline(ctx: AppContext, request: Request, rest: str, command: dict) -> Outcome:
    incident_id, _ = split_incident_arg(rest)
    return await flows.show_timeline(ctx.sessions, request.channel, incident_id)


VERBS: dict[str, Handler] = {
    "declare": declare,
    "open": declare,
    "ack": ack,
    "acknowledge": ack,
    "priority": priority,
    "role": role,
    "update": update,
    "note": note,
    "resolve": resolve,
    "timeline": timeline,
    "followup": followup,
    "followups": list_followups,
    "postmortem": postmortem,
}
