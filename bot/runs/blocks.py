"""Block Kit rendering for runs and steps: pure functions from plain data to
``{"text": ..., "blocks": [...]}`` message payloads.

Every payload respects Block Kit limits (≤ 50 blocks, section text ≤ 3000):
long runbook text is split into several sections and, past the block budget,
cut with a pointer to the runbook file rather than rejected by Slack.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.incidents.blocks import drill_banner, drilled
from bot.runs.engine import Decision, DecisionRecord, FlowStep, Refusal, Refused, RunState
from bot.slack.blockkit import (
    MAX_BLOCKS,
    TEXT_LIMIT,
    Payload,
    button,
    cap_blocks,
    context,
    header,
    markdown_sections,
    section,
    slack_date,
    truncate,
)
from bot.slack.mrkdwn import escape, md_to_mrkdwn, split_mrkdwn
from bot.timefmt import format_duration

APPROVE = "step_approve"
SKIP = "step_skip"
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
    # A drill (``/runbook drill``): every message says DRILL, with the environment.
    drill: bool = False
    drill_environment: str | None = None


def decision_line(record: DecisionRecord) -> str:
    icon = "✅" if record.decision is Decision.APPROVED else "⏭️"
    verb = "Approved" if record.decision is Decision.APPROVED else "Skipped"
    return f"{icon} *{verb}* by <@{escape(record.by)}> {slack_date(record.at)}"


# --- run message -------------------------------------------------------------


def _run_meta(info: RunInfo) -> str:
    bits = [f"Started by <@{escape(info.started_by)}> {slack_date(info.started_at)}"]
    for label, value in (("Owner", info.owner), ("Severity", info.severity), ("RTO", info.rto)):
        if value:
            bits.append(f"{label}: {escape(value)}")
    return " · ".join(bits)


def run_message(info: RunInfo, state: RunState, *, ended_at: datetime | None = None) -> Payload:
    counts = state.counts()
    n = state.normal_count
    decided = counts[Decision.APPROVED] + counts[Decision.SKIPPED]
    title = f"{info.incident_key} · {info.runbook_id} {info.runbook_title}"
    status = state.status.value
    if status == "running":
        progress = f"▶️ Step {min(decided + 1, n)} of {n}"
    elif status == "completed":
        progress = "🏁 Runbook completed"
    else:
        progress = "🛑 Runbook aborted"
    progress += (
        f" · {counts[Decision.APPROVED]} approved · {counts[Decision.SKIPPED]} skipped"
        f" · {n - decided} not run"
        if status != "running"
        else f" · {counts[Decision.APPROVED]} approved · {counts[Decision.SKIPPED]} skipped"
    )
    if ended_at is not None:
        progress += f" · took {format_duration(ended_at - info.started_at)}"
    blocks: list[dict] = [header(title), context(_run_meta(info))]
    if info.drill:
        blocks.insert(0, context(drill_banner(info.drill_environment)))
    if info.summary:
        blocks.append(section(f"*Summary:* {escape(info.summary)}"))
    blocks.append(section(progress + "\n_Steps follow in this thread._"))
    if status == "running":
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
                "elements": [button("Abort run", ABORT, str(info.run_id), "danger", confirm)],
            }
        )
    text = f"{info.incident_key}: runbook {info.runbook_id} {info.runbook_title} — {status}"
    return {"text": truncate(drilled(text, info.drill), TEXT_LIMIT), "blocks": cap_blocks(blocks)}


# --- step messages -------------------------------------------------------------


def _step_body(step: FlowStep, budget: int, drill: bool = False) -> list[dict]:
    label = f"{step.label} — " if step.label else ""
    where = "Rollback" if step.rollback else step.phase
    head = drilled(f"{where} · step {step.position} of {step.total}", drill)
    blocks: list[dict] = [header(head)]
    if step.phase_intro:
        blocks += [
            context(piece)
            for part in step.phase_intro
            for piece in split_mrkdwn(md_to_mrkdwn(part), 2900)
            if piece.strip()
        ][:3]
    lead = f"*{step.number}.* {escape(label)}" if label else f"*{step.number}.* "
    body = markdown_sections([step.text], 6)
    if body:
        first = body[0]["text"]["text"]
        body[0] = section(lead + first)
    else:
        body = [section(lead.strip())]
    blocks += body
    blocks += markdown_sections(list(step.context), budget - len(blocks))
    return blocks


def step_message(run_id: int, step: FlowStep, *, drill: bool = False) -> Payload:
    """A step waiting for its decision: Approve (primary) and Skip."""
    blocks = _step_body(step, MAX_BLOCKS - 1, drill)
    value = f"{run_id}:{step.index}"
    blocks.append(
        {
            "type": "actions",
            "block_id": f"step:{run_id}:{step.index}",
            "elements": [
                button("✅ Approve", APPROVE, value, "primary"),
                button("⏭️ Skip", SKIP, value),
            ],
        }
    )
    text = f"Step {step.position} of {step.total}: {truncate(md_to_mrkdwn(step.text), 300)}"
    return {"text": truncate(drilled(text, drill), TEXT_LIMIT), "blocks": cap_blocks(blocks)}


def decided_step_message(step: FlowStep, record: DecisionRecord, *, drill: bool = False) -> Payload:
    """The same step after its decision: who, when, and no buttons left."""
    blocks = _step_body(step, MAX_BLOCKS - 1, drill)
    blocks.append(context(decision_line(record)))
    verb = "approved" if record.decision is Decision.APPROVED else "skipped"
    text = f"Step {step.position} of {step.total} {verb} by <@{record.by}>"
    return {"text": drilled(text, drill), "blocks": cap_blocks(blocks)}


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
    follow = "Post a status update with `/incident update` and resolve with `/incident resolve`."
    text = (
        f"{info.runbook_id} completed for {info.incident_key}: "
        f"{counts[Decision.APPROVED]} approved, {counts[Decision.SKIPPED]} skipped in {duration}"
    )
    blocks = [section(line), context(follow)]
    if verdict:
        blocks.insert(1, section(verdict))
    if info.drill:
        blocks.insert(0, context(drill_banner(info.drill_environment)))
    return {"text": drilled(text, info.drill), "blocks": blocks}


def aborted_message(
    info: RunInfo, state: RunState, by: str, at: datetime, *, verdict: str | None = None
) -> Payload:
    counts = state.counts()
    pending = state.normal_count - counts[Decision.APPROVED] - counts[Decision.SKIPPED]
    line = (
        f"🛑 *{escape(info.runbook_id)} aborted* by <@{escape(by)}> {slack_date(at)} — "
        f"{counts[Decision.APPROVED]} approved, {counts[Decision.SKIPPED]} skipped, "
        f"{pending} not run."
    )
    blocks = [section(line)]
    if state.rollback_steps:
        blocks.append(
            context(f"Rollback: {len(state.rollback_steps)} steps follow in this thread.")
        )
    elif state.rollback_note:
        blocks.append(section("*Rollback*"))
        blocks += markdown_sections(list(state.rollback_note), MAX_BLOCKS - len(blocks))
    else:
        blocks.append(context("This runbook has no Rollback section."))
    if verdict:
        blocks.insert(1, section(verdict))
    if info.drill:
        blocks.insert(0, context(drill_banner(info.drill_environment)))
    text = f"{info.runbook_id} aborted for {info.incident_key} by <@{by}>"
    return {"text": drilled(text, info.drill), "blocks": cap_blocks(blocks)}


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
    if refused.reason is Refusal.NOT_CURRENT:
        return "That step is not the current one. Nothing changed."
    return "That run or step no longer exists. Nothing changed."
