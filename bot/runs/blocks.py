"""Block Kit rendering for runs and steps: pure functions from plain data to
``{"text": ..., "blocks": [...]}`` message payloads.

Every payload respects Block Kit limits (≤ 50 blocks, section text ≤ 3000,
``MESSAGE_TEXT_BUDGET`` characters of block text): long runbook text is split
into several sections (a step's, over several messages: ``step_blocks``) and,
past the budget, cut with a pointer to the runbook file rather than rejected
by Slack.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.incidents.action_blocks import incident_actions, running_line
from bot.incidents.blocks import drill_banner, drilled, roles_line, rto_verdict
from bot.incidents.priority import span
from bot.runs.engine import Decision, Refusal, Refused, RunState
from bot.runs.step_blocks import (
    APPROVE,
    RUN,
    SKIP,
    decided_step_message,
    decision_line,
    ended_step_message,
    gate_lines,
    lead_messages,
    rest_note,
    step_message,
    step_messages,
)
from bot.slack.blockkit import (
    MAX_BLOCKS,
    TEXT_LIMIT,
    Payload,
    button,
    cap_blocks,
    context,
    fit_blocks,
    header,
    markdown_sections,
    section,
    slack_date,
    truncate,
)
from bot.slack.buttons import AbortButton
from bot.slack.mrkdwn import escape
from bot.store.states import RunStatus
from bot.timefmt import format_duration, plural

__all__ = [
    "ABORT",
    "APPROVE",
    "RUN",
    "SKIP",
    "RunInfo",
    "aborted_message",
    "completion_message",
    "decided_step_message",
    "decision_line",
    "ended_step_message",
    "gate_lines",
    "lead_messages",
    "refusal_text",
    "rollback_done_message",
    "run_message",
    "step_message",
    "step_messages",
]

ABORT = "run_abort"


@dataclass(frozen=True, slots=True)
class RunInfo:
    """What the renderer needs to know about a run (no ORM objects here)."""

    run_id: int
    incident_key: str
    runbook_id: str
    runbook_title: str
    started_by: str
    started_at: datetime
    summary: str | None = None
    owner: str | None = None
    severity: str | None = None
    rto: str | None = None
    content_hash: str = ""
    priority: str | None = None  # the incident's
    roles: Mapping[str, str] = field(default_factory=dict)  # the incident's
    rto_seconds: float | None = None

    @property
    def rto_deadline(self) -> datetime | None:
        if not self.rto_seconds:
            return None
        return self.started_at + timedelta(seconds=self.rto_seconds)

    # A drill (``/runbook drill``): every message says DRILL, with the environment.
    drill: bool = False
    drill_environment: str | None = None
    path: str | None = None  # the runbook file, where long content points to
    # The incident's buttons on the run message (while it is open).
    incident_id: int = 0
    acknowledged: bool = False
    incident_open: bool = False
    # Why an aborted run ended, when not by its Abort (e.g. the incident resolved).
    ended_note: str | None = None

    @property
    def source(self) -> str:
        """The runbook file as a pointer reads it: ```runbooks/rb-04.md` (RB-04)``."""
        where = f"`{escape(self.path)}` " if self.path else ""
        return f"{where}({escape(self.runbook_id)})"


# --- run message -------------------------------------------------------------


def _run_meta(info: RunInfo) -> str:
    bits = []
    if info.priority:
        bits.append(f"Priority: *{escape(info.priority)}*")
    bits.append(f"Started by <@{escape(info.started_by)}> {slack_date(info.started_at)}")
    for label, value in (("Owner", info.owner), ("Severity", info.severity)):
        if value:
            bits.append(f"{label}: {escape(value)}")
    deadline = info.rto_deadline
    if deadline is not None and info.rto_seconds:
        bits.append(f"RTO {span(info.rto_seconds)} — deadline {slack_date(deadline)}")
    elif info.rto:
        bits.append(f"RTO: {escape(info.rto)}")
    if info.roles:
        bits.append(roles_line(dict(info.roles)))
    return " · ".join(bits)


def run_message(info: RunInfo, state: RunState, *, ended_at: datetime | None = None) -> Payload:
    counts = state.counts()
    n = state.normal_count
    decided = counts[Decision.APPROVED] + counts[Decision.SKIPPED]
    title = f"{info.incident_key} · {info.runbook_id} {info.runbook_title}"
    status = state.status
    if status == RunStatus.RUNNING:
        progress = f"▶️ Step {min(decided + 1, n)} of {n}"
    elif status == RunStatus.COMPLETED:
        progress = "🏁 Runbook completed"
    else:
        progress = "🛑 Runbook aborted"
    progress += (
        f" · {counts[Decision.APPROVED]} approved · {counts[Decision.SKIPPED]} skipped"
        f" · {n - decided} not run"
        if status != RunStatus.RUNNING
        else f" · {counts[Decision.APPROVED]} approved · {counts[Decision.SKIPPED]} skipped"
    )
    if status == RunStatus.ABORTED and info.ended_note:
        progress = progress.replace("Runbook aborted", escape(info.ended_note), 1)
    if ended_at is not None:
        progress += f" · took {format_duration(ended_at - info.started_at)}"
    blocks: list[dict[str, Any]] = [header(title), context(_run_meta(info))]
    if info.drill:
        blocks.insert(0, context(drill_banner(info.drill_environment)))
    if info.summary:
        blocks.append(section(f"*Summary:* {escape(info.summary)}"))
    going = status == RunStatus.RUNNING
    blocks.append(section(progress + ("\n_Steps follow in this thread._" if going else "")))
    if going:
        confirm = {
            "title": {"type": "plain_text", "text": "Abort this run?"},
            "text": {
                "type": "mrkdwn",
                "text": "Pending steps will not run. The rollback steps are offered next.",
            },
            "confirm": {"type": "plain_text", "text": "Abort"},
            "deny": {"type": "plain_text", "text": "Keep going"},
            "style": "danger",
        }
        blocks.append(
            {
                "type": "actions",
                "block_id": f"run:{info.run_id}",
                "elements": [
                    button(
                        "Abort run", ABORT, AbortButton(info.run_id).to_json(), "danger", confirm
                    )
                ],
            }
        )
    if info.incident_open:
        blocks.append(_incident_buttons(info, (min(decided + 1, n), n) if going else None))
    level = f" ({info.priority})" if info.priority else ""
    title = f"{escape(info.runbook_id)} {escape(info.runbook_title)}"  # from the runbook's file
    text = f"{info.incident_key}{level}: runbook {title} — {status}"
    return {"text": truncate(drilled(text, info.drill), TEXT_LIMIT), "blocks": cap_blocks(blocks)}


def _incident_buttons(info: RunInfo, at_step: tuple[int, int] | None) -> dict[str, Any]:
    """Acknowledge, Assign commander, Resolve — Resolve naming this run while it goes."""
    running = [running_line(info.runbook_id, *at_step)] if at_step else []
    return incident_actions(
        info.incident_id,
        info.incident_key,
        acknowledged=info.acknowledged,
        commander=info.roles.get("commander"),
        running=running,
    )


def completion_message(
    info: RunInfo, state: RunState, ended_at: datetime, *, verdict: str | None = None
) -> Payload:
    """``verdict``: a drill's validation result, shown under the summary."""
    counts = state.counts()
    duration = format_duration(ended_at - info.started_at)
    line = (
        f"🏁 *{escape(info.runbook_id)} completed* for {info.incident_key}: "
        f"{counts[Decision.APPROVED]} approved, {counts[Decision.SKIPPED]} skipped "
        f"of {state.normal_count} steps in {duration}."
    )
    key = info.incident_key
    follow = (
        f"Post a status update with `/incident update {key}` "
        f"and resolve with `/incident resolve {key}`."
    )
    text = (
        f"{info.runbook_id} completed for {info.incident_key}: "
        f"{counts[Decision.APPROVED]} approved, {counts[Decision.SKIPPED]} skipped in {duration}"
    )
    if info.rto_seconds:
        verdict_rto = rto_verdict(ended_at - info.started_at, info.rto_seconds)
        line += f" {verdict_rto[0].upper()}{verdict_rto[1:]}."
        text += f", {verdict_rto}"
    blocks = [section(line), context(follow)]
    if verdict:
        blocks.insert(1, section(verdict))
    if info.drill:
        blocks.insert(0, context(drill_banner(info.drill_environment)))
    return {"text": truncate(drilled(text, info.drill), TEXT_LIMIT), "blocks": cap_blocks(blocks)}


