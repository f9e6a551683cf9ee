"""What the Slack stand-in records: accepted calls and rejected ones, the count of
calls received and of 429s, and waiting for calls to arrive."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .pace import Pace


@dataclass(frozen=True)
class Call:
    """One Web API call that Slack accepted."""

    method: str
    args: dict[str, Any]
    at: float  # time.monotonic() on arrival
    wall: float  # time.time() on arrival
    response: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    peer: str = field(default="", compare=False, repr=False)  # client "host:port" (its connection)

    @property
    def ts(self) -> str:
        """The ts Slack answered with (posted or updated message)."""
        return str(self.response.get("ts") or self.response.get("message_ts") or "")


@dataclass(frozen=True)
class Rejected:
    """One call answered with an error: an injected fault, Slack's pace (429), an auth,
    channel, scope or size refusal. Not in ``calls`` unless ``carried_out`` (answered
    with an error after Slack did it: ``fail_after_store``)."""

    method: str
    args: dict[str, Any]
    status: int
    error: str | None
    at: float
    wall: float
    carried_out: bool = False


def short(args: dict[str, Any], limit: int = 160) -> str:
    """Arguments as one line of JSON, cut at ``limit`` characters (for summaries)."""
    text = json.dumps(args, default=str, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class CallRecords:
    """Mixed into ``SlackStandIn``: reading what Slack saw."""

    # State owned (and initialised) by SlackStandIn.
    calls: list[Call]
    rejected: list[Rejected]
    invalid: list[tuple[str, dict[str, Any], list[str]]]
    received: int
    pace: Pace | None
    _changed: asyncio.Condition | None

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    @property
    def rate_limited(self) -> int:
        """429s Slack's pace produced (injected ``fail(status=429)`` not counted)."""
        return self.pace.refused.total() if self.pace is not None else 0

    @property
    def rate_limited_by_method(self) -> dict[str, int]:
        return dict(self.pace.refused) if self.pace is not None else {}

    @property
    def retried_early(self) -> dict[str, int]:
        """Calls, by method, made again before the ``Retry-After`` of a 429 had passed
        (for that channel's posts, or that method)."""
        return dict(self.pace.early) if self.pace is not None else {}

    def refused_share(self) -> float:
        """429s from the pace / Web API calls received (0.0 before any call)."""
        return self.rate_limited / self.received if self.received else 0.0

    async def wait_for(
        self,
        method: str,
        predicate: Callable[[Call], bool] = lambda call: True,
        count: int = 1,
        timeout: float = 5.0,
    ) -> list[Call]:
        """Wait until ``count`` accepted calls to ``method`` match ``predicate``.

        Counts calls already recorded (use ``clear()`` first to wait for new ones).
        Returns every matching call; raises AssertionError with a summary on timeout.
        """

        def matching() -> list[Call]:
            out = []
            for c in self.calls:
                if c.method != method:
                    continue
                try:
                    ok = predicate(c)
                except Exception:  # e.g. KeyError on a call without that arg: not a match
                    ok = False
                if ok:
                    out.append(c)
            return out

        if self._changed is None:
            raise RuntimeError("SlackStandIn not started")
        # ``timeout`` counts from the last call Slack accepted: at Slack's pace
        # the bot may still be working through a queue (one post a second per
        # channel) — only a stand-in that hears nothing for ``timeout`` fails.
        # Never longer than ``4 * timeout`` (at least 60 s) in all.
        limit = time.monotonic() + max(60.0, 4 * timeout)
        while True:
            seen = len(self.calls)
            try:
                async with asyncio.timeout(timeout), self._changed:
                    await self._changed.wait_for(lambda: len(matching()) >= count)
                return matching()
            except TimeoutError:
                if len(self.calls) == seen or time.monotonic() >= limit:
                    raise AssertionError(
                        f"timed out after {timeout}s waiting for {count} matching {method} "
                        f"call(s); got {len(matching())}.\n{self.summary()}"
                    ) from None

    def summary(self, limit: int = 40) -> str:
        """A readable dump of what Slack saw (used in assertion messages)."""
        lines = [
            f"received {self.received}, rate limited {self.rate_limited} "
            f"{self.rate_limited_by_method}, retried early {self.retried_early}",
            f"accepted calls ({len(self.calls)}):",
        ]
        for c in self.calls[-limit:]:
            lines.append(f"  {c.method} {short(c.args)}")
        if self.rejected:
            lines.append(f"rejected ({len(self.rejected)}):")
            for r in self.rejected[-limit:]:
                lines.append(f"  {r.method} -> {r.status} {r.error} {short(r.args)}")
        if self.invalid:
            lines.append(f"invalid ({len(self.invalid)}):")
            for m, a, errs in self.invalid[-limit:]:
                lines.append(f"  {m} {errs[:3]} {short(a)}")
        return "\n".join(lines)
