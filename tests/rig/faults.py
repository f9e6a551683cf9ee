"""Fault injection for the Slack stand-in: rate limits, server errors, Slack-level
errors and latency, per method (``"*"`` = any method)."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web


@dataclass
class Fault:
    status: int
    times: int
    retry_after: int
    error: str | None


class FaultInjection:
    """Mixed into ``SlackStandIn``: what the next calls to a method should suffer."""

    def __init__(self) -> None:
        self._faults: dict[str, list[Fault]] = {}
        self._delays: dict[str, float] = {}

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
        """Drop pending injected faults and delays."""
        self._faults.clear()
        self._delays.clear()

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
