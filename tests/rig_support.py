"""Fixtures and sample Block Kit payloads shared by the ``test_rig_*`` modules.

The fixtures are local to the rig's own tests (tests/conftest.py belongs to the lead);
each test module binds the ones it uses as module attributes so pytest finds them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from slack_sdk.web.async_client import AsyncWebClient

# The rig is importable as ``tests.rig`` when the repo root is on sys.path (conftest at the
# root, editable install) and as ``rig`` under pytest's default rootdir-less prepend mode.
try:
    from tests.rig import SlackStandIn
except ImportError:  # pragma: no cover - depends on how pytest was started
    from rig import SlackStandIn  # type: ignore[no-redef]

TOKEN = "xoxb-rig-token"


# ---------------------------------------------------------------------------
# fixtures (local: tests/conftest.py belongs to the lead)
# ---------------------------------------------------------------------------


@pytest.fixture
async def slack() -> AsyncIterator[SlackStandIn]:
    async with SlackStandIn() as standin:
        yield standin
        # Tests that provoke invalid calls clear them; anything left is a real bug.
        assert standin.invalid == [], standin.summary()


@pytest.fixture
async def client(slack: SlackStandIn) -> AsyncWebClient:
    return AsyncWebClient(token=TOKEN, base_url=slack.url)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


# ---------------------------------------------------------------------------
# sample payloads
# ---------------------------------------------------------------------------


def button(action_id: str, label: str, value: str = "v") -> dict[str, Any]:
    return {
        "type": "button",
        "action_id": action_id,
        "text": {"type": "plain_text", "text": label},
        "value": value,
    }


def step_blocks() -> list[dict[str, Any]]:
    return [
        {"type": "header", "text": {"type": "plain_text", "text": "INC-1 · RB-04"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "*Step 1* restart the pool"}},
        {
            "type": "actions",
            "block_id": "step",
            "elements": [
                button("approve", "Approve", "run1:1"),
                button("skip", "Skip", "run1:1"),
                {
                    "type": "static_select",
                    "action_id": "snooze",
                    "placeholder": {"type": "plain_text", "text": "Snooze"},
                    "options": [
                        {"text": {"type": "plain_text", "text": "30 min"}, "value": "30"},
                        {"text": {"type": "plain_text", "text": "60 min"}, "value": "60"},
                    ],
                },
            ],
        },
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": "<!date^1700000000^{time}|x>"}],
        },
        {"type": "divider"},
    ]
