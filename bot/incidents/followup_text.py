"""Follow-ups in words: parsing ``/incident followup …`` and rendering lists
and notices (Slack mrkdwn, Markdown, JSON). Pure: no I/O."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.slack.mrkdwn import escape
from bot.timefmt import parse_duration

USAGE = (
    "Usage: `/incident followup [INC-<n>] <text> [@owner] [due <90s|15m|3d|HH:MM:SS|YYYY-MM-DD>]`"
)
MAX_TEXT = 1000  # a follow-up is a sentence or two, not a document
MAX_LISTED = 40  # rows in one Slack answer (the CLI lists all)
MAX_REPLY = 3500  # characters: a reply Slack shows whole, without "Show more" pages
_MENTION = re.compile(r"^<@([UW][A-Z0-9]{1,20})(?:\|[^>]*)?>$")
_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_ID = re.compile(r"^#?(\d{1,12})$")


@dataclass(frozen=True, slots=True)
class FollowupSpec:
    text: str
    owner: str | None
    due_at: datetime | None


@dataclass(frozen=True, slots=True)
class FollowupView:
    """What every rendering needs of one follow-up row."""

    id: int
    incident_id: int
    text: str
    owner: str | None
    due_at: datetime | None
    done_at: datetime | None

    def overdue(self, now: datetime) -> bool:
        return self.done_at is None and self.due_at is not None and self.due_at <= now


def view_of(row: Any) -> FollowupView:
    """A ``followups`` row (or any object with its columns) as a view."""
    return FollowupView(
        id=row.id,
        incident_id=row.incident_id,
        text=row.text,
        owner=row.owner,
        due_at=row.due_at,
        done_at=row.done_at,
    )


def parse_due(word: str, now: datetime) -> datetime:
    """A duration from now, or a date: due by the end of that day (UTC)."""
    date = _DATE.match(word)
    if date:
        try:
            year, month, day_of = (int(g) for g in date.groups())
            day = datetime(year, month, day_of, tzinfo=UTC)
        except ValueError:
            raise ValueError(f"`{word}` is not a date") from None
        return day + timedelta(days=1)
    return now + timedelta(seconds=parse_duration(word))


def parse_followup(text: str, now: datetime) -> FollowupSpec | str:
    """``fix the alert <@U1> due 3d`` → a spec; a problem → the message saying so."""
    words = text.split()
    due_at = None
    if len(words) >= 2 and words[-2].lower() == "due":
        try:
            due_at = parse_due(words[-1], now)
        except ValueError as exc:
            return f"{escape(str(exc))}. {USAGE}"
        words = words[:-2]
    owner = None
    if words and (mention := _MENTION.match(words[-1])):
        owner = mention.group(1)
        words = words[:-1]
    body = " ".join(words).strip()
    if not body:
        return f"Say what needs doing. {USAGE}"
    if len(body) > MAX_TEXT:
        return f"That follow-up is {len(body):,} characters; the limit is {MAX_TEXT:,}."
    return FollowupSpec(body, owner, due_at)


def parse_id(word: str) -> int | None:
    match = _ID.match(word.strip())
    return int(match.group(1)) if match else None


def _when(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def added_reply(view: FollowupView) -> str:
    owner = f" — owner <@{view.owner}>" if view.owner else ""
    due = f", due {_when(view.due_at)}" if view.due_at else ""
    return (
        f"✅ Follow-up *#{view.id}* added to INC-{view.incident_id}{owner}{due}. "
        f"When it is done: `/incident followup done {view.id}`"
    )


def line(view: FollowupView, now: datetime) -> str:
    """One follow-up as a Slack list line."""
    state = "done" if view.done_at else ("*overdue*" if view.overdue(now) else "open")
    parts = [f"*#{view.id}* {escape(view.text[:200])}", f"INC-{view.incident_id}", state]
    if view.owner:
        parts.append(f"<@{view.owner}>")
    if view.due_at:
        parts.append(f"due {_when(view.due_at)}")
    return "• " + " · ".join(parts)


def ordered(views: list[FollowupView], now: datetime) -> list[FollowupView]:
    """Overdue first, then open by due time, then done."""
    far = datetime.max.replace(tzinfo=UTC)
    return sorted(
        views,
        key=lambda v: (v.done_at is not None, not v.overdue(now), v.due_at or far, v.id),
    )


def list_reply(views: list[FollowupView], title: str, now: datetime) -> str:
    if not views:
        return f"No follow-ups {title}."
    rows = ordered(views, now)
    text = [f"*Follow-ups {title}* ({len(rows)})"]
    size = len(text[0])
    for v in rows[:MAX_LISTED]:
        entry = line(v, now)
        if size + len(entry) > MAX_REPLY:
            break
        text.append(entry)
        size += len(entry) + 1
    if len(text) - 1 < len(rows):
        more = len(rows) - (len(text) - 1)
        text.append(f"…and {more} more: `runbook-bot followups` lists all.")
    return "\n".join(text)


def overdue_message(view: FollowupView) -> dict[str, Any]:
    owner = f"<@{view.owner}>" if view.owner else "Nobody owns it yet"
    due = _when(view.due_at) if view.due_at else "?"
    text = (
        f"⏰ {owner}: follow-up *#{view.id}* of INC-{view.incident_id} is overdue "
        f"(due {due}): {escape(view.text[:500])}\n"
        f"Done? `/incident followup done {view.id}`"
    )
    return {"text": text}


def as_json(views: list[FollowupView], now: datetime) -> str:
    rows = [
        {
            "id": v.id,
            "incident": f"INC-{v.incident_id}",
            "text": v.text,
            "owner": v.owner,
            "due": v.due_at.isoformat() if v.due_at else None,
            "state": "done" if v.done_at else ("overdue" if v.overdue(now) else "open"),
        }
        for v in ordered(views, now)
    ]
    return json.dumps(rows, indent=2) + "\n"


def as_markdown(views: list[FollowupView], now: datetime, handles: dict[str, str]) -> str:
    """A Markdown list; ``handles``: user ID → handle (people by name)."""
    if not views:
        return "No open follow-ups.\n"
    out = ["# Follow-ups", ""]
    for v in ordered(views, now):
        owner = f"@{handles.get(v.owner, v.owner)}" if v.owner else "no owner"
        due = f", due {_when(v.due_at)}" if v.due_at else ""
        flag = " **(overdue)**" if v.overdue(now) else (" (done)" if v.done_at else "")
        out.append(f"- #{v.id} INC-{v.incident_id}: {_md(v.text)} — {owner}{due}{flag}")
    return "\n".join(out) + "\n"


def _md(text: str) -> str:
    """User text on one Markdown line, its markup characters escaped."""
    flat = " ".join(text.split())
    return re.sub(r"([\\`*_\[\]<>#|])", r"\\\1", flat)
