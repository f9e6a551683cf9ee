"""What the outbox worker does when Slack says no (mixed into ``OutboxWorker``).

Each class of refusal (``bot/slack/errors.py``) asks for its own answer: a
429 holds the whole bucket, a revoked token holds everything, a channel the
bot cannot reach gives its messages up at once, a message Slack will not
take is replaced by a short one with its buttons; only what will go again
holds up its key.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.slack import lookup
from bot.slack.budget import Budgets
from bot.slack.errors import MAX_ATTEMPTS, Failure, SlackFailure, classify, stand_in_message
from bot.slack.health import SlackHealth
from bot.slack.outbox_rows import Claimed
from bot.slack.pace import bucket_of

log = logging.getLogger("bot.slack.delivery")


class Refusals:
    # Owned by OutboxWorker.
    _budgets: Budgets
    _health: SlackHealth
    _client: AsyncWebClient
    _told_scopes: set[str]
    _on_wait: Callable[[str, str], None]

    async def _defer(self, row: Claimed, seconds: float) -> None: ...

    async def _retry_later(
        self, row_id: int, error: str, delay: float | None = None, *, doubt: bool = False
    ) -> None: ...

    async def _give_up(self, row_id: int, error: str) -> None: ...

    async def _delivered(self, row: Claimed, ts: str | None, channel: Any = None) -> None: ...

    async def _slot(self, row: Claimed, bucket: str) -> bool:  # type: ignore[empty-body]
        ...

    _on_lookup: Callable[[str], None]
    _sessions: Any

    async def _failed(
        self, row: Claimed, payload: dict[str, Any], bucket: str, failure: SlackFailure
    ) -> bool:
        """What Slack's refusal means for this row (``bot/slack/errors.py``)."""
        what = f"{row.method}: {failure.error}"
        kind = failure.kind
        if kind is Failure.RATE_LIMITED:
            await self._budgets.refused(bucket, failure.retry_after)
            self._on_wait(bucket.split(":", 1)[0], "rate_limited")
            await self._defer(row, failure.retry_after)
            return False
        if kind is Failure.UNUSABLE:
            await self._health.mark_unusable(failure.error)
            await self._defer(row, 1.0)
            return False
        if kind is Failure.CHANNEL_GONE:
            await self._health.channel_gone(str(payload.get("channel")), failure.error)
        elif kind is Failure.MISSING_SCOPE:
            self._missing_scope(row.method, failure.needed_scope)
        elif kind is Failure.RETRY or (kind is Failure.OTHER and row.attempts + 1 < MAX_ATTEMPTS):
            doubt = failure.in_doubt and row.method == "chat.postMessage"
            await self._retry_later(row.id, what, doubt=doubt)
            return False
        if kind in (Failure.PAYLOAD, Failure.OTHER) and row.method == "chat.postMessage":
            if await self._post_stand_in(row, payload, failure.error):
                return True
        await self._give_up(row.id, what)
        return True

    async def _post_stand_in(self, row: Claimed, payload: dict[str, Any], error: str) -> bool:
        """A message Slack will not take, replaced by a short one with its
        buttons (a step's Approve / Skip): the run goes on."""
        short = stand_in_message(payload, error)
        if short is None:
            return False
        try:
            response = await self._client.api_call("chat.postMessage", json=short)
        except Exception as exc:
            log.warning("outbox: message %d: its short stand-in failed too: %r", row.id, exc)
            return False
        log.error(
            "outbox: message %d refused by Slack (%s): posted a short stand-in", row.id, error
        )
        await self._delivered(row, str(response.get("ts") or "") or None, response.get("channel"))
        return True

    def _missing_scope(self, method: str, scope: str) -> None:
        if scope not in self._told_scopes:
            self._told_scopes.add(scope)
            log.error(
                "Slack refuses %s: the app lacks the scope %s. Add it under OAuth & "
                "Permissions and reinstall the app (docs/slack-setup.md).",
                method,
                scope or "(Slack did not say which)",
            )

    async def _look_up(self, row: Claimed, payload: dict[str, Any]) -> tuple[bool, str | None]:
        """A message in doubt: (True, its ts) if Slack has it, (True, None) if
        not, (False, None) if Slack would not say — then the lookup is retried
        later, never posted blind."""
        method = "conversations.replies" if payload.get("thread_ts") else "conversations.history"
        if lookup.can_look_up(payload) and not await self._slot(row, bucket_of(method, None)):
            return False, None
        verdict = await lookup.check_in_doubt(self._client, payload, row.id, row.created_at)
        self._on_lookup(verdict.result)
        if verdict.result == "failed":
            failure = classify(verdict.cause) if verdict.cause else None
            if failure is not None and failure.kind is Failure.CHANNEL_GONE:
                # The bot cannot read (nor post to) the channel: never posted, never blocks.
                await self._failed(row, payload, bucket_of(method, None), failure)
                return False, None
            if failure is not None and failure.kind in (Failure.RATE_LIMITED, Failure.UNUSABLE):
                await self._failed(row, payload, bucket_of(method, None), failure)
                return False, None
            await self._retry_later(row.id, f"lookup: {verdict.error}")
            return False, None
        return True, verdict.ts
