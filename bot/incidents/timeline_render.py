"""Timeline rows and their renderings: JSON for machines, Markdown ready to
paste into a postmortem. Pure: ``bot/incidents/timeline.py`` loads the rows;
the postmortem draft (``postmortem_render``) shares the rows and labels without
importing the database layer.

People appear by handle (``@alice``); an ID nobody has a handle for stays an ID
(``@U123``). JSON keeps the IDs and adds each actor's handle.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.store.states import EventKind
from bot.timefmt import format_duration


@dataclass(frozen=True, slots=True)
class EventRow:
    at: datetime
    kind: str
    actor: str | None
    text: str
    run_id: int | None = None
    data: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class IncidentRow:
    key: str
    title: str
    channel_id: str
    state: str
    opened_at: datetime
    resolved_at: datetime | None
    priority: str | None = None
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    roles: dict[str, str] | None = None


def iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


Handles = Mapping[str, str]
_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")


def mentioned(texts: Iterable[str]) -> set[str]:
    """User IDs mentioned (``<@U…>``) in ``texts``."""
    return {m.group(1) for text in texts if "<@" in text for m in _MENTION.finditer(text)}


def render_json(events: Sequence[EventRow], handles: Handles | None = None) -> str:
    """A JSON array, one event object per line (readable, diffable, greppable);
    ``actor_handle`` is the actor's handle (null when unknown or the bot).

    Each object is encoded on its own by the C encoder: ``indent=`` would
    select the pure-Python encoder, the slowest part of a 10,000-event export.
    """
    dumps = json.JSONEncoder(ensure_ascii=False).encode
    names = handles or {}
    lines = ",\n  ".join(
        dumps(
            {
                "at": iso(e.at),
                "kind": e.kind,
                "actor": e.actor,
                "actor_handle": names.get(e.actor) if e.actor else None,
                "text": e.text,
                "run_id": e.run_id,
                "data": e.data or {},
            }
        )
        for e in events
    )
    return f"[\n  {lines}\n]" if lines else "[]"


LABELS: dict[str, str] = {
    EventKind.INCIDENT_OPENED: "Incident opened",
    EventKind.RUNBOOK_STARTED: "Runbook started",
    EventKind.STEP_APPROVED: "Step approved",
    EventKind.STEP_SKIPPED: "Step skipped",
    EventKind.RUNBOOK_COMPLETED: "Runbook completed",
    EventKind.RUNBOOK_ABORTED: "Runbook aborted",
    EventKind.STATUS_UPDATE: "Status update",
    EventKind.REMINDER_SENT: "Reminder sent",
    EventKind.REMINDER_JOINED: "Reminder due (joined the one waiting)",
    EventKind.REMINDER_SNOOZED: "Reminders snoozed",
    EventKind.NOTE: "Note",
    EventKind.INCIDENT_RESOLVED: "Incident resolved",
    EventKind.INCIDENT_ACKNOWLEDGED: "Acknowledged",
    EventKind.RESPONSE_TARGET_MISSED: "Response target missed",
    EventKind.PRIORITY_CHANGED: "Priority changed",
    EventKind.ROLE_ASSIGNED: "Role assigned",
    EventKind.STEP_APPROVAL_PARTIAL: "Step partly approved",
    EventKind.RTO_WARNING: "RTO warning",
    EventKind.RTO_BREACHED: "RTO breached",
    EventKind.FOLLOWUP_ADDED: "Follow-up added",
    EventKind.FOLLOWUP_DONE: "Follow-up done",
    EventKind.FOLLOWUP_OVERDUE: "Follow-up overdue",
    EventKind.ACTION_STARTED: "Action started",
    EventKind.ACTION_SUCCEEDED: "Action succeeded",
    EventKind.ACTION_FAILED: "Action failed",
}


def _cell(text: str) -> str:
    # Table cells: one line, pipes escaped, so a pasted table stays a table;
    # angle brackets escaped so typed text never turns into HTML when rendered.
    one_line = " ".join(text.split()).replace("|", "\\|")
    return one_line.replace("<", "&lt;").replace(">", "&gt;")


def _person(user: str, handles: Handles) -> str:
    return "@" + _cell(handles.get(user, user))


def _said(text: str, handles: Handles) -> str:
    """A table cell of recorded text, its mentions as handles."""
    if "<@" in text:
        text = _MENTION.sub(lambda m: "@" + handles.get(m.group(1), m.group(1)), text)
    return _cell(text)


def render_markdown(
    incident: IncidentRow, events: Sequence[EventRow], handles: Handles | None = None
) -> str:
    names = handles or {}
    lines = [f"# {incident.key}: {_cell(incident.title)}", ""]
    lines.append(f"- **Channel:** {incident.channel_id}")
    if incident.priority:
        lines.append(f"- **Priority:** {_cell(incident.priority)}")
    if incident.acknowledged_at is not None:
        lines.append(
            f"- **Acknowledged:** by {_person(incident.acknowledged_by or '', names)} after "
            f"{format_duration(incident.acknowledged_at - incident.opened_at)}"
        )
    if incident.roles:
        roles = ", ".join(
            f"{_cell(r)} {_person(u, names)}" for r, u in sorted(incident.roles.items())
        )
        lines.append(f"- **Roles:** {roles}")
    lines.append(f"- **Opened:** {incident.opened_at.strftime('%Y-%m-%d %H:%M:%S')} UTC")
    if incident.resolved_at:
        lines.append(
            f"- **Resolved:** {incident.resolved_at.strftime('%Y-%m-%d %H:%M:%S')} UTC "
            f"(after {format_duration(incident.resolved_at - incident.opened_at)})"
        )
    else:
        lines.append("- **State:** open")
    counts: dict[str, int] = {}
    for e in events:
        counts[e.kind] = counts.get(e.kind, 0) + 1
    lines.append(
        f"- **Steps:** {counts.get('step_approved', 0)} approved, "
        f"{counts.get('step_skipped', 0)} skipped · **Status updates:** "
        f"{counts.get('status_update', 0)} · **Reminders:** {counts.get('reminder_sent', 0)}"
        + _actions_count(counts)
    )
    lines += ["", "## Timeline (UTC)", "", "| Time | Event | Who | Details |", "|---|---|---|---|"]
    for e in events:
        who = _person(e.actor, names) if e.actor else "bot"
        lines.append(
            f"| {e.at.astimezone(UTC).strftime('%Y-%m-%d %H:%M:%S')} "
            f"| {LABELS.get(e.kind, e.kind)} | {who} | {_said(e.text, names)} |"
        )
    return "\n".join(lines) + "\n"


def _actions_count(counts: dict[str, int]) -> str:
    ran = counts.get(EventKind.ACTION_STARTED, 0)
    if not ran:
        return ""
    failed = counts.get(EventKind.ACTION_FAILED, 0)
    return f" · **Actions:** {ran} run, {failed} failed or in doubt"
