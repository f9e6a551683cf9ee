"""What Slack refuses until someone acts, as every process sees it.

- ``auth``: the token was revoked (or the app uninstalled, the account
  deactivated). Nothing can be delivered: every process holds what it owes,
  one of them asks ``auth.test`` at most every ``PROBE_SECONDS``, ``/healthz``
  answers 503 naming the error, and once the probe succeeds everything owed
  goes, each message once.
- ``channel:<id>``: the channel was archived, the bot removed from it, or it
  does not exist. For ``CHANNEL_RETRY_SECONDS`` messages to it fail at once
  and reminders there pause; then the next message tries again (and clears
  it when it gets through). The operator sees it in the log, a metric and the
  App Home.

Kept in ``slack_problems`` (migration 0010); read by each process about once
a second, and on every ``/healthz``.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import bindparam, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.slack.errors import classify
from bot.store.models import UTCDateTime, utcnow

log = logging.getLogger("bot.slack.delivery")

Sessions = async_sessionmaker[AsyncSession]

AUTH = "auth"
PROBE_SECONDS = 30.0
CHANNEL_RETRY_SECONDS = 300.0
REFRESH_SECONDS = 1.0

_UPSERT = text(
    "INSERT INTO slack_problems (scope, error, detail, since) "
    "VALUES (:scope, :error, :detail, :now) "
    "ON CONFLICT (scope) DO UPDATE SET error = excluded.error, detail = excluded.detail, "
    "checked_at = excluded.since"
).bindparams(bindparam("now", type_=UTCDateTime()))
_READ = text("SELECT scope, error FROM slack_problems")
# Channels given up on recently (``CHANNEL_RETRY_SECONDS``): theirs fail at once.
_GONE = text(
    "SELECT scope, error FROM slack_problems WHERE scope LIKE 'channel:%' "
    "AND COALESCE(checked_at, since) > :after"
).bindparams(bindparam("after", type_=UTCDateTime()))
_CLEAR = text("DELETE FROM slack_problems WHERE scope = :scope")
# One process probes per interval: whoever moves checked_at on.
_CLAIM_PROBE = text(
    "UPDATE slack_problems SET checked_at = :now WHERE scope = 'auth' "
    "AND (checked_at IS NULL OR checked_at <= :before)"
).bindparams(bindparam("now", type_=UTCDateTime()), bindparam("before", type_=UTCDateTime()))

WHAT_TO_DO = {
    "token_revoked": "reinstall the app to the workspace and set the new SLACK_BOT_TOKEN",
    "invalid_auth": "check SLACK_BOT_TOKEN (it is not a valid bot token for this workspace)",
    "account_inactive": "the app's bot user was deactivated: reinstall the app",
    "not_authed": "set SLACK_BOT_TOKEN",
    "token_expired": "the token expired: reinstall the app or turn off token rotation",
}


async def auth_problem(sessions: Sessions) -> str | None:
    """The error that makes Slack unusable now, if any (for ``/healthz``)."""
    async with sessions() as session:
        rows = (await session.execute(_READ)).all()
    return next((str(error) for scope, error in rows if scope == AUTH), None)


def recent_cutoff() -> datetime:
    """Channel problems recorded after this still hold (``CHANNEL_RETRY_SECONDS``)."""
    return utcnow() - timedelta(seconds=CHANNEL_RETRY_SECONDS)


class SlackHealth:
    """This process's view of ``slack_problems``, refreshed about once a second."""

    def __init__(self, sessions: Sessions) -> None:
        self._sessions = sessions
        self.unusable: str | None = None  # the auth error, while Slack is unusable
        self.gone: dict[str, str] = {}  # channel → error
        self._recorded: set[str] = set()
        self._read_at = float("-inf")
        self._told = False  # the operator was told about this outage (once per outage)

    async def refresh(self, *, force: bool = False) -> None:
        if not force and time.monotonic() - self._read_at < REFRESH_SECONDS:
            return
        async with self._sessions() as session:
            rows = (await session.execute(_READ)).all()
            gone = (await session.execute(_GONE, {"after": recent_cutoff()})).all()
        self._read_at = time.monotonic()
        errors = {str(scope): str(error) for scope, error in rows}
        was = self.unusable
        self.unusable = errors.get(AUTH)
        if was and not self.unusable:
            log.warning("Slack accepts the bot's token again: delivering what was held")
            self._told = False
        self.gone = {str(scope).removeprefix("channel:"): str(error) for scope, error in gone}
        # Older ones too: a message that gets through clears them.
        self._recorded = {s.removeprefix("channel:") for s in errors if s.startswith("channel:")}

    async def mark_unusable(self, error: str, held: int | None = None) -> None:
        await self._upsert(AUTH, error, WHAT_TO_DO.get(error, "check SLACK_BOT_TOKEN"))
        self.unusable = error
        if not self._told:
            self._told = True
            log.error(
                "Slack refuses the bot's token (%s): %s. Holding every message the bot "
                "owes (nothing is lost) and checking every %d s; they go once it works.",
                error,
                WHAT_TO_DO.get(error, "check SLACK_BOT_TOKEN"),
                int(PROBE_SECONDS),
            )

    async def probe(self, client: AsyncWebClient) -> bool:
        """Ask ``auth.test`` if it is this process's turn. True: Slack works again."""
        now = utcnow()
        async with self._sessions() as session, session.begin():
            claimed = await session.execute(
                _CLAIM_PROBE, {"now": now, "before": now - timedelta(seconds=PROBE_SECONDS)}
            )
        if not claimed.rowcount:  # type: ignore[attr-defined]
            return False
        try:
            await client.auth_test()
        except Exception as exc:
            failure = classify(exc)
            log.info("Slack still refuses the bot's token (%s)", failure.error)
            return False
        async with self._sessions() as session, session.begin():
            await session.execute(_CLEAR, {"scope": AUTH})
        await self.refresh(force=True)
        return True

    async def channel_gone(self, channel: str, error: str) -> None:
        self.gone[channel] = error
        await self._upsert(f"channel:{channel}", error, "")
        log.error(
            "Slack will not take messages in channel %s (%s): %s. Its messages fail at "
            "once and its reminders pause until a message reaches it again.",
            channel,
            error,
            "unarchive it" if error == "is_archived" else "invite the bot (/invite @runbook-bot)",
        )

    async def channel_ok(self, channel: str) -> None:
        if channel in self.gone or channel in self._recorded:
            self.gone.pop(channel, None)
            self._recorded.discard(channel)
            async with self._sessions() as session, session.begin():
                await session.execute(_CLEAR, {"scope": f"channel:{channel}"})
            log.warning("Slack takes messages in channel %s again", channel)

    async def _upsert(self, scope: str, error: str, detail: str) -> None:
        async with self._sessions() as session, session.begin():
            await session.execute(
                _UPSERT, {"scope": scope, "error": error, "detail": detail, "now": utcnow()}
            )
