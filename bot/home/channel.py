"""Which channel the App Home's **Declare incident** declares in: the first of
``INCIDENT_CHANNELS``. The bot's incidents are keyed by channel ID, like
every slash command's, so a name is turned into its ID with
``conversations.list``.

Why in the background: the modal's submission must be acknowledged within
3 s, and ``conversations.list`` is a Tier 2 method paged 1000 channels at a
time. So the listing runs at start and again every few minutes (paced, one
page every ``PAGE_SECONDS``), and the submission reads ``cached()`` only.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import re
import time

from slack_sdk.web.async_client import AsyncWebClient

from bot.tasks import cancel_and_wait

log = logging.getLogger(__name__)

CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{2,}$")
FOUND_SECONDS = 3600.0  # an ID does not change; a rename is picked up within the hour
REFRESH_SECONDS = 300.0  # listed, and no such channel: look again this often
RETRY_SECONDS = 20.0  # Slack could not be asked: try again this soon
PAGE_SECONDS = 3.0  # conversations.list is Tier 2 (20 a minute)
MAX_PAGES = 50  # 50 pages of 1000 channels is plenty


class NoSuchChannel(enum.Enum):
    NO_SUCH_CHANNEL = "no_such_channel"


NO_SUCH_CHANNEL = NoSuchChannel.NO_SUCH_CHANNEL


class ChannelResolver:
    def __init__(
        self,
        client: AsyncWebClient,
        channels: list[str],
        *,
        page_seconds: float = PAGE_SECONDS,
        retry_seconds: float = RETRY_SECONDS,
    ) -> None:
        self._client = client
        self._wanted = channels[0] if channels else ""
        self._fixed = bool(CHANNEL_ID.match(self._wanted))
        self._id: str | NoSuchChannel | None = self._wanted if self._fixed else None
        self._page_seconds = page_seconds
        self._retry = retry_seconds
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def name(self) -> str:
        return self._wanted

    def cached(self) -> str | NoSuchChannel | None:
        """The channel ID; ``NO_SUCH_CHANNEL`` when Slack listed the channels and
        none has that name; None when it has not been able to say yet."""
        return self._id

    def nudge(self) -> None:
        """Look again soon (someone needs it, or it was missing)."""
        self._wake.set()

    def start(self) -> None:
        if self._task is None and not self._fixed and self._wanted:
            self._task = asyncio.create_task(self._loop(), name="declare-channel")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None

    async def _loop(self) -> None:
        while True:
            self._wake.clear()
            began = time.monotonic()
            try:
                found = await self.refresh()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # keep the last known answer; try again soon
                log.warning("conversations.list failed (%r); retrying in %.0fs", exc, self._retry)
                wait = self._retry
            else:
                wait = FOUND_SECONDS if found else REFRESH_SECONDS
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=wait)
            except TimeoutError:
                continue
            # Nudged: paced all the same, one listing per PAGE_SECONDS at most.
            await asyncio.sleep(max(0.0, began + self._page_seconds - time.monotonic()))

    async def refresh(self) -> bool:
        """List the channels once (paged); True when the name was found."""
        cursor: str | None = None
        for page in range(MAX_PAGES):
            if page:
                await asyncio.sleep(self._page_seconds)
            response = await self._client.conversations_list(
                types="public_channel,private_channel",
                exclude_archived=True,
                limit=1000,
                cursor=cursor,
            )
            for channel in response.get("channels") or []:
                if str(channel.get("name", "")).lower() == self._wanted.lower():
                    self._id = str(channel["id"])
                    return True
            cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                break
        log.warning("the bot finds no channel #%s to declare incidents in", self._wanted)
        self._id = NO_SUCH_CHANNEL
        return False
