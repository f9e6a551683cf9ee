"""The Skip button's modal: "why skip this step?" with an optional reason (pure).

Clicking Skip opens it; submitting it (with or without a reason) is the skip.
Its ``private_metadata`` carries what the click carried — the step and the
clicked message — so the submission is decided exactly as a click would be.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from bot.slack.blockkit import Payload, truncate

SKIP_MODAL = "step_skip_reason"
REASON_BLOCK = "reason"
REASON_ACTION = "text"
MAX_REASON = 500  # Slack's input stops here too; the timeline shows it whole


@dataclass(frozen=True, slots=True)
class SkipTarget:
    """The step a Skip click was on, and the message it was clicked on."""

    run_id: int
    step_index: int
    channel: str
    ts: str
    thread_ts: str | None = None

    def to_json(self) -> str:
        data = {"run": self.run_id, "step": self.step_index, "channel": self.channel}
        return json.dumps({**data, "ts": self.ts, "thread": self.thread_ts}, separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str) -> SkipTarget:
        """ValueError for anything but what ``to_json`` wrote."""
        try:
            data = json.loads(raw)
            target = cls(
                int(data["run"]),
                int(data["step"]),
                str(data["channel"]),
                str(data["ts"]),
                str(data["thread"]) if data.get("thread") else None,
            )
        except (TypeError, KeyError, ValueError) as exc:
            raise ValueError(f"not a skip modal's metadata: {exc}") from None
        if target.run_id < 1 or target.step_index < 0:
            raise ValueError("not a skip modal's metadata: bad ids")
        return target


def skip_modal(target: SkipTarget, step_text: str) -> Payload:
    """The modal Skip opens; ``step_text``: the clicked message's text (which step),
    the bot's own mrkdwn as Slack sends it back in the click."""
    which = truncate(step_text.strip() or "this step", 280)
    return {
        "type": "modal",
        "callback_id": SKIP_MODAL,
        "private_metadata": target.to_json(),
        "title": {"type": "plain_text", "text": "Skip this step?"},
        "submit": {"type": "plain_text", "text": "Skip step"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": which}},
            {
                "type": "input",
                "block_id": REASON_BLOCK,
                "optional": True,
                # Slack itself adds "(optional)" after an optional input's label.
                "label": {"type": "plain_text", "text": "Why skip it?"},
                "hint": {
                    "type": "plain_text",
                    "text": "Kept on the timeline and in the runbook's insights.",
                },
                "element": {
                    "type": "plain_text_input",
                    "action_id": REASON_ACTION,
                    "multiline": True,
                    "max_length": MAX_REASON,
                    "placeholder": {"type": "plain_text", "text": "e.g. already done by hand"},
                },
            },
        ],
    }


def read_reason(values: dict[str, Any]) -> str | None:
    """The reason typed (one line, at most ``MAX_REASON`` characters), or None."""
    raw = ((values.get(REASON_BLOCK) or {}).get(REASON_ACTION) or {}).get("value")
    text = " ".join(str(raw or "").replace("\x00", "").split())
    return text[:MAX_REASON] or None
