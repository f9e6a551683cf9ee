"""Slack's pace: what goes first, and how fast each kind of call may go.

Slack posts about one message per second per channel (short bursts
tolerated) and gives every other Web API method a tier of calls per minute;
beyond that it answers 429 with ``Retry-After``. The bot keeps under those
limits by itself, counted across every process that shares the database
(``bot/slack/budget.py``), so Slack almost never has to refuse it.

Pure: the priorities, the buckets a call counts against and each bucket's
rate. No I/O here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class Priority(IntEnum):
    """What goes first in a channel (lower first)."""

    # What a person just did: a clicked step's update and the next step, the
    # answer to a command (a declaration, a status update, a resolve summary).
    CLICK = 0
    ESCALATION = 1  # response target missed, RTO warning or breach
    ALERT = 2  # alert messages
    REMINDER = 3  # status-update reminders
    OTHER = 4  # everything else


# Slack's Web API tiers, in calls per minute per workspace.
TIER_1, TIER_2, TIER_3, TIER_4 = 1, 20, 50, 100

# Methods the bot calls, by tier (Slack's documentation, method by method).
METHOD_TIERS: dict[str, int] = {
    "chat.update": TIER_3,
    "chat.delete": TIER_3,
    "chat.getPermalink": TIER_4,
    "chat.postEphemeral": TIER_4,
    "conversations.history": TIER_3,
    "conversations.replies": TIER_3,
    "conversations.info": TIER_3,
    "conversations.list": TIER_2,
    "usergroups.list": TIER_2,
    "usergroups.users.list": TIER_2,
    "users.info": TIER_4,
    "views.open": TIER_4,
    "views.update": TIER_4,
    "views.push": TIER_4,
    "views.publish": TIER_4,
    "auth.test": TIER_4,
}

# A channel's posts: about one a second (Slack: "1 per second, short bursts").
POSTS_PER_SECOND = 1.0

# Margin under Slack's own rate: its clock and ours are not the same clock.
MARGIN = 0.95


@dataclass(frozen=True, slots=True)
class Rate:
    """GCRA: one call per ``interval`` seconds; a call may go early by up to
    ``burst`` intervals when its priority allows (see :meth:`tolerance`)."""

    interval: float
    burst: int

    def tolerance(self, priority: Priority) -> float:
        """How far ahead of the steady pace a call of ``priority`` may go.

        The burst is kept for what goes first: a click may use all of it,
        the rest a third of it — so a backlog at the steady pace always
        leaves room for the next click (a third of the burst is everyone's,
        so the rest is not starved for long after a burst of clicks).
        """
        share = {Priority.CLICK: 1.0, Priority.ESCALATION: 0.6}.get(priority, 0.3)
        return self.interval * int(self.burst * share)


def bucket_of(method: str, channel: str | None) -> str:
    """The budget a call counts against: a channel's posts, or the method."""
    if method == "chat.postMessage":
        return f"post:{channel or '?'}"
    return f"method:{method}"


def rate_of(bucket: str) -> Rate:
    if bucket.startswith("post:"):
        return Rate(interval=1.0 / (POSTS_PER_SECOND * MARGIN), burst=2)
    per_minute = METHOD_TIERS.get(bucket.removeprefix("method:"), TIER_3)
    # A fifth of a minute's calls may go at once (Slack tolerates short bursts).
    return Rate(interval=60.0 / (per_minute * MARGIN), burst=max(1, per_minute // 5))
