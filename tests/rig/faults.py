"""Fault injection for the Slack stand-in: rate limits, server errors, Slack-level
errors and latency, per method (``"*"`` = any method)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Fault:
    status: int
    times: int
    retry_after: int
    error: str | None


@dataclass
class Hold:
    """A call Slack has carried out (the message is posted) whose answer is
    held back until ``release()`` — the moment to kill the bot between
    Slack's answer and the bot's record of it."""

    method: str
    predicate: Callable[[dict[str, Any]], bool]
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    released: asyncio.Event = field(default_factory=asyncio.Event)
    args: dict[str, Any] = field(default_factory=dict)
    response: dict[str, Any] = field(default_factory=dict)

    def release(self) -> None:
        self.released.set()

    async def wait(self, timeout: float = 10.0) -> None:
        """Until the held call arrived (AssertionError after ``timeout``)."""
        try:
            await asyncio.wait_for(self.arrived.wait(), timeout)
        except TimeoutError:
            raise AssertionError(f"no {self.method} call to hold within {timeout}s") from None


class FaultInjection:
    """Mixed into ``SlackStandIn``: what the next calls to a method should suffer."""

    def __init__(self) -> None:
        self._faults: dict[str, list[Fault]] = {}
        self._delays: dict[str, float] = {}
        self._holds: list[Hold] = []

    def hold(
        self, method: str, predicate: Callable[[dict[str, Any]], bool] = lambda args: True
    ) -> Hold:
        """Carry out the next call to ``method`` whose arguments match, then hold
        its answer until the returned ``Hold`` is released."""
        held = Hold(method, predicate)
        self._holds.append(held)
        return held

    def _take_hold(self, method: str, args: dict[str, Any]) -> Hold | None:
        for held in self._holds:
            if held.method == method and not held.arrived.is_set():
                try:
                    matches = held.predicate(args)
                except Exception:
                    matches = False
                if matches:
                    held.args = args
                    held.arrived.set()
                    return held
        return None

    def release_holds(self) -> None:
        for held in self._holds:
            held.release()

    def fail(
        self,
        method: str,
        *,
        status: int = 429,
        times: int = 1,
        retry_after: int = 1,
        error: str | None = None,
    ) -> None:
        """Answer the next ``times`` calls to ``method`` (``"*"`` = any method) with a fault.

        429 -> ``Retry-After`` header + ``{"ok": false, "error": "ratelimited"}``;
        5xx -> plain-text body (or JSON ``{"ok": false, "error": error}`` when given);
        200 with ``error`` -> a Slack-level error such as ``channel_not_found``.
        """
        self._faults.setdefault(method, []).append(Fault(status, times, retry_after, error))

    def set_delay(self, method: str, seconds: float) -> None:
        """Delay every response to ``method`` (``"*"`` = any method); 0 removes it."""
        if seconds <= 0:
            self._delays.pop(method, None)
        else:
            self._delays[method] = seconds

    def reset_faults(self) -> None:
        """Drop pending injected faults, delays and holds (held answers go out)."""
        self._faults.clear()
        self._delays.clear()
        self.release_holds()
        self._holds.clear()

    def _delay_for(self, method: str) -> float:
        return self._delays.get(method, self._delays.get("*", 0.0))

    def _take_fault(self, method: str) -> Fault | None:
        for key in (method, "*"):
            queue = self._faults.get(key)
            while queue:
                fault = queue[0]
                if fault.times <= 0:
                    queue.pop(0)
                    continue
                fault.times -= 1
                return fault
        return None


def fault_response(fault: Fault) -> web.Response:
    if fault.status == 429:
        return web.json_response(
            {"ok": False, "error": fault.error or "ratelimited"},
            status=429,
            headers={"Retry-After": str(fault.retry_after)},
        )
    if fault.error is not None:
        return web.json_response({"ok": False, "error": fault.error}, status=fault.status)
    # Slack's edge answers 5xx with an HTML/plain page, not JSON.
    return web.Response(status=fault.status, text=f"{fault.status} upstream unavailable")
