"""The benchmarks' view of Slack (``bench/_common.py``): each call the stand-in
accepted is seen once, whoever fetches it.

Why: ``bench/crash_chaos.py``'s audit waits for Slack to go quiet
(``StandIn.quiesce``) while its watcher still polls; both fetched "the calls
since N" with the same N, appended the same calls twice, and the audit
counted a message posted once as a duplicate (``duplicates=1``, once).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from _common import Poller, RemoteCall, StandIn


class _Seen(Poller):
    def __init__(self, slack: StandIn) -> None:
        super().__init__(slack)
        self.texts: list[Any] = []

    def _index(self, calls: list[RemoteCall]) -> None:
        self.texts += [c.args.get("text") for c in calls]


async def _post(http: aiohttp.ClientSession, slack: StandIn, text: str) -> None:
    headers = {"Authorization": "Bearer xoxb-test"}
    # A channel per message: the stand-in keeps Slack's pace of a post a second per
    # channel, and these tests post faster than that (the watcher is under test, not pace).
    body = {"channel": f"C_{text}", "text": text}
    async with http.post(slack.url + "chat.postMessage", json=body, headers=headers) as resp:
        assert (await resp.json())["ok"]


async def test_concurrent_refreshes_fetch_each_call_once() -> None:
    async with StandIn() as slack, aiohttp.ClientSession() as http:
        for n in range(3):
            await _post(http, slack, f"m{n}")
        await asyncio.gather(slack.refresh(), slack.refresh())
        await _post(http, slack, "m3")
        await asyncio.gather(slack.refresh(), slack.refresh(), slack.quiesce(quiet=0.2))
        assert [c.args["text"] for c in slack.calls] == ["m0", "m1", "m2", "m3"]


async def test_poller_indexes_what_quiesce_fetched() -> None:
    async with StandIn() as slack, aiohttp.ClientSession() as http:
        seen = _Seen(slack)
        seen.start()

        async def posts() -> None:
            for n in range(20):
                await _post(http, slack, f"m{n}")
                await asyncio.sleep(0.005)

        try:  # posted while the poller and quiesce both fetch
            await asyncio.gather(posts(), slack.quiesce(quiet=0.3))
        finally:
            await seen.stop()
        seen.catch_up()
        expected = [f"m{n}" for n in range(20)]
        assert [c.args["text"] for c in slack.calls] == expected
        assert seen.texts == expected


async def test_quiesce_waits_for_calls_a_poller_fetched() -> None:
    async with StandIn() as slack, aiohttp.ClientSession() as http:
        seen = _Seen(slack)
        seen.start()

        async def posts() -> None:
            for n in range(8):  # 0.1 s apart: never quiet for 0.3 s until the end
                await _post(http, slack, f"m{n}")
                await asyncio.sleep(0.1)

        poster = asyncio.create_task(posts())
        try:
            await slack.quiesce(quiet=0.3)
            assert poster.done(), "quiesce returned while calls were still arriving"
        finally:
            await poster
            await seen.stop()
        assert len(slack.calls) == 8
