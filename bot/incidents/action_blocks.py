"""The incident's own buttons — **Acknowledge**, **Assign commander** (a user
picker) and **Resolve** (confirmed, naming the runs it ends) — on its declare
message and its run messages, and the line a superseded reminder collapses
to. Pure: plain data in, Block Kit out."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bot.slack.blockkit import Payload, button, context, section, slack_date, truncate
from bot.slack.mrkdwn import escape

INCIDENT_ACK = "incident_ack"
INCIDENT_COMMANDER = "incident_commander"
INCIDENT_RESOLVE = "incident_resolve"
# The actions block's id carries the incident (a user picker has no value).
BLOCK_PREFIX = "incident:"

SUPERSEDED = "superseded by a newer reminder"


def incident_block_id(incident_id: int) -> str:
    return f"{BLOCK_PREFIX}{incident_id}"


def incident_of_value(raw: str) -> int | None:
    """A button's value, ``7`` → 7; anything else → None (a forged button)."""
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 18 else None


def incident_of_block(block_id: str) -> int | None:
    """``incident:7`` → 7; anything else → None (a forged or foreign block)."""
    if not block_id.startswith(BLOCK_PREFIX):
        return None
    return incident_of_value(block_id.removeprefix(BLOCK_PREFIX))


def running_line(runbook_id: str, step: int | None = None, steps: int | None = None) -> str:
    """``RB-08 is still running (step 4 of 16); resolving ends it.``"""
    where = f" (step {step} of {steps})" if step and steps else ""
    return f"{escape(runbook_id)} is still running{where}; resolving ends it."


def resolve_confirm(incident_key: str, running: Sequence[str]) -> dict[str, Any]:
    """``running``: one :func:`running_line` per run still going."""
    text = " ".join(running) if running else "No runbook is running."
    return {
        "title": {"type": "plain_text", "text": truncate(f"Resolve {incident_key}?", 100)},
        "text": {"type": "mrkdwn", "text": truncate(text, 300)},
        "confirm": {"type": "plain_text", "text": "Resolve"},
        "deny": {"type": "plain_text", "text": "Not yet"},
        "style": "danger" if running else "primary",
    }


def incident_actions(
    incident_id: int,
    incident_key: str,
    *,
    acknowledged: bool,
    commander: str | None,
    running: Sequence[str] = (),
) -> dict[str, Any]:
    """The actions block of an open incident's messages (no Acknowledge once
    someone acknowledged; the picker shows the commander)."""
    value = str(incident_id)
    elements: list[dict[str, Any]] = []
    if not acknowledged:
        elements.append(button("👀 Acknowledge", INCIDENT_ACK, value, "primary"))
    picker: dict[str, Any] = {
        "type": "users_select",
        "action_id": INCIDENT_COMMANDER,
        "placeholder": {"type": "plain_text", "text": "Assign commander…"},
    }
    if commander:
        picker["initial_user"] = commander
    elements.append(picker)
    confirm = resolve_confirm(incident_key, running)
    elements.append(button("✔️ Resolve", INCIDENT_RESOLVE, value, confirm=confirm))
    return {"type": "actions", "block_id": incident_block_id(incident_id), "elements": elements}


def state_line(
    *,
    acknowledged_by: str | None,
    acknowledged_at: datetime | None,
    commander: str | None,
    resolved_by: str | None,
    resolved_at: datetime | None,
) -> dict[str, Any] | None:
    """Where the incident stands, under its message: who acknowledged, who
    commands, who resolved (None: nothing yet)."""
    bits = []
    if resolved_at is not None:
        bits.append(f"✔️ Resolved by <@{escape(resolved_by or '')}> {slack_date(resolved_at)}")
    if acknowledged_at is not None:
        bits.append(
            f"👀 Acknowledged by <@{escape(acknowledged_by or '')}> {slack_date(acknowledged_at)}"
        )
    if commander:
        bits.append(f"🧑‍✈️ Commander <@{escape(commander)}>")
    return context(" · ".join(bits)) if bits else None


def superseded_reminder(incident_key: str, at: datetime, *, resolved: bool = False) -> Payload:
    """What an earlier reminder collapses to: one line, no buttons."""
    why = f"{incident_key} was resolved" if resolved else SUPERSEDED
    line = f"⏰ _{incident_key} reminder — {why} ({slack_date(at, '{time}')})._"
    return {"text": f"{incident_key} reminder — {why}", "blocks": [section(line)]}
