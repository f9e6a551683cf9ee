"""Thread links for the App Home (``chat.getPermalink``), asked of Slack once
per thread: permalinks never change, and a home view lists up to 30 threads
that would otherwise cost 30 calls per publish."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import replace

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.home.view import OpenIncident

log = logging.getLogger("bot.home.publisher")

WAIT = 0.5  # seconds a view waits for thread links before going without


class Permalinks:
    def __init__(self, client: AsyncWebClient, on_call: Callable[[str, bool], None]) -> None:
        self._client = client
        self._on_call = on_call
        self._links: dict[tuple[str, str], asyncio.Future[str | None]] = {}
        self._fetches: set[asyncio.Task[None]] = set()

    async def attach(self, incidents: Sequence[OpenIncident]) -> list[OpenIncident]:
        """``incidents`` with their thread's link where Slack gave one (a thread
        Slack does not know stays without; a fetch still running after
        ``WAIT`` leaves this view without and fills the cache for the next)."""
        loop = asyncio.get_running_loop()
        for i in incidents:
            key = (i.channel_id, i.thread_ts or "")
            if i.thread_ts and key not in self._links:
                future: asyncio.Future[str | None] = loop.create_future()
                self._links[key] = future
                task = loop.create_task(self._fetch(key, future))
                self._fetches.add(task)
                task.add_done_callback(self._fetches.discard)
        pending = [
            f
            for i in incidents
            if (f := self._links.get((i.channel_id, i.thread_ts or ""))) and not f.done()
        ]
        if pending:
            await asyncio.wait(pending, timeout=WAIT)
        return [replace(i, permalink=self._link(i)) for i in incidents]

    def _link(self, incident: OpenIncident) -> str | None:
        future = self._links.get((incident.channel_id, incident.thread_ts or ""))
        return future.result() if future is not None and future.done() else None

    async def _fetch(self, key: tuple[str, str], future: asyncio.Future[str | None]) -> None:
        link: str | None = None
        try:
            response = await self._client.chat_getPermalink(channel=key[0], message_ts=key[1])
            self._on_call("chat.getPermalink", True)
            found = response.get("permalink")
            link = found if isinstance(found, str) and found.startswith("https://") else None
        except SlackApiError as exc:
            self._on_call("chat.getPermalink", False)
            if exc.response.get("error") not in ("message_not_found", "channel_not_found"):
                del self._links[key]  # e.g. rate limited: ask again next time
            log.info("chat.getPermalink failed: %r", exc)
        except Exception as exc:
            self._on_call("chat.getPermalink", False)
            del self._links[key]
            log.info("chat.getPermalink failed: %r", exc)
        future.set_result(link)
