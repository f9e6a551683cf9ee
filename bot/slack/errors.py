"""What Slack's answer means for a message the bot owes (pure).

Slack's errors fall into a few classes, and each asks for a different
response: wait (429), try again and look before re-posting (5xx,
``fatal_error``: the call may have taken effect), hold everything until
someone fixes the token, give up on a channel the bot cannot reach, name a
missing scope, or replace a message Slack will not take with a short one.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from slack_sdk.errors import SlackApiError

from bot.slack.blockkit import section


class Failure(StrEnum):
    RATE_LIMITED = "rate_limited"  # wait out Retry-After, the bucket as a whole
    RETRY = "retry"  # 5xx, fatal_error, timeouts: again later (a post looked up first)
    UNUSABLE = "unusable"  # the token: hold everything, probe
    CHANNEL_GONE = "channel_gone"  # archived, bot removed, no such channel
    MISSING_SCOPE = "missing_scope"  # the app lacks a scope: the log names it
    PAYLOAD = "payload"  # Slack will not take this message as it is
    PERMANENT = "permanent"  # nothing to retry (the message is gone, …)
    OTHER = "other"  # unknown: a few attempts, then given up


AUTH_ERRORS = frozenset(
    {"token_revoked", "invalid_auth", "account_inactive", "not_authed", "token_expired"}
)
CHANNEL_ERRORS = frozenset({"not_in_channel", "is_archived", "channel_not_found"})
PAYLOAD_ERRORS = frozenset(
    {
        "msg_blocks_too_long",
        "msg_too_long",
        "invalid_blocks",
        "invalid_blocks_format",
        "invalid_attachments",
        "invalid_metadata_format",
        "invalid_metadata_schema",
        "metadata_too_large",
        "no_text",
        "invalid_arguments",
        "too_many_attachments",
    }
)
PERMANENT_ERRORS = frozenset(
    {
        "message_not_found",
        "cant_update_message",
        "edit_window_closed",
        "user_not_in_channel",
        "restricted_action",
        "restricted_action_read_only_channel",
        "restricted_action_thread_only_channel",
        "restricted_action_non_threadable_channel",
        "not_allowed_token_type",
        "team_access_not_granted",
        "ekm_access_denied",
        "is_inactive",
        "cannot_reply_to_message",
        "thread_not_found",
    }
)
# Slack says these may have taken effect, or that it failed on its side.
UNKNOWN_OUTCOME = frozenset({"fatal_error", "internal_error", "service_unavailable"})

# Attempts before an unknown error gives a message up.
MAX_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class SlackFailure:
    kind: Failure
    error: str
    retry_after: float = 0.0
    # Slack may have carried the call out: a post is looked up before it goes again.
    in_doubt: bool = False
    needed_scope: str = ""

    @property
    def blocks_later_messages(self) -> bool:
        """Only a message that will go again later keeps its key's next ones waiting."""
        return self.kind in (Failure.RATE_LIMITED, Failure.RETRY, Failure.UNUSABLE)


def classify(exc: BaseException) -> SlackFailure:
    if not isinstance(exc, SlackApiError) or exc.response is None:
        # Connection refused, reset or timed out: Slack may have it.
        return SlackFailure(Failure.RETRY, repr(exc), in_doubt=True)
    status = int(exc.response.status_code or 0)
    data = exc.response.data
    error = str(data.get("error", "")) if isinstance(data, dict) else ""
    if status == 429 or error in ("ratelimited", "rate_limited"):
        return SlackFailure(Failure.RATE_LIMITED, "ratelimited", _retry_after(exc))
    if error in AUTH_ERRORS:
        return SlackFailure(Failure.UNUSABLE, error)
    if error in CHANNEL_ERRORS:
        return SlackFailure(Failure.CHANNEL_GONE, error)
    if error == "missing_scope":
        needed = str(data.get("needed", "")) if isinstance(data, dict) else ""
        return SlackFailure(Failure.MISSING_SCOPE, error, needed_scope=needed)
    if error in PAYLOAD_ERRORS:
        return SlackFailure(Failure.PAYLOAD, error)
    if error in PERMANENT_ERRORS:
        return SlackFailure(Failure.PERMANENT, error)
    if status >= 500 or error in UNKNOWN_OUTCOME:
        return SlackFailure(Failure.RETRY, error or f"HTTP {status}", in_doubt=True)
    return SlackFailure(Failure.OTHER, error or f"HTTP {status}")


def _retry_after(exc: SlackApiError) -> float:
    headers: Any = exc.response.headers if exc.response is not None else {}
    raw = None
    for name, value in dict(headers or {}).items():
        if str(name).lower() == "retry-after":
            raw = value[0] if isinstance(value, list) and value else value
    try:
        return max(1.0, float(raw)) if raw is not None else 1.0
    except (TypeError, ValueError):
        return 1.0


def stand_in_message(payload: dict[str, Any], error: str) -> dict[str, Any] | None:
    """A short message in place of one Slack would not take, keeping its
    buttons (a step's Approve / Skip): the run goes on. None when it had none
    worth keeping (nothing to stand in for)."""
    blocks = payload.get("blocks") or []
    actions = [b for b in blocks if isinstance(b, dict) and b.get("type") == "actions"]
    if not actions:
        return None
    title = str(payload.get("text") or "")[:300]
    note = (
        f":warning: Slack would not take this message ({error}); here are its buttons. "
        "The full text is in the runbook file."
    )
    kept = {k: v for k, v in payload.items() if k in ("channel", "thread_ts", "metadata")}
    return {
        **kept,
        "text": f"{title} (shortened: {error})" if title else f"Shortened message ({error})",
        "blocks": [section(f"*{title}*" if title else "Message"), section(note), *actions],
    }