def aborted_message(
    info: RunInfo, state: RunState, by: str, at: datetime, *, verdict: str | None = None
) -> Payload:
    counts = state.counts()
    pending = state.normal_count - counts[Decision.APPROVED] - counts[Decision.SKIPPED]
    how = f"aborted* by <@{escape(by)}>"
    if info.ended_note:  # the incident's resolve ended it
        how = f"ended* when {info.incident_key} was resolved by <@{escape(by)}>"
    line = (
        f"🛑 *{escape(info.runbook_id)} {how} {slack_date(at)} — "
        f"{counts[Decision.APPROVED]} approved, {counts[Decision.SKIPPED]} skipped, "
        f"{pending} not run."
    )
    blocks = [section(line)]
    if verdict:
        blocks.append(section(verdict))
    if info.drill:
        blocks.insert(0, context(drill_banner(info.drill_environment)))
    note: list[dict[str, Any]] = []
    if info.ended_note:
        pass  # resolved: no rollback is offered
    elif state.rollback_steps:
        n = len(state.rollback_steps)
        follow = "follows" if n == 1 else "follow"
        blocks.append(context(f"Rollback: {plural(n, 'step')} {follow} in this thread."))
    elif state.rollback_note:
        blocks.append(section("*Rollback*"))
        note = markdown_sections(list(state.rollback_note), MAX_BLOCKS)
    else:
        blocks.append(context("This runbook has no Rollback section."))
    # A long Rollback note is cut with a pointer to the file; the summary stays.
    blocks = fit_blocks(
        [*blocks, *note], keep_head=len(blocks), keep_tail=0, note=rest_note(info.source)
    )
    text = f"{info.runbook_id} aborted for {info.incident_key} by <@{by}>"
    return {"text": truncate(drilled(text, info.drill), TEXT_LIMIT), "blocks": blocks}


