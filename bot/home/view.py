"""The App Home view and the Declare incident modal (pure, Block Kit)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.drills.blocks import run_result
from bot.drills.views import DueRunbook, RunRow
from bot.incidents.blocks import DRILL, ago
from bot.incidents.followup_text import FollowupView, line, ordered
from bot.slack.blockkit import (
    MAX_VIEW_BLOCKS,
    VIEW_TEXT_BUDGET,
    button,
    context,
    fit_blocks,
    header,
    section,
    slack_date,
    truncate,
)
from bot.slack.mrkdwn import escape, split_mrkdwn
from bot.timefmt import format_duration, plural

DECLARE = "home_declare"
DECLARE_MODAL = "home_declare_modal"
SHOW_INCIDENTS = 30  # one section each; the rest are counted
SHOW_DUE = 25
SHOW_RUNS = 10
SHOW_FOLLOWUPS = 10


@dataclass(frozen=True, slots=True)
class OpenIncident:
    id: int
    title: str
    opened_at: datetime
    channel_id: str
    priority: str | None = None
    commander: str | None = None
    last_update_at: datetime | None = None
    runbook_id: str | None = None  # the running runbook, if any
    step: int = 0  # the step it is on (1-based)
    steps: int = 0
    permalink: str | None = None  # of the thread, once resolved (``chat.getPermalink``)
    thread_ts: str | None = None
    drill: bool = False

    @property
    def key(self) -> str:
        return f"INC-{self.id}"


@dataclass(frozen=True, slots=True)
class HomeData:
    now: datetime
    incidents: Sequence[OpenIncident]
    open_count: int
    due: Sequence[DueRunbook] = ()
    runs: Sequence[RunRow] = ()
    insights: Sequence[str] = ()  # mrkdwn lines (``bot/drills/stats_render``)
    insights_days: int = 90
    catalog_size: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    # What Slack refuses the bot (``bot/slack/health.py``): scope → error.
    slack_problems: Mapping[str, str] = field(default_factory=dict)


def incident_line(i: OpenIncident, now: datetime) -> str:
    key = f"<{i.permalink}|{i.key}>" if i.permalink else i.key
    prio = f" · `{escape(i.priority)}`" if i.priority else ""
    drill = f" · {DRILL}" if i.drill else ""
    title = escape(truncate(i.title, 150))
    bits = [f"opened {ago(now - i.opened_at)} ago"]
    bits.append(f"commander <@{escape(i.commander)}>" if i.commander else "no commander")
    if i.last_update_at is not None:
        bits.append(f"last update {ago(now - i.last_update_at)} ago")
    else:
        bits.append("no status update yet")
    if i.runbook_id:
        bits.append(f"▶️ {escape(i.runbook_id)} step {i.step} of {i.steps}")
    return f"*{key}*{prio}{drill} — {title}\n" + " · ".join(bits)


def _lines_blocks(lines: Sequence[str], budget: int) -> list[dict[str, Any]]:
    return [section(c) for c in split_mrkdwn("\n".join(lines), 2900)][:budget]


def problem_blocks(problems: Mapping[str, str]) -> list[dict[str, Any]]:
    """What the operator must fix for the bot to reach Slack (none: no block)."""
    lines = []
    for scope, error in sorted(problems.items()):
        if scope.startswith("channel:"):
            channel = escape(scope.removeprefix("channel:"))
            fix = "unarchive it" if error == "is_archived" else "invite the bot to it"
            lines.append(
                f"⚠️ Slack will not take the bot's messages in <#{channel}> (`{escape(error)}`): "
                f"{fix}. Its messages fail and its reminders pause meanwhile."
            )
    return [section("\n".join(lines[:10]))] if lines else []


def home_view(data: HomeData) -> dict[str, Any]:
    """``views.publish``'s view: never past 100 blocks, whatever ``data`` holds."""
    blocks: list[dict[str, Any]] = [
        header(f"🚨 Open incidents ({data.open_count})"),
        {
            "type": "actions",
            "block_id": "home_actions",
            "elements": [button("🚨 Declare incident", DECLARE, "declare", "primary")],
        },
    ]
    blocks += problem_blocks(data.slack_problems)
    shown = list(data.incidents)[:SHOW_INCIDENTS]
    if not shown:
        blocks.append(context("_No incident is open._"))
    blocks += [section(incident_line(i, data.now)) for i in shown]
    if data.open_count > len(shown):
        blocks.append(
            context(
                f"_…and {data.open_count - len(shown)} more open incidents (most urgent and "
                "oldest shown first)._"
            )
        )
    blocks.append({"type": "divider"})
    blocks += drill_blocks(data.due)
    blocks.append({"type": "divider"})
    period = f"last {data.insights_days} days"
    blocks.append(header(f"🏁 Last runs, {period}"))
    if data.runs:
        blocks += _lines_blocks([_run_line(r) for r in list(data.runs)[:SHOW_RUNS]], 3)
    else:
        blocks.append(context(f"_No runbook has run in the {period}._"))
    if data.insights:
        blocks.append({"type": "divider"})
        blocks.append(header(f"📊 Insights, {period} (drills excluded)"))
        blocks += _lines_blocks(list(data.insights), 8)
    blocks.append(context(f"Updated {slack_date(data.now, '{date_short} {time}')}"))
    # Within a view's limits whatever ``data`` holds (the caps above keep it so).
    blocks = fit_blocks(
        blocks, note="_…cut to fit._", budget=VIEW_TEXT_BUDGET, max_blocks=MAX_VIEW_BLOCKS
    )
    return {"type": "home", "callback_id": "home", "blocks": blocks}


