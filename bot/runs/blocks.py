"""Block Kit rendering for runs and steps: pure functions from plain data to
``{"text": ..., "blocks": [...]}`` message payloads.

Every payload respects Block Kit limits (≤ 50 blocks, section text ≤ 3000):
long runbook text is split into several sections and, past the block budget,
cut with a pointer to the runbook file rather than rejected by Slack.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.incidents.blocks import drill_banner, drilled, roles_line, rto_verdict
from bot.incidents.priority import span
from bot.runs import gates
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


def decision_line(record: DecisionRecord) -> str:
    icon = "✅" if record.decision is Decision.APPROVED else "⏭️"
    verb = "Approved" if record.decision is Decision.APPROVED else "Skipped"
    return f"{icon} *{verb}* by <@{escape(record.by)}> {slack_date(record.at)}"


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
    level = f" ({info.priority})" if info.priority else ""
    text = f"{info.incident_key}{level}: runbook {info.runbook_id} {info.runbook_title} — {status}"
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


def gate_lines(
    step: FlowStep,
    roles: Mapping[str, str],
    partial: Sequence[str] = (),
    decision: str = "approved",
) -> list[dict]:
    """What a gated step needs, and how far its approvals have come."""
    if step.approval is None:
        return []
    lines = [gates.describe(step.approval, roles)]
    if partial:
        lines.append(gates.progress(partial, step.approval.people, decision))
    return [context(" · ".join(lines))]


def step_message(
    run_id: int,
    step: FlowStep,
    roles: Mapping[str, str] | None = None,
    partial: Sequence[str] = (),
    decision: str = "approved",
    *,
    drill: bool = False,
) -> Payload:
    """A step waiting for its decision: Approve (primary) and Skip; a gated
    step says who must decide it (and, once partly approved, how far it is)."""
    gate = gate_lines(step, roles or {}, partial, decision)
    blocks = _step_body(step, MAX_BLOCKS - 1 - len(gate), drill) + gate
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
    if partial and step.approval is not None:
        text += f" ({len(partial)} of {step.approval.people} approvals)"
    return {"text": truncate(drilled(text, drill), TEXT_LIMIT), "blocks": cap_blocks(blocks)}


def decided_step_message(
    step: FlowStep,
    record: DecisionRecord,
    approvers: Sequence[str] = (),
    *,
    drill: bool = False,
) -> Payload:
    """The same step after its decision: who, when, and no buttons left."""
    blocks = _step_body(step, MAX_BLOCKS - 1, drill)
    line = decision_line(record)
    others = [u for u in approvers if u != record.by]
    if others:
        line += " · also " + ", ".join(f"<@{escape(u)}>" for u in others)
    blocks.append(context(line))
    verb = "approved" if record.decision is Decision.APPROVED else "skipped"
    names = " and ".join(f"<@{u}>" for u in [*others, record.by])
    text = f"Step {step.position} of {step.total} {verb} by {names}"
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
    if info.rto_seconds:
        verdict_rto = rto_verdict(ended_at - info.started_at, info.rto_seconds)
        line += f" {verdict_rto[0].upper()}{verdict_rto[1:]}."
        text += f", {verdict_rto}"
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
    if refused.reason is Refusal.NOT_ALLOWED:
        return refused.detail or "You cannot decide this step. Nothing changed."
    if refused.reason is Refusal.NOT_CURRENT:
        return "That step is not the current one. Nothing changed."
    return "That run or step no longer exists. Nothing changed."
