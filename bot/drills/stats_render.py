"""Insights as data and as text (pure): ``runbook-bot stats`` in Markdown or
JSON, and the App Home's few lines."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.slack.mrkdwn import escape
from bot.timefmt import format_duration, plural


def percentile(ordered: Sequence[float], q: float) -> float | None:
    """Linear interpolation between the closest ranks (PostgreSQL's ``percentile_cont``)."""
    if not ordered:
        return None
    pos = (len(ordered) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


@dataclass(frozen=True, slots=True)
class PriorityStats:
    priority: str
    incidents: int
    acknowledged: int
    resolved: int
    tta_median: float | None
    tta_p90: float | None
    ttr_median: float | None
    ttr_p90: float | None


@dataclass(frozen=True, slots=True)
class RunbookStats:
    runbook_id: str
    runs: int
    completed: int
    median_duration: float | None  # of completed runs
    rto_runs: int  # ended runs of a runbook with an RTO
    rto_met: int  # of those, completed within it
    skipped: list[tuple[str, int]] = field(default_factory=list)  # (step, times), top first
    # step (as in ``skipped``) → the latest reasons given for skipping it, newest first
    skip_reasons: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def skipped_with_reasons(self, first: int | None = None) -> str:
        """``Mitigate 2 (…) ×3 (latest: "no access")``, comma-separated."""
        parts = []
        for step, n in self.skipped[:first]:
            reasons = self.skip_reasons.get(step, ())
            said = "; ".join(f"“{_short(r)}”" for r in reasons)
            parts.append(f"{step} ×{n}" + (f" (latest: {said})" if said else ""))
        return ", ".join(parts)

    @property
    def completion_rate(self) -> float:
        return self.completed / self.runs if self.runs else 0.0


@dataclass(frozen=True, slots=True)
class Stats:
    days: int
    since: datetime
    until: datetime
    priorities: list[PriorityStats]
    runbooks: list[RunbookStats]


def _short(text: str, limit: int = 80) -> str:
    one = " ".join(text.split())
    return one if len(one) <= limit else one[: limit - 1] + "…"


def dur(seconds: float | None) -> str:
    return "—" if seconds is None else format_duration(timedelta(seconds=seconds))


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def render_json(stats: Stats) -> str:
    data = {
        "days": stats.days,
        "since": _iso(stats.since),
        "until": _iso(stats.until),
        "drills_excluded": True,
        "priorities": [
            {
                "priority": p.priority,
                "incidents": p.incidents,
                "acknowledged": p.acknowledged,
                "resolved": p.resolved,
                "time_to_acknowledge_s": {"median": _round(p.tta_median), "p90": _round(p.tta_p90)},
                "time_to_resolve_s": {"median": _round(p.ttr_median), "p90": _round(p.ttr_p90)},
            }
            for p in stats.priorities
        ],
        "runbooks": [
            {
                "runbook": r.runbook_id,
                "runs": r.runs,
                "completed": r.completed,
                "completion_rate": round(r.completion_rate, 3),
                "median_duration_s": _round(r.median_duration),
                "rto_runs": r.rto_runs,
                "rto_met": r.rto_met,
                "most_skipped": [
                    {"step": s, "skipped": n, "reasons": list(r.skip_reasons.get(s, ()))}
                    for s, n in r.skipped
                ],
            }
            for r in stats.runbooks
        ],
    }
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"


def _cell(text: str) -> str:
    return " ".join(text.replace("|", "\\|").split())


def render_markdown(stats: Stats) -> str:
    lines = [
        f"# Insights — last {stats.days} days ({stats.since.date()} to {stats.until.date()}), "
        "drills excluded",
        "",
        "## Incidents by priority",
        "",
    ]
    if stats.priorities:
        lines += [
            "| Priority | Incidents | Ack median | Ack p90 | Resolve median | Resolve p90 |",
            "|----------|-----------|------------|---------|----------------|-------------|",
        ]
        lines += [
            f"| {_cell(p.priority)} | {p.incidents} | {dur(p.tta_median)} | {dur(p.tta_p90)} "
            f"| {dur(p.ttr_median)} | {dur(p.ttr_p90)} |"
            for p in stats.priorities
        ]
    else:
        lines.append("_No incidents in this period._")
    lines += ["", "## Runbooks", ""]
    if stats.runbooks:
        lines += [
            "| Runbook | Runs | Completed | Median duration | RTO met | Most skipped steps |",
            "|---------|------|-----------|-----------------|---------|--------------------|",
        ]
        for r in stats.runbooks:
            rto = f"{r.rto_met}/{r.rto_runs}" if r.rto_runs else "—"
            skipped = r.skipped_with_reasons() or "—"
            lines.append(
                f"| {_cell(r.runbook_id)} | {r.runs} | {r.completion_rate:.0%} "
                f"| {dur(r.median_duration)} | {rto} | {_cell(skipped)} |"
            )
    else:
        lines.append("_No runs in this period._")
    return "\n".join(lines) + "\n"


def insight_lines(stats: Stats, *, runbooks: int = 8) -> list[str]:
    """The App Home section: one line per priority, one per busiest runbook."""
    lines = [
        f"• *{escape(p.priority)}*: {plural(p.incidents, 'incident')} · "
        f"ack median {dur(p.tta_median)} (p90 {dur(p.tta_p90)}) · "
        f"resolve median {dur(p.ttr_median)} (p90 {dur(p.ttr_p90)})"
        for p in stats.priorities
    ]
    for r in stats.runbooks[:runbooks]:
        rto = f" · RTO met {r.rto_met}/{r.rto_runs}" if r.rto_runs else ""
        weak = f" · most skipped: {escape(r.skipped_with_reasons(1))}" if r.skipped else ""
        lines.append(
            f"• *{escape(r.runbook_id)}*: {plural(r.runs, 'run')}, "
            f"{r.completion_rate:.0%} completed, median {dur(r.median_duration)}{rto}{weak}"
        )
    return lines or ["_No incidents or runs in this period._"]
