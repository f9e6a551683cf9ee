"""Block Kit building blocks shared by every message the bot renders (pure).

Limits live here once: ≤ 50 blocks, section text ≤ 3000, header ≤ 150,
button label ≤ 75, and a message's blocks hold at most
``MESSAGE_TEXT_BUDGET`` characters of text (Slack refuses about 12,000 with
``msg_blocks_too_long``; we keep a margin). Every helper truncates or cuts to
fit rather than letting Slack reject the message.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.slack.mrkdwn import md_to_mrkdwn, split_mrkdwn

MAX_BLOCKS = 50
SECTION_LIMIT = 3000
HEADER_LIMIT = 150
TEXT_LIMIT = 3000  # the notification `text` we send; chat.update refuses over 4,000
UPDATE_TEXT_LIMIT = 4000  # chat.update's `text`, as Slack enforces it
MESSAGE_TEXT_BUDGET = 10_000  # characters of text in one message's blocks
MAX_VIEW_BLOCKS = 100
VIEW_TEXT_BUDGET = 30_000  # a view is not a message, but stays bounded too
CUT_NOTE = "_…cut to fit one Slack message._"

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


# --- size -----------------------------------------------------------------

# Keys whose string value Slack shows as text: text objects' and rich text
# elements' ``text``, images' ``alt_text``. Counted wherever they sit in a
# block (section text and fields, context elements, headers, buttons,
# confirm dialogs, options…), as a strict Slack would.
_TEXT_KEYS = frozenset({"text", "alt_text"})


def text_length(node: Any) -> int:
    """Characters of text in a block, a list of blocks or any part of one."""
    if isinstance(node, list):
        return sum(text_length(item) for item in node)
    if not isinstance(node, dict):
        return 0
    total = 0
    for key, value in node.items():
        if isinstance(value, str):
            if key in _TEXT_KEYS:
                total += len(value)
            elif key == "url" and node.get("type") == "link" and "text" not in node:
                total += len(value)  # a rich-text link without a label shows its URL
        else:
            total += text_length(value)
    return total


def block_text_length(payload: Payload) -> int:
    """Characters of text in a message's (or a view's) blocks; ``text`` not counted."""
    return text_length(payload.get("blocks") or [])


def fits(
    blocks: list[dict], *, budget: int = MESSAGE_TEXT_BUDGET, max_blocks: int = MAX_BLOCKS
) -> bool:
    return len(blocks) <= max_blocks and text_length(blocks) <= budget


def fit_blocks(
    blocks: list[dict],
    *,
    keep_head: int = 0,
    keep_tail: int = 1,
    latest: bool = False,
    note: str = CUT_NOTE,
    budget: int = MESSAGE_TEXT_BUDGET,
    max_blocks: int = MAX_BLOCKS,
) -> list[dict]:
    """``blocks`` cut to fit one message: the first ``keep_head`` and the last
    ``keep_tail`` blocks stay; of the blocks between, as many as fit — the
    first ones, or the last ones when ``latest`` — and a context block saying
    what happened (``note``: where the rest is)."""
    if fits(blocks, budget=budget, max_blocks=max_blocks):
        return blocks
    keep_tail = min(keep_tail, len(blocks))
    head = blocks[:keep_head]
    tail = blocks[len(blocks) - keep_tail :]
    middle = blocks[keep_head : len(blocks) - keep_tail]
    marker = context(note)
    room = budget - text_length(head) - text_length(tail) - text_length(marker)
    slots = max_blocks - len(head) - len(tail) - 1
    kept: list[dict] = []
    for block in reversed(middle) if latest else middle:
        if len(kept) >= slots:
            break
        cost = text_length(block)
        if cost > room:
            shrunk = _shrink(block, room, latest)
            if shrunk is not None:
                kept.append(shrunk)
            break
        kept.append(block)
        room -= cost
    if latest:
        return [*head, marker, *reversed(kept), *tail]
    return [*head, *kept, marker, *tail]


def _shrink(block: dict, room: int, from_end: bool) -> dict | None:
    """A plain section cut to ``room`` characters (None: not worth it or not plain)."""
    text = block.get("text") if block.get("type") == "section" else None
    if room < 200 or set(block) - {"type", "text", "block_id"} or not isinstance(text, dict):
        return None
    body = str(text.get("text", ""))
    cut = "…" + body[len(body) - room + 1 :] if from_end else body[: room - 1] + "…"
    return {**block, "text": {**text, "text": cut}}


def cap_blocks(blocks: list[dict], note: str = CUT_NOTE) -> list[dict]:
    """At most 50 blocks and ``MESSAGE_TEXT_BUDGET`` characters; the last block stays."""
    return fit_blocks(blocks, note=note)
