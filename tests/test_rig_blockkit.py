"""Tests of the stand-in's Block Kit / view validation (tests/rig/blockkit.py)."""

from __future__ import annotations

from typing import Any

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

# The rig is importable as ``tests.rig`` when the repo root is on sys.path (conftest at the
# root, editable install) and as ``rig`` under pytest's default rootdir-less prepend mode.
try:
    from tests import rig_support
    from tests.rig import SlackStandIn, validate_blocks
    from tests.rig_support import button, step_blocks
except ImportError:  # pragma: no cover - depends on how pytest was started
    import rig_support  # type: ignore[no-redef]
    from rig import SlackStandIn, validate_blocks  # type: ignore[no-redef]
    from rig_support import button, step_blocks  # type: ignore[no-redef]

# Shared fixtures from rig_support (tests/conftest.py belongs to the lead).
slack = rig_support.slack
client = rig_support.client


# ---------------------------------------------------------------------------
# stand-in: validation
# ---------------------------------------------------------------------------


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


INVALID_MESSAGES: dict[str, tuple[dict[str, Any], str]] = {
    "51 blocks": ({"blocks": [section("x")] * 51}, "invalid_blocks"),
    "section text 3001": ({"blocks": [section("x" * 3001)]}, "invalid_blocks"),
    "empty section text": ({"blocks": [section("")]}, "invalid_blocks"),
    "header 151": (
        {"blocks": [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}]},
        "invalid_blocks",
    ),
    "mrkdwn header": (
        {"blocks": [{"type": "header", "text": {"type": "mrkdwn", "text": "h"}}]},
        "invalid_blocks",
    ),
    "button text 76": (
        {"blocks": [{"type": "actions", "elements": [button("a", "b" * 76)]}]},
        "invalid_blocks",
    ),
    "action_id 256": (
        {"blocks": [{"type": "actions", "elements": [button("a" * 256, "ok")]}]},
        "invalid_blocks",
    ),
    "value 2001": (
        {"blocks": [{"type": "actions", "elements": [button("a", "ok", "v" * 2001)]}]},
        "invalid_blocks",
    ),
    "duplicate action_id": (
        {"blocks": [{"type": "actions", "elements": [button("a", "1"), button("a", "2")]}]},
        "invalid_blocks",
    ),
    "duplicate block_id": (
        {"blocks": [{**section("a"), "block_id": "x"}, {**section("b"), "block_id": "x"}]},
        "invalid_blocks",
    ),
    "unknown block type": ({"blocks": [{"type": "sectoin", "text": "x"}]}, "invalid_blocks"),
    "unknown key": ({"blocks": [{**section("a"), "colour": "red"}]}, "invalid_blocks"),
    "string text object": ({"blocks": [{"type": "section", "text": "x"}]}, "invalid_blocks"),
    "actions without elements": ({"blocks": [{"type": "actions"}]}, "invalid_blocks"),
    "no text": ({"blocks": [section("x")], "text": ""}, "no_text"),
    "text 40001": ({"text": "t" * 40_001}, "msg_too_long"),
}


# The SDK itself warns (UserWarning) when text is missing; that's the point of "no text".
@pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing")
@pytest.mark.parametrize("case", list(INVALID_MESSAGES))
async def test_invalid_messages_are_rejected(
    case: str, slack: SlackStandIn, client: AsyncWebClient
) -> None:
    kwargs, error = INVALID_MESSAGES[case]
    kwargs = {"text": "fallback", **kwargs}
    with pytest.raises(SlackApiError) as err:
        await client.chat_postMessage(channel="C_INC", **kwargs)
    assert err.value.response["error"] == error
    assert err.value.response["errors"]
    assert slack.calls == [] and slack.messages == {}
    ((method, args, errors),) = slack.invalid
    assert method == "chat.postMessage" and args["channel"] == "C_INC" and errors
    slack.invalid.clear()


async def test_update_and_views_are_validated(slack: SlackStandIn, client: AsyncWebClient) -> None:
    posted = await client.chat_postMessage(channel="C_INC", text="x", blocks=[section("x")] * 50)
    with pytest.raises(SlackApiError):
        await client.chat_update(
            channel="C_INC", ts=posted["ts"], text="x", blocks=[section("y" * 3001)]
        )
    assert slack.message("C_INC", posted["ts"])["blocks"] == [section("x")] * 50  # unchanged

    view = {"type": "modal", "title": {"type": "plain_text", "text": "T"}, "blocks": [section("x")]}
    assert (await client.views_open(trigger_id="t", view={**view, "blocks": [section("v")] * 100}))[
        "ok"
    ]
    for bad in (
        {**view, "blocks": [section("x")] * 101},
        {**view, "title": {"type": "plain_text", "text": "t" * 25}},
        {**view, "type": "sheet"},
    ):
        with pytest.raises(SlackApiError):
            await client.views_open(trigger_id="t", view=bad)
    assert [m for m, _, _ in slack.invalid] == ["chat.update"] + ["views.open"] * 3
    slack.invalid.clear()


def test_validate_blocks_accepts_realistic_blocks() -> None:
    assert validate_blocks(step_blocks()) == []
    assert validate_blocks([section("x" * 3000)] * 50) == []
    assert validate_blocks("nope") != []
