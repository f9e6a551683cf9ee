"""Block Kit for ``/runbook history`` (pure; ephemeral reply)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from bot.drills.views import RunRow
from bot.slack.blockkit import Payload, cap_blocks, context, section, slack_date, truncate
from bot.slack.mrkdwn import escape, split_mrkdwn
from bot.store.states import RunStatus
from bot.timefmt import format_duration


def run_result(row: RunRow) -> str:
    """``✅ pass`` / ``❌ fail`` for a drill, else the run's state with its skips."""
    if row.drill and row.validation:
        return "✅ pass" if row.validation == "pass" else "❌ fail"
    if row.state == RunStatus.RUNNING:
        return "▶️ running"
    icon = "🏁" if row.state == RunStatus.COMPLETED else "🛑"
    skips = f", {row.skipped} skipped" if row.skipped else ""
    return f"{icon} {row.state}{skips}"


def run_line(row: RunRow) -> str:
    kind = f"🧪 drill ({escape(row.environment or 'staging')})" if row.drill else "run"
    took = format_duration(timedelta(seconds=row.duration_s)) if row.duration_s is not None else "—"
    who = ", ".join(f"<@{escape(u)}>" for u in (row.deciders or (row.started_by,)))
    line = (
        f"• {slack_date(row.started_at, '{date_short}')} · {kind} · {run_result(row)} · "
        f"{took} · {row.incident_key} · {who}"
    )
    if row.drill and row.reason:
        line += f"\n    _{escape(truncate(row.reason, 300))}_"
    return line


def history_message(runbook_id: str, title: str, rows: Sequence[RunRow]) -> Payload:
    head = f"*History of {escape(runbook_id)}* — {escape(title)}"
    if not rows:
        text = f"{runbook_id} has not been run yet."
        return {"text": text, "blocks": [section(head), context("_No runs or drills yet._")]}
    lines = "\n".join(run_line(r) for r in rows)
    blocks = [section(head)]
    blocks += [section(c) for c in split_mrkdwn(lines, 2900)]
    blocks.append(
        context(
            "Date · kind · result · duration · incident · who decided the steps. "
            f"Validation log: `runbook-bot validations {escape(runbook_id)}`"
        )
    )
    drills = sum(r.drill for r in rows)
    text = f"History of {runbook_id}: {len(rows) - drills} runs, {drills} drills"
    return {"text": text, "blocks": cap_blocks(blocks)}
