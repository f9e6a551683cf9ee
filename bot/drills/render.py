"""The validation log and the due list as text (pure): the seed's Markdown
table (``004_…``: ``| Date | Validator | Environment | Result | Notes |``),
ready to paste under a runbook's "Validation Log" heading, and JSON.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

from bot.drills.views import DueRunbook, ValidationRow
from bot.timefmt import format_duration, plural

HEADER = "| Date | Validator | Environment | Result | Notes |"
RULE = "|------|-----------|-------------|--------|-------|"


def iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _cell(text: str) -> str:
    """One table cell: pipes escaped, on one line."""
    return " ".join(text.replace("|", "\\|").split())


def result_label(result: str) -> str:
    return "✅ Pass" if result == "pass" else "❌ Fail"


def validator_label(user_id: str, name: str) -> str:
    """``@name (U…)`` for a known handle — readable in git, and still the one
    unambiguous Slack identity; the bare id when the bot never saw a name."""
    return user_id if name == user_id else f"@{name} ({user_id})"


def markdown_row(v: ValidationRow) -> str:
    # Names first: the table is pasted into the runbook's Markdown in git.
    labels = (validator_label(u, n) for u, n in zip(v.validators, v.validator_names, strict=True))
    validators = ", ".join(labels) or "—"
    notes: list[str] = [f"{v.incident_key}, {format_duration(timedelta(seconds=v.duration_s))}"]
    if v.reason:
        notes.append(f"Fail: {v.reason}")
    notes += list(v.notes)
    cells = (
        v.at.astimezone(UTC).date().isoformat(),
        validators,
        v.environment.capitalize(),
        result_label(v.result),
        " · ".join(notes),
    )
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


def render_markdown(rows: Sequence[ValidationRow], titles: Mapping[str, str]) -> str:
    """A "Validation Log" table per runbook (in the order their newest rows come)."""
    if not rows:
        return "_No validations recorded yet: run a drill with `/runbook drill <ID>`._\n"
    by_runbook: dict[str, list[ValidationRow]] = {}
    for row in rows:
        by_runbook.setdefault(row.runbook_id, []).append(row)
    parts: list[str] = []
    for runbook_id, group in by_runbook.items():
        title = titles.get(runbook_id)
        heading = f"## Validation Log — {runbook_id}" + (f" {title}" if title else "")
        parts.append("\n".join([heading, "", HEADER, RULE, *(markdown_row(v) for v in group)]))
    return "\n\n".join(parts) + "\n"


def render_json(rows: Sequence[ValidationRow]) -> str:
    return (
        json.dumps(
            [
                {
                    "runbook": v.runbook_id,
                    "date": iso(v.at),
                    "validators": list(v.validators),  # Slack user IDs (SPEC §8)
                    "validator_names": list(v.validator_names),
                    "environment": v.environment,
                    "result": v.result,
                    "reason": v.reason,
                    "duration_s": v.duration_s,
                    "notes": list(v.notes),
                    "incident": v.incident_key,
                }
                for v in rows
            ],
            ensure_ascii=False,
            indent=2,
        )
        + "\n"
    )


def due_line(d: DueRunbook, now: datetime) -> str:
    if d.last_pass is None:
        why = "never validated" if d.last_result is None else "no passing validation yet"
    else:
        days = int((now - d.last_pass).total_seconds() // 86400)
        why = f"last passed {d.last_pass.astimezone(UTC).date().isoformat()} ({days} days ago)"
    return f"{d.runbook_id} {d.title} — {why}"


def render_due(
    due: Sequence[DueRunbook], *, interval_label: str, now: datetime, fmt: str = "markdown"
) -> str:
    if fmt == "json":
        return (
            json.dumps(
                [
                    {
                        "runbook": d.runbook_id,
                        "title": d.title,
                        "last_pass": iso(d.last_pass) if d.last_pass else None,
                        "last_result": d.last_result,
                    }
                    for d in due
                ],
                ensure_ascii=False,
                indent=2,
            )
            + "\n"
        )
    if not due:
        return f"No runbook is due: each passed a validation within {interval_label}.\n"
    lines = [f"{plural(len(due), 'runbook')} due (no passing validation within {interval_label}):"]
    lines += [f"- {due_line(d, now)}" for d in due]
    return "\n".join(lines) + "\n"
