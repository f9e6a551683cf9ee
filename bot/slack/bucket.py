"""A token bucket for one process's own calls to one Slack method: ``burst``
at once, then ``per_minute``. Used by background loops that choose how much
to do per round (the App Home refresh, the user-group listing), so they stay
within the method's tier by themselves. No I/O but ``asyncio.sleep``."""

from __future__ import annotations

import asyncio
import time


class Bucket:
    def __init__(self, per_minute: float, burst: float) -> None:
        self._rate = per_minute / 60.0  # tokens a second
        self._burst = float(burst)
        self._tokens = float(burst)
        self._at = time.monotonic()

    def available(self) -> int:
        """How many calls may go now."""
        self._fill()
        return max(0, int(self._tokens))

    def spend(self, count: int = 1) -> None:
        """Count calls made (also ones that could not wait: the bucket may go
        below zero, and the rounds that can wait then wait longer)."""
        self._fill()
        self._tokens = max(self._tokens - count, -self._burst)

    async def take(self) -> None:
        """Wait for one call's turn, and count it."""
        self._fill()
        if self._tokens < 1:
            await asyncio.sleep((1 - self._tokens) / self._rate)
            self._fill()
        self.spend()

    def _fill(self) -> None:
        now = time.monotonic()
        self._tokens = min(self._burst, self._tokens + (now - self._at) * self._rate)
        self._at = now
