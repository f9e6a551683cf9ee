"""``/incident timeline`` as people read it in Slack: grouped by day (a day
heading), each event a time in the reader's own zone, what happened in words,
and who as a mention Slack renders. Pure, over :class:`EventView`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from bot.incidents.blocks import EventView, IncidentView, drilled
from bot.slack.blockkit import Payload, fit_blocks, section, truncate
from bot.slack.mrkdwn import escape, split_mrkdwn
from bot.store.states import EventKind
from bot.timefmt import plural

# What happened, in words; the event's own text follows where it adds something.
WORDS: dict[str, tuple[str, str]] = {
    EventKind.INCIDENT_OPENED: ("🚨", "Incident declared"),
    EventKind.INCIDENT_ACKNOWLEDGED: ("👀", "Acknowledged"),
    EventKind.INCIDENT_RESOLVED: ("✔️", "Incident resolved"),
    EventKind.PRIORITY_CHANGED: ("🔺", "Priority changed"),
    EventKind.ROLE_ASSIGNED: ("🧑‍✈️", "Role assigned"),
    EventKind.STATUS_UPDATE: ("📣", "Status update"),
    EventKind.NOTE: ("📝", "Note"),
    EventKind.RUNBOOK_STARTED: ("▶️", "Runbook started"),
    EventKind.RUNBOOK_COMPLETED: ("🏁", "Runbook completed"),
    EventKind.RUNBOOK_ABORTED: ("🛑", "Runbook aborted"),
    EventKind.STEP_APPROVED: ("✅", "Step approved"),
    EventKind.STEP_SKIPPED: ("⏭️", "Step skipped"),
    EventKind.STEP_APPROVAL_PARTIAL: ("☑️", "Step partly approved"),
    EventKind.REMINDER_SENT: ("⏰", "Status update reminder"),
    EventKind.REMINDER_JOINED: ("⏰", "Another reminder window passed"),
    EventKind.REMINDER_SNOOZED: ("😴", "Reminders snoozed"),
    EventKind.RESPONSE_TARGET_MISSED: ("🚨", "Response target missed"),
    EventKind.RTO_WARNING: ("⏳", "RTO warning"),
    EventKind.RTO_BREACHED: ("🔥", "RTO breached"),
    EventKind.VALIDATION_RECORDED: ("🧪", "Drill result recorded"),
    EventKind.ALERT_FIRED: ("🔥", "Alert fired"),
    EventKind.ALERT_RESOLVED: ("🟢", "Alert resolved"),
    EventKind.ALERT_ACKNOWLEDGED: ("👀", "Alert acknowledged"),
    EventKind.ACTION_STARTED: ("⚙️", "Action started"),
    EventKind.ACTION_SUCCEEDED: ("✅", "Action succeeded"),
    EventKind.ACTION_FAILED: ("❌", "Action failed"),
    EventKind.FOLLOWUP_ADDED: ("📌", "Follow-up added"),
    EventKind.FOLLOWUP_DONE: ("☑️", "Follow-up done"),
    EventKind.FOLLOWUP_OVERDUE: ("⚠️", "Follow-up overdue"),
    EventKind.POSTMORTEM_DONE: ("📄", "Postmortem done"),
    EventKind.POSTMORTEM_OVERDUE: ("⚠️", "Postmortem overdue"),
}
# Kinds whose stored text only restates the words above.
_TEXT_SAID = frozenset({EventKind.INCIDENT_ACKNOWLEDGED, EventKind.INCIDENT_RESOLVED})


def _time(at: datetime) -> str:
    fallback = at.astimezone(UTC).strftime("%H:%M:%S UTC")
    return f"<!date^{int(at.timestamp())}^{{time_secs}}|{fallback}>"


def _day(at: datetime) -> str:
    fallback = at.astimezone(UTC).strftime("%A %d %B %Y")
    return f"*<!date^{int(at.timestamp())}^{{date_long_pretty}}|{fallback}>*"


def _mention(user: object) -> str:
    return f"<@{escape(str(user))}>"


def describe(event: EventView) -> str:
    """``Commander assigned: <@U04DANA> · by <@U0BEA>`` — what happened, in words."""
    icon, words = WORDS.get(event.kind, ("•", event.kind.replace("_", " ").capitalize()))
    data = event.data or {}
    by = f" · by {_mention(event.actor)}" if event.actor else ""
    if event.kind == EventKind.ROLE_ASSIGNED and data.get("user"):
        role = escape(str(data.get("role") or "role")).capitalize()
        was = f" (was {_mention(data['previous'])})" if data.get("previous") else ""
        return f"{icon} {role} assigned: {_mention(data['user'])}{was}{by}"
    if event.kind == EventKind.INCIDENT_ACKNOWLEDGED and event.actor:
        return f"{icon} Acknowledged by {_mention(event.actor)}"
    if event.kind == EventKind.INCIDENT_RESOLVED and event.actor:
        return f"{icon} Incident resolved by {_mention(event.actor)}"
    reason = data.get("reason") if event.kind == EventKind.STEP_SKIPPED else None
    if reason:  # kept whole, however long the step's text before it
        said = event.text.removesuffix(f" — skipped because: {reason}")
        because = f" — because “{escape(str(reason))}”"
        return f"{icon} {words}: {escape(truncate(said, 400))}{because}{by}"
    detail = "" if event.kind in _TEXT_SAID else escape(truncate(event.text, 500))
    return f"{icon} {words}" + (f": {detail}" if detail else "") + by


def timeline_lines(events: Sequence[EventView]) -> list[str]:
    """A heading per day (UTC), then one line per event: its time, what happened."""
    lines: list[str] = []
    day = None
    for event in events:
        today = event.at.astimezone(UTC).date()
        if today != day:
            lines += ([""] if lines else []) + [_day(event.at)]
            day = today
        lines.append(f"{_time(event.at)}  {describe(event)}")
    return lines


def timeline_blocks(incident: IncidentView, events: Sequence[EventView]) -> Payload:
    """The timeline as an ephemeral message; the newest events if it is long."""
    lines = timeline_lines(events)
    chunks = split_mrkdwn("\n".join(lines), 2900) if lines else ["_No events._"]
    head = section(
        drilled(
            f"*Timeline of {incident.key_and_level}* — {escape(truncate(incident.title, 200))}",
            incident.drill,
        )
    )
    # A long timeline shows its latest events, within one message's limits.
    export = f"`runbook-bot timeline {incident.key}`"
    note = f"_Showing the latest events; export them all with_ {export} _on the bot's host._"
    blocks = fit_blocks(
        [head, *(section(c) for c in chunks)], keep_head=1, keep_tail=0, latest=True, note=note
    )
    text = drilled(f"Timeline of {incident.key} ({plural(len(events), 'event')})", incident.drill)
    return {"text": text, "blocks": blocks}
