"""The Web API client the outbox delivers with, and the errors it gives up on."""

from __future__ import annotations

import aiohttp
from slack_sdk.web.async_client import AsyncWebClient

# Errors that retrying cannot fix: the payload or the target is wrong.
PERMANENT_ERRORS = {
    "channel_not_found",
    "not_in_channel",
    "is_archived",
    "invalid_blocks",
    "invalid_blocks_format",
    "msg_too_long",
    "no_text",
    "message_not_found",
    "cant_update_message",
    "edit_window_closed",
    "invalid_auth",
    "account_inactive",
    "user_not_in_channel",
    "invalid_arguments",
}


def pooled_client(client: AsyncWebClient, session: aiohttp.ClientSession) -> AsyncWebClient:
    """The same client configuration over one keep-alive HTTP session.

    Without a session the SDK opens (and closes) a new connection per call,
    which was the largest single cost of delivering a message.
    """
    return AsyncWebClient(
        token=client.token,
        base_url=client.base_url,
        timeout=client.timeout,
        ssl=client.ssl,
        proxy=client.proxy,
        session=session,
        headers=dict(client.headers),
        retry_handlers=list(client.retry_handlers),
        logger=client._logger,
    )