def never_drilled(d: DueRunbook) -> bool:
    return d.last_pass is None and d.last_result is None


def drill_blocks(due: Sequence[DueRunbook]) -> list[dict[str, Any]]:
    """Overdue drills in red (a pass too old, or drills that failed); runbooks
    never drilled named plainly — a fresh install has nothing overdue."""
    overdue = [d for d in due if not never_drilled(d)]
    fresh = [d for d in due if never_drilled(d)]
    title = "🧪 Drills" + (f" — {len(overdue)} overdue" if overdue else "")
    blocks: list[dict[str, Any]] = [header(title)]
    if overdue:
        blocks += _lines_blocks([_due_line(d) for d in overdue[:SHOW_DUE]], 2)
        if len(overdue) > SHOW_DUE:
            blocks.append(context(f"_…and {len(overdue) - SHOW_DUE} more._"))
    if fresh:
        names = ", ".join(escape(d.runbook_id) for d in fresh[: SHOW_DUE * 2])
        more = f" and {len(fresh) - SHOW_DUE * 2} more" if len(fresh) > SHOW_DUE * 2 else ""
        count = plural(len(fresh), "runbook")
        blocks.append(section(f"⚪ Not drilled yet ({count}): {names}{more}"))
    if due:
        blocks.append(context("Rehearse one with `/runbook drill <ID> [environment]`."))
    else:
        blocks.append(context("_Every runbook passed a drill within the interval._"))
    return blocks


def _due_line(d: DueRunbook) -> str:
    if d.last_pass is None:
        why = "drills failed, none passed yet"
    else:
        why = f"overdue: last passed {slack_date(d.last_pass, '{date_short}')}"
    return f"🔴 *{escape(d.runbook_id)}* {escape(truncate(d.title, 80))} — {why}"


def _run_line(r: RunRow) -> str:
    took = format_duration(timedelta(seconds=r.duration_s)) if r.duration_s is not None else "—"
    kind = " 🧪 drill" if r.drill else ""
    return (
        f"• {slack_date(r.started_at, '{date_short} {time}')} *{escape(r.runbook_id)}*{kind} "
        f"({r.incident_key}) — {run_result(r)} · {took}"
    )


def declare_modal(levels: Sequence[str], default: str | None) -> dict[str, Any]:
    """Title and priority: submitted, it declares like ``/incident declare``."""
    blocks: list[dict[str, Any]] = [
        {
            "type": "input",
            "block_id": "title",
            "label": {"type": "plain_text", "text": "Title"},
            "element": {
                "type": "plain_text_input",
                "action_id": "title",
                "max_length": 2000,
                "placeholder": {"type": "plain_text", "text": "What is broken, for whom"},
            },
        }
    ]
    if levels:
        options = [
            {"text": {"type": "plain_text", "text": truncate(level, 75)}, "value": level[:150]}
            for level in levels[:100]
        ]
        element: dict[str, Any] = {
            "type": "static_select",
            "action_id": "priority",
            "options": options,
        }
        chosen = next((o for o in options if o["value"] == default), None)
        if chosen is not None:
            element["initial_option"] = chosen
        blocks.append(
            {
                "type": "input",
                "block_id": "priority",
                "label": {"type": "plain_text", "text": "Priority"},
                "element": element,
            }
        )
    return {
        "type": "modal",
        "callback_id": DECLARE_MODAL,
        "title": {"type": "plain_text", "text": "Declare incident"},
        "submit": {"type": "plain_text", "text": "Declare"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": blocks,
    }


def with_followups(
    view: dict[str, Any], mine: Sequence[FollowupView], now: datetime
) -> dict[str, Any]:
    """The shared view with the viewer's open follow-ups, overdue first, after
    the open incidents (the rest of the view is the same for everyone)."""
    if not mine:
        return view
    rows = ordered(list(mine), now)
    late = sum(1 for v in rows if v.overdue(now))
    title = f"📌 Your follow-ups ({len(rows)}" + (f", {late} overdue)" if late else ")")
    blocks: list[dict[str, Any]] = [header(title)]
    blocks += _lines_blocks([line(v, now) for v in rows[:SHOW_FOLLOWUPS]], 2)
    if len(rows) > SHOW_FOLLOWUPS:
        blocks.append(
            context(f"_…and {len(rows) - SHOW_FOLLOWUPS} more: `/incident followups mine`._")
        )
    blocks.append({"type": "divider"})
    old = list(view["blocks"])
    at = next((i + 1 for i, b in enumerate(old) if b.get("type") == "divider"), len(old))
    merged = fit_blocks(
        old[:at] + blocks + old[at:],
        note="_…cut to fit._",
        budget=VIEW_TEXT_BUDGET,
        max_blocks=MAX_VIEW_BLOCKS,
    )
    return {**view, "blocks": merged}
