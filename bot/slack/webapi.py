"""The Web API client the outbox delivers with."""

from __future__ import annotations

import aiohttp
from slack_sdk.web.async_client import AsyncWebClient


def pooled_client(client: AsyncWebClient, session: aiohttp.ClientSession | None) -> AsyncWebClient:
    """The same client configuration over one keep-alive HTTP session, with
    no retry handlers of its own.

    Without a session the SDK opens (and closes) a new connection per call,
    which was the largest single cost of delivering a message. Without retry
    handlers the SDK never re-POSTs a message whose first POST may have
    reached Slack (5xx, a reset connection), and never sleeps out a 429 for
    one request while the rest of its bucket keeps calling: the worker
    decides both (``bot/slack/delivery.py``).
    """
    return AsyncWebClient(
        token=client.token,
        base_url=client.base_url,
        timeout=client.timeout,
        ssl=client.ssl,
        proxy=client.proxy,
        session=session,
        headers=dict(client.headers),
        retry_handlers=[],
        logger=client._logger,
    )