def rollback_done_message(info: RunInfo, state: RunState) -> Payload:
    counts = state.counts(rollback=True)
    line = (
        f"↩️ Rollback of *{escape(info.runbook_id)}* finished: "
        f"{counts[Decision.APPROVED]} approved, {counts[Decision.SKIPPED]} skipped."
    )
    text = drilled(f"Rollback of {info.runbook_id} finished", info.drill)
    return {"text": text, "blocks": [section(drilled(line, info.drill))]}


def refusal_text(refused: Refused) -> str:
    """What a clicker is told when their click changed nothing (ephemeral)."""
    if refused.reason is Refusal.ALREADY_DECIDED and refused.existing is not None:
        verb = "approved" if refused.existing.decision is Decision.APPROVED else "skipped"
        return (
            f"This step was already {verb} by <@{refused.existing.by}> "
            f"{slack_date(refused.existing.at)}. Nothing changed."
        )
    if refused.reason is Refusal.RUN_ENDED:
        return f"This run has already {refused.status or 'ended'}. Nothing changed."
    if refused.reason is Refusal.NOT_ALLOWED:
        return refused.detail or "You cannot decide this step. Nothing changed."
    if refused.reason is Refusal.ACTION:
        return refused.detail or "This step's action cannot be run now. Nothing changed."
    if refused.reason is Refusal.NOT_CURRENT:
        return "That step is not the current one. Nothing changed."
    return "That run or step no longer exists. Nothing changed."
