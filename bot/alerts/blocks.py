"""The alert message's Block Kit (pure, over plain data: :class:`AlertView`).

One message per alert group while any of its alerts fires: the first alert's
name, ``severity`` label, summary and the runbook found for it, with **Start
runbook** and **Acknowledge** — or, when no runbook matches, a line saying so
and **Declare incident**. A group of one looks like a single alert's message
(:func:`alert_message`); a larger one (:func:`group_message`) also counts its
alerts firing and resolved and lists them by what tells them apart. The same
renderer draws every later state of that message (joined, acknowledged,
incident opened, resolved), so each ``chat.update`` is the whole message again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.slack.blockkit import Payload, button, context, header, section, slack_date, truncate
from bot.slack.buttons import AlertButton
from bot.slack.mrkdwn import escape
from bot.store.states import AlertStatus

START = "alert_start_runbook"
ACKNOWLEDGE = "alert_acknowledge"
DECLARE = "alert_declare_incident"
METADATA_EVENT = "runbook_bot_alert"
LIST_LIMIT = 10  # alerts listed in a group message; the rest are counted
LINE_LIMIT = 280  # one listed alert: ten of them stay well inside a section


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
        return self.status == AlertStatus.RESOLVED

    @property
    def title(self) -> str:
        """An incident opened from this alert is named after it."""
        return f"{self.name}: {self.summary}" if self.summary else self.name


def button_value(alert: AlertView) -> str:
    """``<alert id>:<fingerprint>``: the click is ordered with the alert's notifications."""
    return AlertButton(alert.id, alert.fingerprint).to_json()


def parse_button_value(value: str) -> tuple[int, str] | None:
    try:
        button = AlertButton.from_json(value)
    except ValueError:
        return None
    return button.alert_id, button.fingerprint


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
    return _with_buttons(alert, notification_text(alert), blocks)


def _with_buttons(alert: AlertView, text: str, blocks: list[dict[str, Any]]) -> Payload:
    """The message of ``alert`` (one, or a group's lead): its buttons, and the
    metadata its clicks and the in-doubt lookup find it by."""
    actions = _buttons(alert)
    if actions:
        blocks.append({"type": "actions", "block_id": "alert_actions", "elements": actions})
    return {
        "text": text,
        "blocks": blocks,
        "metadata": {
            "event_type": METADATA_EVENT,
            "event_payload": {"alert_id": alert.id, "fingerprint": alert.fingerprint},
        },
    }


def _details(alert: AlertView, since: str = "Firing since", fingerprint: bool = True) -> str:
    parts = [f"{since} {slack_date(alert.starts_at)}"]
    if alert.priority:
        parts.append(f"priority *{escape(alert.priority)}*")
    if fingerprint:
        parts.append(f"fingerprint `{escape(alert.fingerprint)}`")
    for url, label in ((alert.runbook_url, "runbook page"), (alert.generator_url, "source")):
        link = _link(url, label)
        if link:
            parts.append(link)
    return " · ".join(parts)


def _states(alert: AlertView, what: str = "this alert") -> list[str]:
    lines = []
    if alert.incident_key:
        by = f" by <@{escape(alert.incident_opened_by)}>" if alert.incident_opened_by else ""
        lines.append(f"🚨 *{escape(alert.incident_key)}* opened from {what}{by}")
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


# --- group messages ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Member:
    """One alert of a group message."""

    name: str
    fingerprint: str
    labels: Mapping[str, str]
    firing: bool
    summary: str | None = None


@dataclass(frozen=True, slots=True)
class GroupView:
    """A group's message: ``lead`` is its first alert (the buttons act on it),
    with the group's state — firing while any member fires, ``ends_at`` the
    last resolution; ``members`` in arrival order, the lead first."""

    lead: AlertView
    members: Sequence[Member]

    @property
    def firing(self) -> int:
        return sum(1 for m in self.members if m.firing)

    @property
    def resolved(self) -> int:
        return len(self.members) - self.firing

    @property
    def names(self) -> list[str]:
        return list(dict.fromkeys(m.name for m in self.members))


