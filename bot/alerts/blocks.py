"""The alert message's Block Kit (pure, over plain data: :class:`AlertView`).

One message per alert firing: its name, ``severity`` label, summary and the
runbook found for it, with **Start runbook** and **Acknowledge** — or, when
no runbook matches, a line saying so and **Declare incident**. The same
renderer draws every later state of that message (acknowledged, incident
opened, resolved), so each ``chat.update`` is the whole message again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.slack.blockkit import Payload, button, context, header, section, slack_date, truncate
from bot.slack.mrkdwn import escape

START = "alert_start_runbook"
ACKNOWLEDGE = "alert_acknowledge"
DECLARE = "alert_declare_incident"
METADATA_EVENT = "runbook_bot_alert"


@dataclass(frozen=True, slots=True)
class AlertView:
    id: int
    fingerprint: str
    name: str
    status: str  # firing | resolved
    severity: str | None
    summary: str | None
    description: str | None
    starts_at: datetime
    runbook_id: str | None = None
    runbook_title: str | None = None
    runbook_url: str | None = None
    generator_url: str | None = None
    priority: str | None = None  # what Start runbook / Declare incident would open
    ends_at: datetime | None = None
    incident_key: str | None = None
    incident_opened_by: str | None = None
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None

    @property
    def resolved(self) -> bool:
        return self.status == "resolved"

    @property
    def title(self) -> str:
        """An incident opened from this alert is named after it."""
        return f"{self.name}: {self.summary}" if self.summary else self.name


def button_value(alert: AlertView) -> str:
    """``<alert id>:<fingerprint>``: the click is ordered with the alert's notifications."""
    return f"{alert.id}:{alert.fingerprint}"


def parse_button_value(value: str) -> tuple[int, str] | None:
    raw_id, sep, fingerprint = value.partition(":")
    if not sep or not raw_id.isdigit() or not fingerprint:
        return None
    return int(raw_id), fingerprint


def _link(url: str | None, label: str) -> str | None:
    """A Slack link, only for plain http(s) URLs that cannot break its syntax."""
    if not url or not url.startswith(("http://", "https://")):
        return None
    if any(c in url for c in "<>| \n"):
        return None
    return f"<{url.replace('&', '&amp;')}|{label}>"


def notification_text(alert: AlertView) -> str:
    """The message's ``text``: alert name, severity and runbook ID (SPEC §10)."""
    state = "resolved" if alert.resolved else "firing"
    runbook = f"runbook {alert.runbook_id}" if alert.runbook_id else "no runbook found"
    line = f"Alert {state}: {alert.name} (severity: {alert.severity or 'none'}) — {runbook}"
    return escape(truncate(line, 2000))


def alert_message(alert: AlertView) -> Payload:
    icon = "✅" if alert.resolved else "🔥"
    state = "Resolved" if alert.resolved else "Firing"
    blocks: list[dict[str, Any]] = [header(f"{icon} {state}: {alert.name}")]
    facts = [f"*Severity:* {escape(alert.severity or 'none')}"]
    if alert.runbook_id:
        runbook = f"*Runbook:* `{escape(alert.runbook_id)}`"
        if alert.runbook_title:
            runbook += f" {escape(truncate(alert.runbook_title, 200))}"
        facts.append(runbook)
    else:
        facts.append("*Runbook:* none found")
    body = " · ".join(facts)
    if alert.summary:
        body += f"\n{escape(truncate(alert.summary, 1200))}"
    if alert.description and alert.description != alert.summary:
        body += f"\n_{escape(truncate(alert.description, 1200))}_"
    blocks.append(section(body))
    if not alert.runbook_id:
        looked = "its `runbook_url`'s last path segment and its name"
        blocks.append(
            context(
                f"No runbook matches {looked} (case, `-`, `_` and `.md` ignored). "
                "Declare an incident to track it."
            )
        )
    blocks.append(context(_details(alert)))
    states = _states(alert)
    if states:
        blocks.append(section("\n".join(states)))
    actions = _buttons(alert)
    if actions:
        blocks.append({"type": "actions", "block_id": "alert_actions", "elements": actions})
    return {
        "text": notification_text(alert),
        "blocks": blocks,
        "metadata": {
            "event_type": METADATA_EVENT,
            "event_payload": {"alert_id": alert.id, "fingerprint": alert.fingerprint},
        },
    }


def _details(alert: AlertView) -> str:
    parts = [f"Firing since {slack_date(alert.starts_at)}"]
    if alert.priority:
        parts.append(f"priority *{escape(alert.priority)}*")
    parts.append(f"fingerprint `{escape(alert.fingerprint)}`")
    for url, label in ((alert.runbook_url, "runbook page"), (alert.generator_url, "source")):
        link = _link(url, label)
        if link:
            parts.append(link)
    return " · ".join(parts)


def _states(alert: AlertView) -> list[str]:
    lines = []
    if alert.incident_key:
        by = f" by <@{escape(alert.incident_opened_by)}>" if alert.incident_opened_by else ""
        lines.append(f"🚨 *{escape(alert.incident_key)}* opened from this alert{by}")
    if alert.acknowledged_by:
        when = f" {slack_date(alert.acknowledged_at)}" if alert.acknowledged_at else ""
        lines.append(f"👀 Acknowledged by <@{escape(alert.acknowledged_by)}>{when}")
    if alert.resolved:
        when = f" {slack_date(alert.ends_at)}" if alert.ends_at else ""
        lines.append(f"✅ *Resolved*{when}")
    return lines


def _buttons(alert: AlertView) -> list[dict[str, Any]]:
    if alert.resolved:
        return []
    value = button_value(alert)
    out = []
    if alert.incident_key is None:
        if alert.runbook_id:
            out.append(button("Start runbook", START, value, style="primary"))
        else:
            out.append(button("Declare incident", DECLARE, value, style="primary"))
    if alert.acknowledged_by is None:
        out.append(button("Acknowledge", ACKNOWLEDGE, value))
    return out
