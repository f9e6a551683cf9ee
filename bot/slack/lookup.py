"""Is this message already in Slack? Asked before re-posting one in doubt.

Why: ``chat.postMessage`` has no idempotency key. When a worker dies between
Slack's answer and the commit of "sent", the message is in Slack but the
outbox still owes it; posting it again would put a second step with live
buttons in the thread. So every message the bot posts carries metadata
naming its outbox row, and a row in doubt (``slack_outbox.in_doubt``) is
looked for — in its thread (``conversations.replies``) or, top-level, in the
channel (``conversations.history``), with ``include_all_metadata`` — before
it is posted. Found: its ``ts`` is recorded as if just delivered. Needs the
``channels:history`` / ``groups:history`` scopes (docs/slack-setup.md).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger("bot.slack.delivery")

EVENT_TYPE = "runbook_bot_message"
# Slack's IDs are upper case (C…, G…, D…); channel names never are.
_CHANNEL_ID = re.compile(r"[CGD][A-Z0-9_]+")
# Slack's clock and the database's may disagree; look a little further back.
CLOCK_MARGIN_SECONDS = 600
PAGE = 200
MAX_PAGES = 25


class LookupFailed(Exception):
    """Slack would not answer the lookup (``missing_scope``, rate limit, …)."""

    def __init__(self, error: str, cause: BaseException | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.cause = cause  # what Slack answered (classified by bot/slack/errors.py)


def can_look_up(payload: dict[str, Any]) -> bool:
    """The history methods take a channel ID only (a post may name the
    channel, e.g. ``ALERT_CHANNEL=alerts``)."""
    return bool(_CHANNEL_ID.fullmatch(str(payload.get("channel", ""))))


def metadata(row_id: int) -> dict[str, Any]:
    """The message metadata attached to every ``chat.postMessage``."""
    return {"event_type": EVENT_TYPE, "event_payload": {"outbox_id": row_id}}


def with_metadata(payload: dict[str, Any], row_id: int) -> dict[str, Any]:
    """``payload`` with the metadata naming its row: ours, or the metadata the
    message already carries (an alert's ``runbook_bot_alert``) with the row added."""
    own = payload.get("metadata")
    if isinstance(own, dict) and isinstance(own.get("event_payload"), dict):
        meta = {**own, "event_payload": {**own["event_payload"], "outbox_id": row_id}}
    else:
        meta = metadata(row_id)
    return {**payload, "metadata": meta}


def is_ours(message: dict[str, Any], row_id: int) -> bool:
    meta = message.get("metadata") or {}
    payload = meta.get("event_payload") or {}
    return str(meta.get("event_type", "")).startswith("runbook_bot_") and str(
        payload.get("outbox_id")
    ) == str(row_id)


async def find_posted(
    client: AsyncWebClient, payload: dict[str, Any], row_id: int, created_at: datetime | None
) -> str | None:
    """The ``ts`` of the message posted for ``row_id``, or None if Slack has none.
    ``payload``: the ``chat.postMessage`` arguments (channel, thread_ts)."""
    channel = str(payload.get("channel", ""))
    thread_ts = payload.get("thread_ts")
    args: dict[str, Any] = {"channel": channel, "include_all_metadata": True, "limit": PAGE}
    if created_at is not None:
        args["oldest"] = f"{max(0.0, created_at.timestamp() - CLOCK_MARGIN_SECONDS):.6f}"
    cursor: str | None = None
    try:
        for _ in range(MAX_PAGES):
            page = {**args, **({"cursor": cursor} if cursor else {})}
            if thread_ts:
                response = await client.conversations_replies(ts=str(thread_ts), **page)
            else:
                response = await client.conversations_history(**page)
            for message in response.get("messages") or []:
                if is_ours(message, row_id):
                    return str(message["ts"])
            cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
            if not response.get("has_more") or not cursor:
                return None
    except SlackApiError as exc:
        data = exc.response.data if exc.response is not None else None
        error = str(data.get("error", "")) if isinstance(data, dict) else ""
        raise LookupFailed(error or f"HTTP {exc.response.status_code}", exc) from exc
    except Exception as exc:  # connection refused, timeout
        raise LookupFailed(repr(exc), exc) from exc
    raise LookupFailed(f"not found in {MAX_PAGES} pages")


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a lookup said: ``result`` is the ``lookups`` metric's label."""

    result: str  # found | absent | failed | skipped
    ts: str | None = None
    error: str = ""
    cause: BaseException | None = None


async def check_in_doubt(
    client: AsyncWebClient, payload: dict[str, Any], row_id: int, created_at: datetime | None
) -> Verdict:
    """Is the message in doubt for ``row_id`` already in Slack? Logs what the
    operator should know; the caller records, posts, or retries accordingly."""
    if not can_look_up(payload):
        log.warning(
            "outbox: message %d is in doubt but its channel %r is a name, not an ID: "
            "cannot look it up; posting it (it may appear twice)",
            row_id,
            payload.get("channel"),
        )
        return Verdict("skipped")
    try:
        ts = await find_posted(client, payload, row_id, created_at)
    except LookupFailed as exc:
        log.warning(
            "outbox: could not look up message %d at Slack before posting it again "
            "(%s); retrying the lookup, not posting blind",
            row_id,
            exc.error,
        )
        return Verdict("failed", error=exc.error, cause=exc.cause)
    if ts:
        log.info("outbox: message %d already in Slack (ts %s): not posted again", row_id, ts)
        return Verdict("found", ts)
    return Verdict("absent")
