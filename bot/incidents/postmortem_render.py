"""A postmortem draft in words: Markdown (reads well on a Git host), JSON, and
the short summary Slack shows. Pure: the loader (``bot/incidents/postmortem.py``)
hands in plain rows."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.incidents.followup_text import FollowupView
from bot.incidents.timeline_render import LABELS, EventRow
from bot.slack.mrkdwn import escape
from bot.store.states import EventKind
from bot.timefmt import format_duration, plural

ESCALATIONS = (
    EventKind.RESPONSE_TARGET_MISSED,
    EventKind.PRIORITY_CHANGED,
    EventKind.RTO_WARNING,
    EventKind.RTO_BREACHED,
)
STEPS = (EventKind.STEP_APPROVED, EventKind.STEP_SKIPPED)


@dataclass(frozen=True, slots=True)
class Head:
    key: str
    title: str
    priority: str
    drill: bool
    roles: dict[str, str]
    opened_at: datetime
    opened_by: str | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    target_seconds: float | None


@dataclass(frozen=True, slots=True)
class RunRow:
    id: int
    runbook_id: str
    title: str
    state: str
    started_by: str
    started_at: datetime
    ended_at: datetime | None
    rto_seconds: float | None


@dataclass(frozen=True, slots=True)
class Feedback:
    """A step skipped here, and how often that runbook's recent runs skipped it."""

    runbook_id: str
    step_index: int
    step: str
    skipped_by: str | None
    skipped_in: int
    of_runs: int
    reason: str | None = None  # why it was skipped, when the skipper said


@dataclass(slots=True)
class Draft:
    head: Head
    events: list[EventRow]
    runs: list[RunRow]
    followups: list[FollowupView]
    feedback: list[Feedback]
    handles: dict[str, str] = field(default_factory=dict)


# Markdown's markup characters, each taken literally: a translate table (a regex
# substitution per event was most of the render time of a long timeline).
_ESCAPES = str.maketrans({c: "\\" + c for c in "\\`*_[]<>#|~"})


def _md(text: str) -> str:
    """User text on one Markdown line, its markup characters taken literally."""
    return " ".join(text.split()).translate(_ESCAPES)


_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")


def _said(draft: Draft, text: str) -> str:
    """Recorded text with its mentions as handles (``@ana``), then escaped."""
    if "<@" in text:
        text = _MENTION.sub(lambda m: "@" + draft.handles.get(m.group(1), m.group(1)), text)
    return _md(text)


# A runbook step's own Markdown: `code` spans and **bold**, kept as such.
_RUNBOOK_MARKUP = re.compile(r"`([^`\n]+)`|\*\*([^*\n]+?)\*\*")


def _step(text: str) -> str:
    """A step's text (from a runbook in git) with its code spans and bold kept;
    everything else escaped as ``_md`` does. A code span's content is literal
    Markdown, but a pipe still ends a table cell: it is escaped there too."""
    out, last = [], 0
    flat = " ".join(text.split())
    for m in _RUNBOOK_MARKUP.finditer(flat):
        out.append(flat[last : m.start()].translate(_ESCAPES))
        code, bold = m.group(1), m.group(2)
        out.append(
            "`" + code.replace("|", "\\|") + "`"
            if code is not None
            else "**" + bold.translate(_ESCAPES) + "**"
        )
        last = m.end()
    out.append(flat[last:].translate(_ESCAPES))
    return "".join(out)


def _stamp(at: datetime) -> str:
    """``2026-03-04 10:00:00`` in UTC (isoformat: strftime was a tenth of a
    long draft's render time)."""
    return at.astimezone(UTC).isoformat(" ", "seconds")[:19]


def _at(at: datetime) -> str:
    return _stamp(at) + " UTC"


def _who(draft: Draft, user: str | None) -> str:
    if not user:
        return "the bot"
    return "@" + _md(draft.handles.get(user, user))


def ack_line(head: Head) -> str:
    if head.acknowledged_at is None:
        return "never acknowledged"
    took = (head.acknowledged_at - head.opened_at).total_seconds()
    text = f"after {format_duration(head.acknowledged_at - head.opened_at)}"
    if head.target_seconds:
        met = "met" if took <= head.target_seconds else "missed"
        target = format_duration(timedelta(seconds=head.target_seconds))
        text += f" (target {target}: {met})"
    return text


def rto_line(run: RunRow) -> str | None:
    if not run.rto_seconds:
        return None
    took = ((run.ended_at or run.started_at) - run.started_at).total_seconds()
    rto = format_duration(timedelta(seconds=run.rto_seconds))
    if run.ended_at is None:
        return f"RTO {rto}: still running"
    return f"RTO {rto}: {'met' if took <= run.rto_seconds else 'missed'}"


