"""Block Kit for the incident's clocks and people (SPEC §7): the response-target
escalation, the RTO warning and breach, acknowledgement, priority and role
changes. Pure functions over plain data; user text escaped."""

from __future__ import annotations

from datetime import datetime

from bot.incidents.blocks import IncidentView, drilled, roles_line, rto_verdict
from bot.incidents.priority import mention, span
from bot.slack.blockkit import Payload, context, section, slack_date, truncate
from bot.slack.mrkdwn import escape
from bot.timefmt import format_duration

__all__ = [
    "ack_reply",
    "acknowledged_line",
    "already_acknowledged",
    "priority_changed_message",
    "response_target_message",
    "role_assigned_message",
    "roles_line",
    "rto_breach_message",
    "rto_verdict",
    "rto_warning_message",
]


def level_tag(priority: str | None) -> str:
    return f" ({escape(priority)})" if priority else ""


def response_target_message(
    incident: IncidentView, target_seconds: float, contact: str | None
) -> Payload:
    who = mention(contact)
    line = (
        f"🚨 *{incident.key}*{level_tag(incident.priority)} missed its response target of "
        f"{span(target_seconds)}: nobody has acknowledged it yet."
        + (f" {who}, please take a look." if who else "")
        + f"\n_{escape(truncate(incident.title, 300))}_"
    )
    hint = f"Acknowledge with `/incident ack {incident.key}` or assign a commander."
    text = (
        f"{incident.key} ({incident.priority}) missed its response target of "
        f"{span(target_seconds)}: not acknowledged" + (f" {who}" if who else "")
    )
    return {
        "text": drilled(text, incident.drill),
        "blocks": [section(drilled(line, incident.drill)), context(hint)],
    }


def rto_warning_message(
    incident_key: str,
    runbook_id: str,
    rto_seconds: float,
    deadline: datetime,
    now: datetime,
    *,
    drill: bool = False,
) -> Payload:
    left = format_duration(deadline - now)
    line = (
        f"⏳ *RTO warning* — {incident_key} · {escape(runbook_id)}: 80 % of the "
        f"{span(rto_seconds)} RTO is used; {left} left (deadline {slack_date(deadline)})."
    )
    text = f"RTO warning for {incident_key} {runbook_id}: {left} left of {span(rto_seconds)}"
    return {"text": drilled(text, drill), "blocks": [section(drilled(line, drill))]}


def rto_breach_message(
    incident_key: str,
    priority: str | None,
    runbook_id: str,
    rto_seconds: float,
    started_at: datetime,
    contact: str | None,
    *,
    drill: bool = False,
) -> Payload:
    who = mention(contact)
    line = (
        f"🔥 *RTO breached* — {incident_key}{level_tag(priority)} · {escape(runbook_id)} "
        f"is still running {span(rto_seconds)} after it started {slack_date(started_at)}."
        + (f" {who}" if who else "")
    )
    text = f"RTO breached for {incident_key}: {runbook_id} still running after {span(rto_seconds)}"
    if who:
        text += f" {who}"
    return {"text": drilled(text, drill), "blocks": [section(drilled(line, drill))]}


def acknowledged_line(incident: IncidentView) -> str:
    if not incident.acknowledged_by or incident.acknowledged_at is None:
        return "not acknowledged yet"
    took = format_duration(incident.acknowledged_at - incident.opened_at)
    return f"acknowledged by <@{escape(incident.acknowledged_by)}> after {took}"


def ack_reply(incident: IncidentView, target_seconds: float | None) -> str:
    assert incident.acknowledged_at is not None
    took = incident.acknowledged_at - incident.opened_at
    against = ""
    if target_seconds is not None:
        met = took.total_seconds() <= target_seconds
        against = f" ({'within' if met else 'past'} its {span(target_seconds)} response target)"
    return f"✅ You acknowledged {incident.key} {format_duration(took)} after it opened{against}."


def already_acknowledged(incident: IncidentView) -> str:
    when = slack_date(incident.acknowledged_at) if incident.acknowledged_at else ""
    return (
        f"{incident.key} was already acknowledged by <@{escape(incident.acknowledged_by or '')}>"
        f" {when}. Nothing changed."
    )


def priority_changed_message(incident: IncidentView, by: str, old: str) -> Payload:
    line = (
        f"🔺 *{incident.key}* priority changed from *{escape(old)}* to "
        f"*{escape(incident.priority or '')}* by <@{escape(by)}>."
    )
    return {
        "text": drilled(
            f"{incident.key} priority changed from {old} to {incident.priority}", incident.drill
        ),
        "blocks": [section(drilled(line, incident.drill))],
    }


def role_assigned_message(incident: IncidentView, by: str, role: str, user: str) -> Payload:
    line = f"🧑‍✈️ <@{escape(user)}> is now the *{escape(role)}* of {incident.key} (set by <@{by}>)."
    text = drilled(f"{incident.key}: <@{user}> is now the {role}", incident.drill)
    return {"text": text, "blocks": [section(drilled(line, incident.drill))]}