def distinguishing_labels(members: Sequence[Member]) -> list[str]:
    """The labels whose values differ among the members (absent counts as a
    value), ``alertname`` aside: what tells one alert of the group from another."""
    keys = sorted({k for m in members for k in m.labels} - {"alertname"})
    return [k for k in keys if len({m.labels.get(k) for m in members}) > 1]


def _member_line(member: Member, keys: Sequence[str]) -> str:
    icon = "🔥" if member.firing else "✅"
    shown = [
        f"{escape(truncate(k, 40))}=`{escape(truncate(member.labels[k], 80))}`"
        for k in keys
        if member.labels.get(k)
    ]
    if not shown:  # nothing tells them apart but Alertmanager's fingerprint
        shown = [f"fingerprint `{escape(member.fingerprint)}`"]
    return truncate(f"{icon} *{escape(truncate(member.name, 100))}* " + " ".join(shown), LINE_LIMIT)


def _member_list(members: Sequence[Member]) -> str:
    keys = distinguishing_labels(members)
    ordered = [m for m in members if m.firing] + [m for m in members if not m.firing]
    lines = [_member_line(m, keys) for m in ordered[:LIST_LIMIT]]
    rest = ordered[LIST_LIMIT:]
    if rest:
        firing = sum(1 for m in rest if m.firing)
        split = (
            f" ({firing} firing, {len(rest) - firing} resolved)" if 0 < firing < len(rest) else ""
        )
        lines.append(f"…and {len(rest)} more{split}")
    return "\n".join(lines)


def group_text(group: GroupView) -> str:
    """The ``text``: alert name(s), severity, runbook ID and the counts."""
    lead = group.lead
    state = "resolved" if lead.resolved else "firing"
    names = ", ".join(group.names)
    runbook = f"runbook {lead.runbook_id}" if lead.runbook_id else "no runbook found"
    counts = (
        f"all {len(group.members)} resolved"
        if lead.resolved
        else f"{group.firing} firing, {group.resolved} resolved"
    )
    line = f"Alerts {state}: {names} (severity: {lead.severity or 'none'}) — {runbook} — {counts}"
    return escape(truncate(line, 2000))


def group_message(group: GroupView) -> Payload:
    """One message for a group's alerts (a group of one: :func:`alert_message`)."""
    lead = group.lead
    if len(group.members) <= 1:
        return alert_message(lead)
    icon, state = ("✅", "Resolved") if lead.resolved else ("🔥", "Firing")
    blocks: list[dict[str, Any]] = [header(f"{icon} {state}: {', '.join(group.names)}")]
    facts = [f"*Severity:* {escape(lead.severity or 'none')}"]
    if lead.runbook_id:
        runbook = f"*Runbook:* `{escape(lead.runbook_id)}`"
        if lead.runbook_title:
            runbook += f" {escape(truncate(lead.runbook_title, 200))}"
        facts.append(runbook)
    else:
        facts.append("*Runbook:* none found")
    body = " · ".join(facts)
    summaries = {m.summary for m in group.members}
    if len(summaries) == 1 and lead.summary:  # said of every alert, so of the group
        body += f"\n{escape(truncate(lead.summary, 1200))}"
    blocks.append(section(body))
    if lead.resolved:
        when = f" {slack_date(lead.ends_at)}" if lead.ends_at else ""
        count = f"✅ *All {len(group.members)} alerts of this group resolved*{when}"
    else:
        count = f"*{group.firing} firing* · {group.resolved} resolved"
    blocks.append(section(f"{count}\n{_member_list(group.members)}"))
    blocks.append(context(_details(lead, "First fired", fingerprint=False)))
    # The counts above say resolved already.
    states = [line for line in _states(lead, "these alerts") if not line.startswith("✅")]
    if states:
        blocks.append(section("\n".join(states)))
    return _with_buttons(lead, group_text(group), blocks)
