"""Which channel the App Home's **Declare incident** declares in: the first of
``INCIDENT_CHANNELS``. A name is looked up once with ``conversations.list``
(the bot's incidents are keyed by channel ID, like every slash command's)."""

from __future__ import annotations

import re

from slack_sdk.web.async_client import AsyncWebClient

CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{2,}$")


class ChannelResolver:
    def __init__(self, client: AsyncWebClient, channels: list[str]) -> None:
        self._client = client
        self._wanted = channels[0] if channels else ""
        self._id: str | None = self._wanted if CHANNEL_ID.match(self._wanted) else None

    @property
    def name(self) -> str:
        return self._wanted

    async def first_channel(self) -> str | None:
        """The channel ID, or None when Slack knows no channel of that name."""
        if self._id is not None:
            return self._id
        cursor: str | None = None
        for _ in range(50):  # 50 pages of 1000 channels is plenty
            response = await self._client.conversations_list(
                types="public_channel,private_channel",
                exclude_archived=True,
                limit=1000,
                cursor=cursor,
            )
            for channel in response.get("channels") or []:
                if str(channel.get("name", "")).lower() == self._wanted.lower():
                    self._id = str(channel["id"])
                    return self._id
            cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                return None
        return None
