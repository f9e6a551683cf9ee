"""What every listener shares: database-outage handling and ephemeral replies."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.context import AppContext
from bot.incidents.service import BadIncidentKey
from bot.runbook.words import did_you_mean
from bot.slack.mrkdwn import escape
from bot.store.db import is_db_down
from bot.store.models import utcnow
from bot.store.people import clean_name, record_name

log = logging.getLogger("runbook_bot.commands")

UNAVAILABLE = (
    ":warning: The runbook bot is temporarily unavailable (its database is not answering). "
    "Nothing was recorded — please try again in a minute."
)

MALFORMED = "That button is malformed. Nothing changed."
# Aborting a run is a decision about the run: with APPROVERS set, theirs alone.
NOT_AN_APPROVER_ABORT = (
    "Only the configured approvers can abort a run in this workspace. Nothing changed."
)


def may_abort(ctx: AppContext, user_id: str) -> bool:
    """APPROVERS unset: anyone; set: its users and group members (a group Slack has
    not listed yet counts as no, as for a step decision)."""
    return ctx.approvers.allows(user_id) is True


__all__ = [
    "MALFORMED",
    "NOT_AN_APPROVER_ABORT",
    "UNAVAILABLE",
    "clean_text",
    "ephemeral",
    "is_db_down",
    "may_abort",
    "slash_command",
    "submit_click",
]


def ephemeral(
    ctx: AppContext, channel: str, user: str, text: str, thread_ts: str | None = None
) -> None:
    """Tell one person something after the ack (best effort, off the ack path)."""
    client: AsyncWebClient = ctx.client

    async def send() -> None:
        kwargs: dict[str, Any] = {"channel": channel, "user": user, "text": text}
        if thread_ts:
            kwargs["thread_ts"] = thread_ts
        try:
            await client.chat_postEphemeral(**kwargs)
            ctx.metrics.slack_call("chat.postEphemeral", True)
        except Exception as exc:
            ctx.metrics.slack_call("chat.postEphemeral", False)
            log.warning("could not send ephemeral reply: %r", exc)

    ctx.background.spawn(send())


def clean_text(text: str | None) -> str:
    """User text as PostgreSQL can store it: NUL bytes (which ``text`` columns
    reject, and which would otherwise look like a database outage) removed."""
    return (text or "").replace("\x00", "")


def split_args(text: str | None) -> tuple[str, str]:
    """``"start RB-04 rest"`` → ``("start", "RB-04 rest")``."""
    parts = clean_text(text).strip().split(None, 1)
    if not parts:
        return "", ""
    return parts[0].lower(), parts[1].strip() if len(parts) > 1 else ""


Dispatch = Callable[[AppContext, str, str, dict[str, Any]], Awaitable[dict[str, Any] | None]]


def slash_command(bolt: Any, ctx: AppContext, name: str, dispatch: Dispatch) -> None:
    """Register ``/name``: dispatch on the first word, answer in the ack.

    ``dispatch`` returns the ephemeral reply (or None for a silent ack) after
    committing its work; a database outage becomes a clear "try again"
    (``commands/outage.py``).
    """

    async def listener(ack: Any, command: dict[str, Any]) -> None:
        verb, rest = split_args(command.get("text"))
        try:
            reply = await dispatch(ctx, verb, rest, command)  # an outage: commands/outage.py
        except BadIncidentKey as exc:  # refused by name before anything changed
            reply = {"text": str(exc)}
        await ack(**reply) if reply else await ack()
        ctx.metrics.acks.labels("command").inc()
        remember_sender(ctx, command)

    bolt.command(name)(listener)


def remember_sender(ctx: AppContext, command: dict[str, Any]) -> None:
    """Record the sender's handle for what shows people by handle (the timeline
    export, the postmortem draft), as the intake worker does for clicks: after
    the ack, in the background, once per (id, name) per app. Someone who only
    ever types ``/incident`` commands would otherwise appear as a user ID."""
    user, name = command.get("user_id"), clean_name(command.get("user_name"))
    if not user or name is None or not ctx.command_names.is_new(user, name):
        return
    ctx.background.spawn(_record_sender(ctx, user, name, utcnow()))


async def _record_sender(ctx: AppContext, user: str, name: str, at: datetime) -> None:
    try:
        async with ctx.sessions() as session, session.begin():
            await record_name(session, user, name, at=at, postgres=ctx.postgres)
    except Exception as exc:
        if not is_db_down(exc):
            raise
        return  # not remembered: the person's next command tries again
    ctx.command_names.remember(user, name)


def unknown_command_text(name: str, known: tuple[str, ...]) -> str:
    """The answer to a slash command this app has no listener for."""
    hint = did_you_mean(name, known)
    listed = ", ".join(f"`{c} help`" for c in known)
    return f"Unknown command `{escape(name[:80])}`.{hint} This app answers {listed}."


def answer_unknown_commands(bolt: Any, ctx: AppContext, known: tuple[str, ...]) -> None:
    """Register last: any other slash command is answered, not left unhandled
    (Slack would show "dispatch_failed" and Bolt log a listener stub)."""

    async def unknown(ack: Any, command: dict[str, Any]) -> None:
        await ack(text=unknown_command_text(str(command.get("command") or "/"), known))
        ctx.metrics.acks.labels("command").inc()

    bolt.command(re.compile(r"^/"))(unknown)


async def submit_click(ctx: AppContext, ack: Any, item: tuple[str, str, dict[str, Any]]) -> None:
    """Commit a click's intake ``item`` (kind, ordering key, payload), then ack.

    Committed before the ack, acted on after it (bot/intake/worker.py). A database
    outage is acked too and answered "try again" to the clicker (commands/outage.py).
    """
    await ctx.intake.submit(*item)
    await ack()
    ctx.metrics.acks.labels("interaction").inc()


def clicker_name(body: dict[str, Any]) -> str | None:
    """The clicker's handle as Slack sends it in an interaction payload
    (``user.username``; ``user.name`` is its older spelling)."""
    user = body.get("user") or {}
    return user.get("username") or user.get("name") or None


@dataclass(frozen=True, slots=True)
class Click:
    """Where a click came from: the clicked message and who clicked."""

    channel: str
    ts: str  # the clicked message's
    thread_ts: str | None  # its thread's, when it is in one
    user: str


def where_clicked(body: dict[str, Any]) -> Click:
    """Where a click came from, from its payload."""
    container = body.get("container") or {}
    channel = container.get("channel_id") or (body.get("channel") or {}).get("id", "")
    ts = container.get("message_ts") or (body.get("message") or {}).get("ts", "")
    thread = container.get("thread_ts") or (body.get("message") or {}).get("thread_ts")
    user = (body.get("user") or {}).get("id", "")
    return Click(channel, ts, thread, user)
