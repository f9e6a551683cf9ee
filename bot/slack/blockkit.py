"""Block Kit building blocks shared by every message the bot renders (pure).

Limits live here once: ≤ 50 blocks, section text ≤ 3000, header ≤ 150,
button label ≤ 75. Every helper truncates to fit rather than letting Slack
reject the message.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.slack.mrkdwn import md_to_mrkdwn, split_mrkdwn

MAX_BLOCKS = 50
SECTION_LIMIT = 3000
HEADER_LIMIT = 150
TEXT_LIMIT = 3000  # the notification `text` we send; Slack allows 40k but shows little

Payload = dict[str, Any]


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def slack_date(at: datetime, fmt: str = "{date_short_pretty} at {time}") -> str:
    """A time every reader sees in their own time zone, UTC as the fallback."""
    fallback = at.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(at.timestamp())}^{fmt}|{fallback}>"


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": truncate(text, SECTION_LIMIT)}}


def context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": truncate(text, 3000)}]}


def header(text: str) -> dict[str, Any]:
    plain = truncate(text.replace("\n", " "), HEADER_LIMIT)
    return {"type": "header", "text": {"type": "plain_text", "text": plain, "emoji": True}}


def button(
    label: str, action_id: str, value: str, style: str | None = None, confirm: dict | None = None
) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": truncate(label, 75), "emoji": True},
        "action_id": action_id,
        "value": value,
    }
    if style:
        element["style"] = style
    if confirm:
        element["confirm"] = confirm
    return element


def markdown_sections(markdown_parts: list[str] | tuple[str, ...], budget: int) -> list[dict]:
    """Runbook Markdown → mrkdwn sections, split to fit, at most ``budget`` blocks."""
    blocks: list[dict] = []
    for part in markdown_parts:
        for piece in split_mrkdwn(md_to_mrkdwn(part), SECTION_LIMIT - 100):
            if piece.strip():
                blocks.append(section(piece))
    if len(blocks) > budget:
        blocks = blocks[: max(0, budget - 1)]
        blocks.append(context("_…more in the runbook file._"))
    return blocks


def cap_blocks(blocks: list[dict]) -> list[dict]:
    return blocks if len(blocks) <= MAX_BLOCKS else [*blocks[: MAX_BLOCKS - 1], blocks[-1]]
