"""What the Slack stand-in records: accepted calls and rejected ones."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


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
    """One call answered with an injected fault or an auth error (not in ``calls``)."""

    method: str
    args: dict[str, Any]
    status: int
    error: str | None
    at: float
    wall: float


def short(args: dict[str, Any], limit: int = 160) -> str:
    """Arguments as one line of JSON, cut at ``limit`` characters (for summaries)."""
    text = json.dumps(args, default=str, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 3] + "..."