def _summary_table(draft: Draft) -> list[str]:
    h = draft.head
    roles = ", ".join(f"{_md(r)} {_who(draft, u)}" for r, u in sorted(h.roles.items())) or "none"
    resolved = "still open"
    if h.resolved_at is not None:
        took = format_duration(h.resolved_at - h.opened_at)
        resolved = f"{_at(h.resolved_at)} by {_who(draft, h.resolved_by)}, after {took}"
    ack = ack_line(h)
    if h.acknowledged_at is not None:
        ack = f"{_at(h.acknowledged_at)} by {_who(draft, h.acknowledged_by)}, {ack}"
    rows = [
        ("Priority", _md(h.priority) + (" (drill)" if h.drill else "")),
        ("Roles", roles),
        ("Declared", f"{_at(h.opened_at)} by {_who(draft, h.opened_by)}"),
        ("Acknowledged", ack),
        ("Resolved", resolved),
    ]
    return ["| | |", "|---|---|", *(f"| **{k}** | {v} |" for k, v in rows)]


def skip_reason(e: EventRow) -> str | None:
    """Why a skipped step was skipped, when the skipper said."""
    reason = (e.data or {}).get("reason") if e.kind == EventKind.STEP_SKIPPED else None
    return str(reason) if reason else None


def step_text(e: EventRow) -> str:
    """A step event's text without the skip reason its timeline line ends with."""
    reason = skip_reason(e)
    return e.text.removesuffix(f" — skipped because: {reason}") if reason else e.text


def _runs(draft: Draft) -> list[str]:
    out = ["## Runbooks run", ""]
    if not draft.runs:
        return [*out, "No runbook was run.", ""]
    steps: dict[int | None, list[EventRow]] = {}
    for e in draft.events:  # once, not once per run
        if e.kind in STEPS:
            steps.setdefault(e.run_id, []).append(e)
    for run in draft.runs:
        out += [f"### {_md(run.runbook_id)}: {_md(run.title)} ({run.state})", ""]
        out.append(f"- Started by {_who(draft, run.started_by)} at {_at(run.started_at)}")
        if (rto := rto_line(run)) is not None:
            out.append(f"- {rto}")
        for e in steps.get(run.id, []):
            verb = "approved" if e.kind == EventKind.STEP_APPROVED else "**skipped**"
            reason = skip_reason(e)
            said = f" (“{_md(reason[:300])}”)" if reason else ""
            text = _step(step_text(e)[:300])
            out.append(f"- {text} — {verb} by {_who(draft, e.actor)}{said}")
        out.append("")
    return out


def _event_list(draft: Draft, title: str, kinds: tuple[str, ...], empty: str) -> list[str]:
    chosen = [e for e in draft.events if e.kind in kinds]
    lines = [
        f"- {_at(e.at)} · {_who(draft, e.actor)}: {_said(draft, e.text[:500])}" for e in chosen
    ]
    return [f"## {title}", "", *(lines or [empty]), ""]


def _actions(draft: Draft) -> list[str]:
    actions = [e for e in draft.events if e.kind.startswith("action_")]
    if not actions:
        return []
    lines = [f"- {_at(e.at)} · {_md(e.kind)} · {_md(e.text[:500])}" for e in actions]
    return ["## Actions run", "", *lines, ""]


def _timeline(draft: Draft) -> list[str]:
    out = ["## Timeline", "", "| Time (UTC) | Event | Who | Details |", "|---|---|---|---|"]
    for e in draft.events:
        label = LABELS.get(e.kind, e.kind.replace("_", " ").capitalize())
        when = _stamp(e.at)
        said = _step(e.text[:300]) if e.kind in STEPS else _said(draft, e.text[:300])
        out.append(f"| {when} | {label} | {_who(draft, e.actor)} | {said} |")
    return [*out, ""]


def _followups(draft: Draft, now: datetime) -> list[str]:
    lines = []
    for f in draft.followups:
        state = "done" if f.done_at else ("**overdue**" if f.overdue(now) else "open")
        due = f", due {_at(f.due_at)}" if f.due_at else ""
        lines.append(f"- #{f.id} {_md(f.text)} — {_who(draft, f.owner)}{due}, {state}")
    return ["## Follow-ups", "", *(lines or ["None recorded yet."]), ""]


