"""One answer to a database outage, whatever the listener: Bolt's error handler
(``@bolt.error``) turns "database unavailable" into the reply the payload's
type allows — the slash command's ack text, an ephemeral to the clicker, the
modal's field error — so listeners only parse, call a flow and ack."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.response import BoltResponse
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, ProgrammingError

from bot.context import AppContext
from bot.home import view as home_view
from bot.incidents import blocks as incident_blocks
from bot.runs import skip_blocks
from bot.store.db import is_db_down
from commands.common import UNAVAILABLE, ephemeral, log, where_clicked

REFUSED = "That request could not be recorded as sent (a value was out of range). Nothing changed."
# The field of each modal that shows the "try again" (its first input).
MODAL_FIELD = {
    incident_blocks.UPDATE_MODAL: "update",
    home_view.DECLARE_MODAL: "title",
    skip_blocks.SKIP_MODAL: skip_blocks.REASON_BLOCK,
}


def register(bolt: AsyncApp, ctx: AppContext) -> None:
    @bolt.error
    async def on_error(error: Exception, body: dict[str, Any]) -> BoltResponse | None:
        if refused_by_database(error):
            # A statement the database refused (a value too long for its column…):
            # the database is up, and retrying would fail the same way.
            log.warning("%s: refused by the database: %r", _what(body), error)
            return outage_reply(ctx, body, REFUSED)
        if not is_db_down(error):
            # What Bolt's default handler does: log it; Slack gets a 500.
            log.exception("Failed to run listener function (error: %s)", error)
            return None
        ctx.metrics.db_errors.inc()
        log.warning("%s: database unavailable: %r", _what(body), error)
        return outage_reply(ctx, body)


def refused_by_database(error: Exception) -> bool:
    """A statement refused (SQLSTATE class 22 data, 23 integrity, 42 syntax/access),
    not a database that is down: the answer is "nothing changed", not "try again"."""
    if isinstance(error, DataError | IntegrityError | ProgrammingError):
        return True
    if not isinstance(error, DBAPIError):
        return False
    orig = error.orig
    code = str(getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None) or "")
    return code[:2] in ("22", "23", "42")


def outage_reply(ctx: AppContext, body: dict[str, Any], text: str = UNAVAILABLE) -> BoltResponse:
    """The acknowledgement (and, for a click, the ephemeral) a payload gets
    when its work could not be recorded."""
    if "command" in body:
        ctx.metrics.acks.labels("command").inc()
        return BoltResponse(status=200, body={"text": text})
    if body.get("type") == "view_submission":
        callback = (body.get("view") or {}).get("callback_id", "")
        field = MODAL_FIELD.get(callback, "title")
        return BoltResponse(status=200, body={"response_action": "errors", "errors": {field: text}})
    click = where_clicked(body)
    channel, thread, user = click.channel, click.thread_ts, click.user
    if channel and user:
        ephemeral(ctx, channel, user, text, thread)
    return BoltResponse(status=200, body="")


def _what(body: dict[str, Any]) -> str:
    if "command" in body:
        return f"{body['command']} {str(body.get('text') or '').split(' ', 1)[0]}"
    actions = body.get("actions") or [{}]
    return str(body.get("type")) + " " + str(actions[0].get("action_id", ""))
