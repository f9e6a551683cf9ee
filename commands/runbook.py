"""``/runbook help | list | show | start | drill | history | abort``: one handler
per verb (``VERBS``)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.context import AppContext
from bot.drills import blocks as drill_blocks
from bot.drills.history import recent_runs
from bot.drills.log import due_runbooks
from bot.incidents.priority import read_level_word
from bot.incidents.service import incident_token, parse_incident_key
from bot.intake.actions import start_payload
from bot.runbook.model import Runbook
from bot.runbook.words import did_you_mean
from bot.runs import aborting, catalog_blocks
from bot.runs.flows import DRILL_ON_INCIDENT, cannot_attach
from bot.slack.mrkdwn import escape
from bot.store.models import Incident, utcnow
from commands.common import NOT_AN_APPROVER_ABORT, may_abort, slash_command


def register(bolt: AsyncApp, ctx: AppContext) -> None:
    slash_command(bolt, ctx, "/runbook", dispatch)


async def dispatch(ctx: AppContext, verb: str, rest: str, command: dict[str, Any]) -> dict | None:
    handler = VERBS.get(verb)
    if handler is None:
        hint = did_you_mean(verb, VERBS)
        return {"text": f"Unknown subcommand `{escape(verb)}`.{hint} Try `/runbook help`."}
    return await handler(ctx, rest, command)


async def usage(ctx: AppContext, rest: str, command: dict[str, Any]) -> dict | None:
    return catalog_blocks.help_message(catalog_blocks.RUNBOOK_HELP)


async def list_runbooks(ctx: AppContext, rest: str, command: dict[str, Any]) -> dict | None:
    catalog = [(rb.id, rb.title) for rb in ctx.library.runbooks.values()]
    async with ctx.sessions() as session:
        due = await due_runbooks(
            session, catalog, interval_seconds=ctx.settings.validation_interval, now=utcnow()
        )
    # Rendered off the event loop, like show: a big folder never stalls other users' acks.
    due_ids = frozenset(d.runbook_id for d in due)
    return await asyncio.to_thread(catalog_blocks.list_message, ctx.library, due_ids)


def _named_runbook(ctx: AppContext, tokens: list[str], usage: str) -> Runbook | dict:
    """The runbook the first word names, or the reply saying which is missing or unknown."""
    if not tokens:
        return {"text": f"Which runbook? `{usage}`"}
    runbook = ctx.library.get(tokens[0])
    if runbook is None:
        return {"text": catalog_blocks.unknown_runbook(tokens[0], ctx.library)}
    return runbook


async def show(ctx: AppContext, rest: str, command: dict[str, Any]) -> dict | None:
    runbook = _named_runbook(ctx, rest.split(), "/runbook show RB-04")
    if isinstance(runbook, dict):
        return runbook
    # A runbook as big as the folder's caps allow takes a while to render: in a
    # thread, so other users' clicks and /healthz are answered meanwhile.
    shown = ctx.library.shown_path(runbook)
    return await asyncio.to_thread(catalog_blocks.show_message, runbook, shown)


def _not_incident_channel(ctx: AppContext, command: dict[str, Any]) -> dict | None:
    if ctx.settings.is_incident_channel(command.get("channel_id", ""), command.get("channel_name")):
        return None
    allowed = ", ".join(f"#{c}" for c in ctx.settings.incident_channels)
    return {
        "text": f"Runbooks can only be started in an incident channel ({escape(allowed)}). "
        "Nothing was started."
    }


async def start(ctx: AppContext, rest: str, command: dict[str, Any]) -> dict | None:
    tokens = rest.split()
    runbook = _named_runbook(ctx, tokens, "/runbook start RB-04 [INC-<n>] [<level>] [summary]")
    if isinstance(runbook, dict):
        return runbook
    channel_id = command.get("channel_id", "")
    refusal = _not_incident_channel(ctx, command)
    if refusal is not None:
        return refusal
    incident_id = incident_token(tokens[1]) if len(tokens) > 1 else None
    rest_text = " ".join(tokens[2:] if incident_id is not None else tokens[1:])
    # SPEC §7: a first word naming a level is the new incident's priority.
    said = read_level_word(rest_text, ctx.settings.priorities.names)
    if said.unknown is not None:
        head = " ".join(tokens[:2] if incident_id is not None else tokens[:1])
        example = f"/runbook start {head} {{level}} {said.rest}"
        return {"text": ctx.settings.priorities.unknown_level(said.unknown, example)}
    level, rest_text = said.level, said.rest
    summary = rest_text.strip() or None
    note = None
    if level is not None and incident_id is not None:
        note = (
            f"INC-{incident_id} keeps its priority (the level only applies to a new incident); "
            f"change it with `/incident priority INC-{incident_id} {level}`."
        )
    if runbook.step_count == 0:
        return {"text": f"`{escape(runbook.id)}` has no steps to run."}
    if incident_id is not None:
        await ctx.intake_worker.drain_channel(channel_id)
        # Checked here too so bad input is answered at once; the worker re-checks.
        async with ctx.sessions() as session:
            incident = await session.get(Incident, incident_id)
        why_not = cannot_attach(incident, incident_id, channel_id)
        if why_not is not None:
            return {"text": f"{why_not} Nothing was started."}
    # Committed before the ack; the run itself is opened right after (bot/intake/worker.py).
    await ctx.intake.submit(
        *start_payload(
            runbook_id=runbook.id,
            channel=channel_id,
            user=command.get("user_id", ""),
            name=command.get("user_name"),
            summary=summary,
            incident_id=incident_id,
            trigger_id=command.get("trigger_id"),
            priority=level if incident_id is None else None,
        )
    )
    return {"text": note} if note else None


ENVIRONMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


async def drill(ctx: AppContext, rest: str, command: dict[str, Any]) -> dict | None:
    """``/runbook drill RB-11 [environment] [summary]``: a rehearsal on its own incident."""
    tokens = rest.split()
    runbook = _named_runbook(ctx, tokens, "/runbook drill RB-11 [environment] [summary]")
    if isinstance(runbook, dict):
        return runbook
    if any(parse_incident_key(t) is not None for t in tokens[1:2]):
        return {"text": f"{DRILL_ON_INCIDENT} Nothing was started."}
    refusal = _not_incident_channel(ctx, command)
    if refusal is not None:
        return refusal
    environment = tokens[1] if len(tokens) > 1 else "staging"
    if not ENVIRONMENT.match(environment):
        return {
            "text": f"`{escape(environment[:80])}` is not an environment name (one word: "
            "letters, digits, `-`, `_`, `.`). Nothing was started."
        }
    if runbook.step_count == 0:
        return {"text": f"`{escape(runbook.id)}` has no steps to run."}
    await ctx.intake.submit(
        *start_payload(
            runbook_id=runbook.id,
            channel=command.get("channel_id", ""),
            user=command.get("user_id", ""),
            name=command.get("user_name"),
            summary=" ".join(tokens[2:]).strip() or None,
            incident_id=None,
            trigger_id=command.get("trigger_id"),
            drill_environment=environment.lower(),
        )
    )
    return None


async def history(ctx: AppContext, rest: str, command: dict[str, Any]) -> dict | None:
    runbook = _named_runbook(ctx, rest.split(), "/runbook history RB-04")
    if isinstance(runbook, dict):
        return runbook
    async with ctx.sessions() as session:
        rows = await recent_runs(session, runbook.id, limit=15)
    return drill_blocks.history_message(runbook.id, runbook.title, rows)


async def abort(ctx: AppContext, rest: str, command: dict[str, Any]) -> dict | None:
    channel_id = command.get("channel_id", "")
    if not may_abort(ctx, command.get("user_id", "")):
        return {"text": NOT_AN_APPROVER_ABORT}
    token = rest.split()[0] if rest.split() else None
    incident_id = parse_incident_key(token) if token else None
    if token and incident_id is None:
        return {"text": f"`{escape(token)}` is not an incident ID (INC-<n>)."}
    result = await aborting.abort(
        ctx.sessions,
        ctx.intake_worker,
        user_id=command.get("user_id", ""),
        channel_id=channel_id,
        incident_id=incident_id,
    )
    if result.problem is not None:
        return {"text": result.problem}
    if result.refused is not None:
        return {"text": "That run has already ended."}
    ctx.outbox.notify()
    ctx.metrics.runs_aborted.inc()
    return None


Handler = Callable[[AppContext, str, dict[str, Any]], Awaitable[dict | None]]

VERBS: dict[str, Handler] = {
    "": usage,
    "help": usage,
    "list": list_runbooks,
    "show": show,
    "start": start,
    "drill": drill,
    "history": history,
    "abort": abort,
    "stop": abort,
    "cancel": abort,
}
