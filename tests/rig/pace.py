"""Slack's pace, as the stand-in enforces it: 429 with ``Retry-After`` beyond it.

``chat.postMessage``: about one message per second per channel, a short burst
tolerated. Every other method: its tier's calls per minute for the whole
workspace (one stand-in is one workspace). Both are GCRA / token buckets on an
injectable clock, so a test can move time instead of sleeping.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass

__all__ = ["DEFAULT_TIER", "TIERS", "Bucket", "Pace"]

TIER_2, TIER_3, TIER_4 = 20, 50, 100
# Calls per minute per workspace, as Slack documents each method's tier.
TIERS: dict[str, int] = {
    "conversations.list": TIER_2,
    "usergroups.list": TIER_2,
    "usergroups.users.list": TIER_2,
    "chat.update": TIER_3,
    "chat.delete": TIER_3,
    "conversations.history": TIER_3,
    "conversations.replies": TIER_3,
    "conversations.info": TIER_3,
    "chat.postEphemeral": TIER_4,
    "chat.getPermalink": TIER_4,
    "views.open": TIER_4,
    "views.update": TIER_4,
    "views.push": TIER_4,
    "views.publish": TIER_4,
    "users.info": TIER_4,
    # Slack is generous with these (a probe, the socket's reconnects).
    "auth.test": 600,
    "apps.connections.open": 600,
}
DEFAULT_TIER = TIER_3  # most Web API methods are Tier 3


@dataclass
class Bucket:
    """GCRA: one call per ``1 / rate`` seconds, up to ``burst`` at once.

    The same as a token bucket of capacity ``burst`` refilled at ``rate`` per
    second, kept as one number: the theoretical arrival time of the next call.
    """

    rate: float  # calls per second
    burst: float  # calls that may go at once
    tat: float = 0.0

    def take(self, now: float) -> float:
        """0 when the call may go (and counts it), else seconds until it may."""
        interval = 1.0 / self.rate
        tolerance = (self.burst - 1) * interval
        tat = max(self.tat, now)
        if tat - now > tolerance + 1e-9:
            return tat - tolerance - now
        self.tat = tat + interval
        return 0.0


def tier_bucket(per_minute: float) -> Bucket:
    """A tier as a bucket: N/60 per second, a quarter minute's calls at once (≥ 3)."""
    return Bucket(rate=per_minute / 60.0, burst=max(3.0, per_minute / 4.0))


class Pace:
    """Which calls Slack refuses for pace, and how many it has refused."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        post_rate: float = 1.0,
        post_burst: float = 4,
        tiers: Mapping[str, float] | None = None,
    ) -> None:
        self.clock = clock
        self.post_rate = post_rate
        self.post_burst = post_burst
        self.tiers: dict[str, float] = {**TIERS, **(tiers or {})}
        self._posts: dict[str, Bucket] = {}
        self._methods: dict[str, Bucket] = {}
        self._refused_until: dict[tuple[str, str], float] = {}  # bucket → its Retry-After
        self.refused: Counter[str] = Counter()  # 429s, by method
        # Calls that came again before the Retry-After Slack gave them had passed.
        self.early: Counter[str] = Counter()

    def retry_after(self, method: str, channel: str) -> int | None:
        """``None`` when the call may go (and counts it), else ``Retry-After`` in
        whole seconds (at least 1), the refusal counted."""
        if method == "chat.postMessage":
            key = (method, channel)
            bucket = self._posts.get(channel)
            if bucket is None:
                bucket = self._posts[channel] = Bucket(self.post_rate, self.post_burst)
        else:
            key = (method, "")
            bucket = self._methods.get(method)
            if bucket is None:
                bucket = self._methods[method] = tier_bucket(self.tier_of(method))
        now = self.clock()
        if now < self._refused_until.get(key, now):
            self.early[method] += 1
        wait = bucket.take(now)
        if wait <= 0:
            return None
        self.refused[method] += 1
        retry_after = max(1, math.ceil(wait))
        self._refused_until[key] = now + retry_after
        return retry_after

    def tier_of(self, method: str) -> float:
        return self.tiers.get(method, self.tiers.get("*", DEFAULT_TIER))
