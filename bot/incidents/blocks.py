"""Block Kit for incidents: status updates, reminders, the update modal,
the resolve summary and the timeline. Pure functions over plain data
(:class:`IncidentView`, :class:`EventView`, never ORM rows); user text escaped."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.incidents.action_blocks import incident_actions, state_line
from bot.incidents.priority import span
from bot.slack.blockkit import (
    MAX_BLOCKS,
    Payload,
    button,
    cap_blocks,
    context,
    section,
    slack_date,
    truncate,
)
from bot.slack.buttons import SnoozeButton
from bot.slack.mrkdwn import escape, split_mrkdwn
from bot.timefmt import format_duration, plural

REMINDER_UPDATE = "reminder_update"
REMINDER_SNOOZE = "reminder_snooze"
UPDATE_MODAL = "status_update_modal"
SNOOZE_MINUTES = (15, 30, 60)
DRILL = "🧪 DRILL"


def drilled(text: str, drill: bool) -> str:
    """``text`` marked as being about a drill (every message's ``text`` says so)."""
    return f"{DRILL} · {text}" if drill else text


def drill_banner(environment: str | None) -> str:
    env = escape(environment or "staging")
    return f"{DRILL} in `{env}` — a rehearsal, not a real incident"


@dataclass(frozen=True, slots=True)
class IncidentView:
    """What the renderers know about an incident."""

    id: int
    title: str
    opened_at: datetime
    opened_by: str | None = ""
    state: str = "open"
    last_update_at: datetime | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    priority: str | None = None
    roles: dict[str, str] = field(default_factory=dict)
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    drill: bool = False
    drill_environment: str | None = None

    @property
    def key(self) -> str:
        return f"INC-{self.id}"

    @property
    def key_and_level(self) -> str:
        """``INC-4 (critical)``, or ``INC-4`` without a priority."""
        return f"{self.key} ({escape(self.priority)})" if self.priority else self.key


@dataclass(frozen=True, slots=True)
class EventView:
    """One timeline event, as the renderers show it."""

    at: datetime
    kind: str
    actor: str | None
    text: str
    data: dict[str, Any] = field(default_factory=dict)


def ago(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 1:
        return f"{max(0, int(delta.total_seconds()))}s"
    if minutes < 120:
        return f"{minutes} min"
    return f"{minutes // 60}h {minutes % 60:02d}m"


def user_text_sections(text: str, limit_blocks: int = 10) -> list[dict[str, Any]]:
    """Free text typed by a person: escaped (no mentions, no links), split to fit."""
    pieces = split_mrkdwn(escape(text), 2900) or [""]
    blocks = [section(p) for p in pieces[:limit_blocks] if p.strip()]
    if len(pieces) > limit_blocks:
        blocks.append(context("_…text cut to fit one Slack message._"))
    return blocks


def status_update_message(incident: IncidentView, user_id: str, text: str, at: datetime) -> Payload:
    head = f"📣 *Status update — {incident.key}* by <@{escape(user_id)}>"
    blocks = [section(drilled(head, incident.drill))]
    blocks += user_text_sections(text, MAX_BLOCKS - 2)
    blocks.append(context(f"Posted {slack_date(at)} · next reminder resets"))
    plain = drilled(f"Status update for {incident.key}: {escape(text)}", incident.drill)
    return {"text": truncate(plain, 3000), "blocks": cap_blocks(blocks)}


def reminder_message(incident: IncidentView, now: datetime) -> Payload:
    since = incident.last_update_at or incident.opened_at
    what = "the last status update" if incident.last_update_at else "the incident opened"
    level = f" · priority *{escape(incident.priority)}*" if incident.priority else ""
    line = (
        f"⏰ *{incident.key}* — time for a status update: "
        f"{ago(now - since)} since {what}{level}.\n"
        f"_{escape(truncate(incident.title, 300))}_"
    )
    options = [
        {
            "text": {"type": "plain_text", "text": f"Snooze {m} min"},
            "value": SnoozeButton(incident.id, m).to_json(),
        }
        for m in SNOOZE_MINUTES
    ]
    blocks: list[dict[str, Any]] = [
        section(drilled(line, incident.drill)),
        {
            "type": "actions",
            "block_id": f"reminder:{incident.id}",
            "elements": [
                button("📣 Post update", REMINDER_UPDATE, str(incident.id), "primary"),
                {
                    "type": "static_select",
                    "action_id": REMINDER_SNOOZE,
                    "placeholder": {"type": "plain_text", "text": "Snooze…"},
                    "options": options,
                },
            ],
        },
    ]
    text = f"{incident.key}: time for a status update ({ago(now - since)} since {what})"
    if incident.priority:
        text += f" · priority {incident.priority}"
    return {"text": drilled(text, incident.drill), "blocks": blocks}


def snoozed_message(incident: IncidentView, user_id: str, minutes: int, until: datetime) -> Payload:
    line = (
        f"😴 Reminders for *{incident.key}* snoozed {minutes} min by <@{escape(user_id)}> "
        f"— next {slack_date(until, '{time}')}."
    )
    text = drilled(f"{incident.key} reminders snoozed {minutes} min", incident.drill)
    return {"text": text, "blocks": [section(drilled(line, incident.drill))]}


def update_modal(incident: IncidentView) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": UPDATE_MODAL,
        "private_metadata": str(incident.id),
        "title": {"type": "plain_text", "text": truncate(f"Update {incident.key}", 24)},
        "submit": {"type": "plain_text", "text": "Post update"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            context(escape(truncate(incident.title, 2000))),
            {
                "type": "input",
                "block_id": "update",
                "label": {"type": "plain_text", "text": "What is the status now?"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": "text",
                    "multiline": True,
                    "max_length": 3000,
                    "placeholder": {
                        "type": "plain_text",
                        "text": "Impact, what we know, what we're doing, next update",
                    },
                },
            },
        ],
    }


def resolve_message(incident: IncidentView, user_id: str, stats: dict[str, Any]) -> Payload:
    assert incident.resolved_at is not None
    duration = format_duration(incident.resolved_at - incident.opened_at)
    first = stats.get("first_decision_at")
    ttfd = format_duration(first - incident.opened_at) if first else "no step decided"
    lines = [
        drilled(
            f"✅ *{incident.key} resolved*{_level(incident)} by <@{escape(user_id)}> "
            f"after {duration}.",
            incident.drill,
        ),
        f"• {ack_summary(incident, stats.get('target_seconds'))}",
        f"• Time to first step decision: {ttfd}",
        f"• Steps: {stats['approved']} approved, {stats['skipped']} skipped"
        f" across {plural(stats['runs'], 'runbook run')}",
    ]
    ended = list(stats.get("ended_runs", []))
    for run in stats.get("rto_runs", []):
        # A run the resolve ended already has its line ("RB-08 ended at step 2
        # of 16 …"): its RTO goes there, not on a second "aborted" line.
        mine = [i for i, line in enumerate(ended) if line.startswith(f"{run['runbook_id']} ")]
        if run["state"] == "aborted" and mine:
            ended[mine[0]] += f" (RTO {span(float(run['rto_seconds']))})"
        else:
            lines.append(f"• {escape(run['runbook_id'])}: {run_rto_line(run)}")
    lines[4:4] = [f"• {escape(line)}" for line in ended]
    lines += [
        f"• Status updates posted: {stats['updates']}",
        f"• Reminder windows without an update: {stats.get('missed_windows', 0)}"
        f" ({plural(stats['reminders'], 'reminder')} sent)",
    ]
    if incident.roles:
        lines.append(f"• Roles: {roles_line(incident.roles)}")
    text = (
        f"{incident.key} resolved after {duration}{_level(incident)}: "
        f"{stats['approved']} approved, "
        f"{stats['skipped']} skipped, {plural(stats['updates'], 'status update')}, "
        f"{plural(stats.get('missed_windows', 0), 'reminder window')} missed"
    )
    blocks = [
        section(truncate("\n".join(lines), 2900)),
        context(
            f"The whole story: `/incident timeline {incident.key}` · to export it, "
            f"`runbook-bot timeline {incident.key}` on the bot's host"
        ),
        section(after_resolve(incident)),
    ]
    return {"text": drilled(text, incident.drill), "blocks": blocks}


def after_resolve(incident: IncidentView) -> str:
    """What is left to do: follow-ups, and (not after a drill) the postmortem."""
    usage = escape(f"/incident followup {incident.key} <text> @owner due 3d")
    lines = [f"Add follow-ups: `{usage}`"]
    if not incident.drill:
        lines.append(f"Postmortem draft: `runbook-bot postmortem {incident.key}`")
    return "\n".join(lines)


def _level(incident: IncidentView) -> str:
    return f" ({escape(incident.priority)})" if incident.priority else ""


def ack_summary(incident: IncidentView, target_seconds: float | None) -> str:
    """``Acknowledged by <@U1> after 4m 05s — within the 15 min target``."""
    target = f"{span(target_seconds)} target" if target_seconds is not None else None
    if incident.acknowledged_at is None:
        if target is None or target_seconds is None:
            return "Never acknowledged"
        ended = incident.resolved_at
        if ended is not None and (ended - incident.opened_at).total_seconds() < target_seconds:
            return f"Never acknowledged — resolved within the {target}"
        return f"Never acknowledged — missed the {target}"
    took = incident.acknowledged_at - incident.opened_at
    line = (
        f"Acknowledged by <@{escape(incident.acknowledged_by or '')}> after {format_duration(took)}"
    )
    if target_seconds is not None:
        met = took.total_seconds() <= target_seconds
        line += f" — {'within' if met else 'missed'} the {target}"
    return line


def run_rto_line(run: dict[str, Any]) -> str:
    """One run's RTO result: finished within it, missed it, or still going."""
    rto = float(run["rto_seconds"])
    if run["state"] == "completed" and run.get("ended_at") is not None:
        return rto_verdict(run["ended_at"] - run["started_at"], rto)
    if run["state"] == "aborted":
        return f"aborted (RTO {span(rto)})"
    return f"still running (RTO {span(rto)})"


def rto_verdict(elapsed: timedelta, rto_seconds: float) -> str:
    """``within RTO (42 of 60 min)`` / ``RTO missed by 12 min``."""
    seconds = elapsed.total_seconds()
    minutes = rto_seconds >= 120
    unit = "min" if minutes else "s"
    scale = 60 if minutes else 1
    if seconds <= rto_seconds:
        used = min(-(-seconds // scale), rto_seconds // scale)  # rounded up, never past the RTO
        return f"within RTO ({int(used)} of {round(rto_seconds / scale)} {unit})"
    over = -(-(seconds - rto_seconds) // scale)
    return f"RTO missed by {int(over)} {unit}"


def roles_line(roles: dict[str, str]) -> str:
    """``Commander <@U1> · Comms <@U2>`` (empty when none)."""
    return " · ".join(
        f"{escape(role.capitalize())} <@{escape(user)}>" for role, user in sorted(roles.items())
    )


def declared_message(incident: IncidentView, user_id: str, running: Sequence[str] = ()) -> Payload:
    """The incident's channel message: while open, its buttons (``running``: a
    line per run still going, named by Resolve's confirmation); then who
    acknowledged, commands and resolved."""
    line = (
        f"🚨 *{incident.key_and_level} declared* by <@{escape(user_id)}>: "
        f"{escape(incident.title)}\n"
        "Run a runbook with `/runbook start <ID> "
        f"{incident.key}`, post updates with `/incident update {incident.key}`."
    )
    blocks = [section(truncate(drilled(line, incident.drill), 2900))]
    commander = incident.roles.get("commander")
    where = state_line(
        acknowledged_by=incident.acknowledged_by,
        acknowledged_at=incident.acknowledged_at,
        commander=commander,
        resolved_by=incident.resolved_by,
        resolved_at=incident.resolved_at,
    )
    if where is not None:
        blocks.append(where)
    if incident.state == "open":
        blocks.append(
            incident_actions(
                incident.id,
                incident.key,
                acknowledged=incident.acknowledged_at is not None,
                commander=commander,
                running=running,
            )
        )
    return {
        "text": drilled(
            f"{incident.key_and_level} declared: {escape(truncate(incident.title, 2000))}",
            incident.drill,
        ),
        "blocks": blocks,
    }