def _feedback(draft: Draft) -> list[str]:
    lines = [
        f"- {_md(f.runbook_id)} step {f.step_index + 1} ({_step(f.step[:200])}): skipped here by "
        f"{_who(draft, f.skipped_by)}"
        + (f" (“{_md(f.reason[:300])}”)" if f.reason else "")
        + f"; skipped in {f.skipped_in} of its last {f.of_runs} runs"
        for f in draft.feedback
    ]
    return ["## Runbook feedback", "", *(lines or ["No step was skipped."]), ""]


def render_markdown(draft: Draft, now: datetime) -> str:
    h = draft.head
    out = [f"# Postmortem: {h.key} — {_md(h.title)}", ""]
    out += [f"*Draft written from the incident's record on {_at(now)}. Edit freely.*", ""]
    out += [*_summary_table(draft), ""]
    out += _event_list(draft, "Escalations", ESCALATIONS, "None.")
    out += _runs(draft) + _actions(draft)
    out += _event_list(draft, "Status updates", (EventKind.STATUS_UPDATE,), "None.")
    out += _timeline(draft) + _followups(draft, now) + _feedback(draft)
    for heading in ("Root cause", "What went well", "What went badly"):
        out += [f"## {heading}", ""]
    return "\n".join(out).rstrip("\n") + "\n"


def render_json(draft: Draft, now: datetime) -> str:
    h = draft.head

    def iso(at: datetime | None) -> str | None:
        return at.astimezone(UTC).isoformat() if at else None

    body: dict[str, Any] = {
        "incident": h.key,
        "title": h.title,
        "priority": h.priority,
        "drill": h.drill,
        "roles": h.roles,
        "declared": {"at": iso(h.opened_at), "by": h.opened_by},
        "acknowledged": {"at": iso(h.acknowledged_at), "by": h.acknowledged_by},
        "resolved": {"at": iso(h.resolved_at), "by": h.resolved_by},
        "target_seconds": h.target_seconds,
        "runs": [
            {
                "runbook_id": r.runbook_id,
                "title": r.title,
                "state": r.state,
                "started_at": iso(r.started_at),
                "ended_at": iso(r.ended_at),
                "rto": rto_line(r),
                "steps": [
                    {"decision": e.kind, "by": e.actor, "text": e.text, "at": iso(e.at)}
                    for e in draft.events
                    if e.run_id == r.id and e.kind in STEPS
                ],
            }
            for r in draft.runs
        ],
        "events": [
            {"at": iso(e.at), "kind": e.kind, "actor": e.actor, "text": e.text}
            for e in draft.events
        ],
        "followups": [
            {
                "id": f.id,
                "text": f.text,
                "owner": f.owner,
                "due": iso(f.due_at),
                "done": f.done_at is not None,
            }
            for f in draft.followups
        ],
        "feedback": [
            {
                "runbook_id": f.runbook_id,
                "step_index": f.step_index,
                "step": f.step,
                "skipped_in": f.skipped_in,
                "of_runs": f.of_runs,
                "reason": f.reason,
            }
            for f in draft.feedback
        ],
        "handles": draft.handles,
    }
    return json.dumps(body, ensure_ascii=False, indent=1) + "\n"


def summary(draft: Draft, now: datetime) -> str:
    """What ``/incident postmortem`` answers: the draft in a few lines (Slack mrkdwn)."""
    h = draft.head
    counts: dict[str, int] = {}
    for e in draft.events:
        counts[e.kind] = counts.get(e.kind, 0) + 1
    open_ = sum(1 for f in draft.followups if f.done_at is None)
    lines = [
        f"*Postmortem draft for {h.key}* — acknowledged: {ack_line(h)}",
        f"• {plural(len(draft.runs), 'runbook run')}: "
        f"{plural(counts.get(EventKind.STEP_APPROVED, 0), 'step')} "
        f"approved, {counts.get(EventKind.STEP_SKIPPED, 0)} skipped",
        f"• {plural(counts.get(EventKind.STATUS_UPDATE, 0), 'status update')}, "
        f"{plural(sum(counts.get(k, 0) for k in ESCALATIONS), 'escalation')}",
        f"• {plural(len(draft.followups), 'follow-up')}, {open_} open",
    ]
    if h.resolved_at is not None:
        lines.insert(1, f"• Resolved after {format_duration(h.resolved_at - h.opened_at)}")
    for f in draft.feedback[:5]:
        lines.append(
            f"• Runbook feedback: {escape(f.runbook_id)} step {f.step_index + 1} skipped in "
            f"{f.skipped_in} of its last {f.of_runs} runs"
        )
    lines.append(f"The whole draft: `runbook-bot postmortem {h.key} > {h.key}-postmortem.md`")
    return "\n".join(lines)
