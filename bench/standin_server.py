"""The Slack Web API stand-in (``tests/rig``) served in its own process.

Started by the benchmark scripts (not a benchmark on its own), so that neither
the load generator nor the bot shares an event loop with it. It prints its base
URL on the first line of stdout and adds one route for the benchmark:

    GET /bench/calls?since=N   calls accepted since the N-th one, as JSON
                               ({method, args, ts, at, wall}; ``at`` is
                               time.monotonic(), comparable across processes),
                               with the counts: received, rejected, invalid,
                               rate_limited (429s of Slack's pace, in all and
                               by method), refused_share (429s / received) and
                               retried_early (calls, by method, made again
                               before a 429's Retry-After had passed)

Slack's limits are on, as in the tests: its pace (429 with ``Retry-After``)
and its refusal of messages too long as a whole. ``BENCH_SLACK_LIMITS=0``
turns the pace off (``bench/ack_latency.py`` only: it measures the
acknowledgement, and compares code from before the bot kept Slack's pace).

``BENCH_ANSWER_DELAY_MS=<ms>`` answers ``chat.postMessage`` and ``chat.update``
that long after carrying them out (the message is posted, the answer is late),
as Slack's own latency does: the window in which a killed bot has had its
message posted but not heard back (``bench/crash_chaos.py``).

Block Kit validation (the costliest part of the stand-in: it parses every
payload with slack_sdk's models) is off unless ``BENCH_VALIDATE=1``: on a
2-core machine its CPU would compete with the bot it measures, whereas real
Slack costs the bot's machine nothing. The test suite validates every message.
The size limits (12,000 characters of text in a message's blocks, 4,000 in an
update's text) are checked either way.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from aiohttp import web  # noqa: E402

from tests.rig import SlackStandIn  # noqa: E402


def _call_json(call: Any) -> dict[str, Any]:
    ts = None
    if isinstance(call.response, dict):
        ts = call.response.get("ts")
    return {"method": call.method, "args": call.args, "ts": ts, "at": call.at, "wall": call.wall}


async def main() -> None:
    # BENCH_SLACK_LIMITS=0: without Slack's pace (bench/ack_latency.py says why).
    slack = SlackStandIn(limits=os.environ.get("BENCH_SLACK_LIMITS") != "0")
    # BENCH_USERGROUPS="S0ONCALL01:oncall=U1,U2;…": user groups with their handles.
    for spec in filter(None, os.environ.get("BENCH_USERGROUPS", "").split(";")):
        head, _, users = spec.partition("=")
        group, _, handle = head.partition(":")
        slack.usergroups[group] = [u for u in users.split(",") if u]
        if handle:
            slack.usergroup_handles[group] = handle
    if os.environ.get("BENCH_VALIDATE") != "1":
        slack._validate = lambda method, args: ([], "")  # type: ignore[method-assign]

    async def calls(request: web.Request) -> web.Response:
        since = int(request.query.get("since", "0"))
        body = {
            "total": len(slack.calls),
            "rejected": len(slack.rejected),
            "invalid": len(slack.invalid),
            "received": slack.received,
            "rate_limited": slack.rate_limited,
            "rate_limited_by_method": slack.rate_limited_by_method,
            "refused_share": slack.refused_share(),
            "retried_early": slack.retried_early,
            "calls": [_call_json(c) for c in slack.calls[since:]],
        }
        return web.json_response(body)

    slack.app.router.add_get("/bench/calls", calls)
    answer_delay = float(os.environ.get("BENCH_ANSWER_DELAY_MS") or 0) / 1000
    if answer_delay > 0:

        @web.middleware
        async def late_answer(request: web.Request, handler: Any) -> web.StreamResponse:
            response = await handler(request)  # carried out: recorded, posted
            if request.match_info.get("method") in ("chat.postMessage", "chat.update"):
                await asyncio.sleep(answer_delay)
            return response

        slack.app.middlewares.append(late_answer)
    await slack.start()
    print(slack.url, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await slack.stop()


if __name__ == "__main__":
    asyncio.run(main())
