"""The playground's own Web API refuses what Slack refuses for size: a message
whose blocks hold more than 12,000 characters of text, an update whose text is
over 4,000. Served on loopback, called with the real ``AsyncWebClient``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.playground.webapi import WebApi, blocks_text_chars
from bot.playground.workspace import Workspace

CHANNEL, USER = "C01INCIDENTS", "U01ALICE"


def blocks_of(total: int) -> list[dict[str, Any]]:
    """A header, a context and sections, each within its own limits: ``total`` chars."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": "h" * 100}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "c" * 400}]},
    ]
    left = total - 500
    while left > 0:
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": "s" * min(left, 3000)}}
        )
        left -= 3000
    return blocks


@pytest.fixture
async def served() -> AsyncIterator[tuple[Workspace, AsyncWebClient]]:
    workspace = Workspace()
    app = web.Application()
    WebApi(workspace).add_routes(app)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield (
        workspace,
        AsyncWebClient(token="xoxb-playground", base_url=f"http://127.0.0.1:{port}/api/"),
    )
    await runner.cleanup()


def test_blocks_text_chars_counts_every_text() -> None:
    assert blocks_text_chars(blocks_of(12_001)) == 12_001


async def test_blocks_over_12000_chars_are_refused_and_nothing_is_posted(
    served: tuple[Workspace, AsyncWebClient],
) -> None:
    workspace, client = served
    ok = await client.chat_postMessage(channel=CHANNEL, text="x", blocks=blocks_of(12_000))
    for call in (
        client.chat_postMessage(channel=CHANNEL, text="x", blocks=blocks_of(12_001)),
        client.chat_postEphemeral(channel=CHANNEL, user=USER, text="x", blocks=blocks_of(12_001)),
        client.chat_update(channel=CHANNEL, ts=ok["ts"], text="y", blocks=blocks_of(12_001)),
    ):
        with pytest.raises(SlackApiError) as err:
            await call
        assert err.value.response["error"] == "msg_blocks_too_long"
    assert [m["text"] for m in workspace.messages.values()] == ["x"]
    assert workspace.ephemerals == []


async def test_update_text_over_4000_chars_is_refused(
    served: tuple[Workspace, AsyncWebClient],
) -> None:
    workspace, client = served
    ts = (await client.chat_postMessage(channel=CHANNEL, text="before"))["ts"]
    with pytest.raises(SlackApiError) as err:
        await client.chat_update(channel=CHANNEL, ts=ts, text="t" * 4001)
    assert err.value.response["error"] == "msg_too_long"
    assert workspace.messages[(CHANNEL, ts)]["text"] == "before"
    assert (await client.chat_update(channel=CHANNEL, ts=ts, text="t" * 4000))["ok"]
    assert workspace.messages[(CHANNEL, ts)]["text"] == "t" * 4000
