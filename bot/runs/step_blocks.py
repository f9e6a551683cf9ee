"""Block Kit for a step: pure functions from a step to the messages that show it.

A step's message carries its phase's intro (first step of a phase), its text,
its context, who must decide it and its Approve / Skip buttons. Slack refuses
a message with more than about 12,000 characters of block text, so when that
would pass ``MESSAGE_TEXT_BUDGET`` the content is laid out over several
messages: the intro and whatever of the step's context does not fit go first,
as plain "context (1/2)" thread messages, and the last message — the one with
the ``step:<run>:<index>`` buttons, which decisions update — carries the step
itself. Past ``MAX_LEAD_MESSAGES`` the rest is cut with a pointer to the
runbook file; a step's own text past ``MAX_STEP_TEXT_CHARS`` is cut likewise.

The layout depends on the step alone (not on its gate's progress or its
decision), so every update of the step's message shows the same content.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError

from bot.incidents.blocks import drilled
from bot.runbook.actions import Action
from bot.runbook.whole import MAX_STEP_TEXT_CHARS
from bot.runs import gates
from bot.runs.engine import Decision, DecisionRecord, FlowStep
from bot.slack.blockkit import (
    MAX_BLOCKS,
    MESSAGE_TEXT_BUDGET,
    TEXT_LIMIT,
    Payload,
    button,
    context,
    fit_blocks,
    fits,
    header,
    markdown_sections,
    section,
    slack_date,
    text_length,
    truncate,
)
from bot.slack.buttons import StepButton
from bot.slack.mrkdwn import escape, md_to_mrkdwn, split_mrkdwn

APPROVE = "step_approve"
SKIP = "step_skip"
RUN = "step_run"
_ACTION = TypeAdapter(Action)
MAX_LEAD_MESSAGES = 3  # context messages before a step; past them, a pointer
# The step message keeps this much room for its header (150), the "context
# above" note, the gate line and the buttons or the decision line (500 each).
_RESERVE = 1_300
_LINE_CHARS = 500
_BODY_CHARS = MESSAGE_TEXT_BUDGET - _RESERVE
_BODY_BLOCKS = MAX_BLOCKS - 5
_LEAD_CHARS = MESSAGE_TEXT_BUDGET - 600  # room for the label and a pointer
_MOVED = "_More of this step's context is in the message above._"
_MOVED_MANY = "_More of this step's context is in the messages above._"
_UNLIMITED = 10**6


@dataclass(frozen=True, slots=True)
class StepLayout:
    """A step's content blocks: the messages before it, and its own."""

    lead: tuple[tuple[dict[str, Any], ...], ...]  # each context message's content blocks
    body: tuple[dict[str, Any], ...]  # the step message's, after its header
    moved: bool  # some of the step's own context went to the lead messages


def rest_note(source: str, what: str = "the rest") -> str:
    where = f"the runbook file {source}" if source else "the runbook file"
    return f"_…{what} is in {where}._"


def decision_line(record: DecisionRecord) -> str:
    icon = "✅" if record.decision is Decision.APPROVED else "⏭️"
    verb = "Approved" if record.decision is Decision.APPROVED else "Skipped"
    return f"{icon} *{verb}* by <@{escape(record.by)}> {slack_date(record.at)}"


def _text_blocks(step: FlowStep, source: str) -> list[dict[str, Any]]:
    label = f"{step.label} — " if step.label else ""
    lead = f"*{step.number}.* {escape(label)}" if label else f"*{step.number}.* "
    body = markdown_sections([step.text], _UNLIMITED)
    if not body:
        return [section(lead.strip())]
    body[0] = section(lead + body[0]["text"]["text"])
    note = rest_note(source, "the rest of this step")
    return fit_blocks(body, keep_tail=0, note=note, budget=MAX_STEP_TEXT_CHARS)


def layout(step: FlowStep, source: str = "") -> StepLayout:
    """Where each part of ``step`` goes; ``source`` names the runbook file."""
    intro = [
        context(piece)
        for part in step.phase_intro
        for piece in split_mrkdwn(md_to_mrkdwn(part), 2900)
        if piece.strip()
    ]
    text = _text_blocks(step, source)
    extra = markdown_sections(list(step.context), _UNLIMITED)
    # A step with an action also shows what it runs and how its run went.
    chars = _BODY_CHARS - (2 * _LINE_CHARS if step.action else 0)
    blocks = _BODY_BLOCKS - (2 if step.action else 0)
    if fits([*intro, *text, *extra], budget=chars, max_blocks=blocks):
        return StepLayout((), (*intro, *text, *extra), False)
    body = list(text)
    kept = 0
    for block in extra:
        if not fits([*body, block], budget=chars, max_blocks=blocks):
            break
        body.append(block)
        kept += 1
    moved = extra[kept:]
    return StepLayout(_pack([*intro, *moved], source), tuple(body), bool(moved))


def _pack(blocks: list[dict[str, Any]], source: str) -> tuple[tuple[dict[str, Any], ...], ...]:
    """Blocks into messages of at most ``_LEAD_CHARS``, each filled (the block at a
    message's end split where it can be); past the last one allowed, a pointer."""
    messages: list[list[dict[str, Any]]] = [[]]
    for block in blocks:
        rest: dict[str, Any] | None = block
        while rest is not None:
            current = messages[-1]
            if fits([*current, rest], budget=_LEAD_CHARS, max_blocks=MAX_BLOCKS - 2):
                current.append(rest)
                break
            if not current:  # cannot happen with blocks of ≤ 3,000 characters
                current.append(context(rest_note(source)))
                break
            head, rest = _split(rest, _LEAD_CHARS - text_length(current))
            if head is not None:
                current.append(head)
            messages.append([])
    if len(messages) > MAX_LEAD_MESSAGES:
        messages = messages[:MAX_LEAD_MESSAGES]
        messages[-1].append(context(rest_note(source)))
    return tuple(tuple(m) for m in messages)


def _split(block: dict[str, Any], room: int) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """``block`` (a section or a one-element context) as a part of at most ``room``
    characters and the rest; (None, block) when it is not worth it."""
    if block["type"] == "section":
        text = block["text"]["text"]
    elif block["type"] == "context" and len(block["elements"]) == 1:
        text = block["elements"][0]["text"]
    else:
        return None, block
    pieces = split_mrkdwn(text, room - 10) if room > 500 else []
    if len(pieces) < 2:
        return None, block
    make = section if block["type"] == "section" else context
    return make(pieces[0]), make("\n".join(pieces[1:]))


def _head(step: FlowStep, drill: bool) -> dict[str, Any]:
    where = "Rollback" if step.rollback else step.phase
    return header(drilled(f"{where} · step {step.position} of {step.total}", drill))


def _body(step: FlowStep, shape: StepLayout, drill: bool) -> list[dict[str, Any]]:
    blocks = [_head(step, drill)]
    if shape.moved:
        blocks.append(context(_MOVED if len(shape.lead) == 1 else _MOVED_MANY))
    return [*blocks, *shape.body]


def lead_messages(step: FlowStep, source: str = "", *, drill: bool = False) -> list[Payload]:
    """The context messages posted (in order) before the step's own message."""
    return _lead_messages(step, layout(step, source), drill)


def _lead_messages(step: FlowStep, shape: StepLayout, drill: bool) -> list[Payload]:
    where = "Rollback" if step.rollback else step.phase
    out = []
    for n, blocks in enumerate(shape.lead, start=1):
        of = f"({n}/{len(shape.lead)})"
        label = f"Step {step.position} of {step.total} — context {of}"
        head = f"*{escape(where)} · step {step.position} of {step.total}* — context {of}"
        title = context(drilled(head, drill))
        out.append({"text": drilled(label, drill), "blocks": [title, *blocks]})
    return out


def action_preview(step: FlowStep) -> str | None:
    """What the step's Run runs: ``POST https://…`` or the argv quoted (None: nothing)."""
    if step.action_spec is None:
        return None
    try:
        return str(_ACTION.validate_python(step.action_spec).preview)
    except ValidationError:  # a snapshot no release reads any more: no Run button
        return None


def action_line(step: FlowStep) -> list[dict[str, Any]]:
    """``▶️ Run: `argv` `` — or why the step's action cannot be run."""
    if step.action is None:
        return []
    shown = action_preview(step)
    if shown is None:
        name = escape(step.action)
        return [context(f"▶️ Action `{name}` is not in the actions file: it cannot be run here.")]
    code = escape(shown).replace("`", "'")
    return [context(truncate(f"▶️ *Run* runs `{code}`", _LINE_CHARS))]


def run_button(run_id: int, step: FlowStep, label: str = "▶️ Run") -> dict[str, Any]:
    shown = escape(action_preview(step) or "").replace("`", "'")
    confirm = {
        "title": {"type": "plain_text", "text": "Run this action?"},
        "text": {"type": "mrkdwn", "text": truncate(f"`{shown}`", 300)},
        "confirm": {"type": "plain_text", "text": "Run"},
        "deny": {"type": "plain_text", "text": "Not now"},
    }
    return button(label, RUN, StepButton(run_id, step.index).to_json(), "primary", confirm)


def step_actions(run_id: int, step: FlowStep, *elements: dict[str, Any]) -> dict[str, Any]:
    """The step's buttons, in the block decisions are matched by."""
    return {
        "type": "actions",
        "block_id": f"step:{run_id}:{step.index}",
        "elements": list(elements),
    }


def step_body(step: FlowStep, *, drill: bool = False, source: str = "") -> list[dict[str, Any]]:
    """The step message's content above its status line and buttons."""
    return _body(step, layout(step, source), drill)


def gate_lines(
    step: FlowStep,
    roles: Mapping[str, str],
    partial: Sequence[str] = (),
    decision: str = "approved",
    incident_key: str = "",
) -> list[dict[str, Any]]:
    """What a gated step needs, and how far its approvals have come."""
    if step.approval is None:
        return []
    lines = [gates.describe(step.approval, roles, incident_key)]
    if partial:
        lines.append(gates.progress(partial, step.approval.people, decision))
    return [context(truncate(" · ".join(lines), _LINE_CHARS))]


def step_message(
    run_id: int,
    step: FlowStep,
    roles: Mapping[str, str] | None = None,
    partial: Sequence[str] = (),
    decision: str = "approved",
    *,
    drill: bool = False,
    source: str = "",
    incident_key: str = "",
) -> Payload:
    """A step waiting for its decision: Approve (primary) and Skip; a gated
    step says who must decide it (and, once partly approved, how far it is).
    The last of the step's messages: :func:`lead_messages` go before it."""
    shape = layout(step, source)
    return _step_message(run_id, step, shape, roles, partial, decision, drill, incident_key)


def _step_message(
    run_id: int,
    step: FlowStep,
    shape: StepLayout,
    roles: Mapping[str, str] | None,
    partial: Sequence[str],
    decision: str,
    drill: bool,
    incident_key: str = "",
) -> Payload:
    blocks = _body(step, shape, drill)
    blocks += gate_lines(step, roles or {}, partial, decision, incident_key)
    blocks += action_line(step)
    value = StepButton(run_id, step.index).to_json()
    runnable = action_preview(step) is not None
    approve = button("✅ Approve", APPROVE, value, None if runnable else "primary")
    run = [run_button(run_id, step)] if runnable else []
    blocks.append(step_actions(run_id, step, *run, approve, button("⏭️ Skip", SKIP, value)))
    text = f"Step {step.position} of {step.total}: {truncate(md_to_mrkdwn(step.text), 300)}"
    if partial and step.approval is not None:
        text += f" ({len(partial)} of {step.approval.people} approvals)"
    return {"text": truncate(drilled(text, drill), TEXT_LIMIT), "blocks": blocks}


def step_messages(
    run_id: int,
    step: FlowStep,
    roles: Mapping[str, str] | None = None,
    *,
    drill: bool = False,
    source: str = "",
    incident_key: str = "",
) -> list[Payload]:
    """Every message that posts a step, in order: its context messages, then
    the step's own (with its buttons)."""
    shape = layout(step, source)
    last = _step_message(run_id, step, shape, roles, (), "approved", drill, incident_key)
    return [*_lead_messages(step, shape, drill), last]


def decided_step_message(
    step: FlowStep,
    record: DecisionRecord,
    approvers: Sequence[str] = (),
    *,
    drill: bool = False,
    source: str = "",
    note: str | None = None,
    reason: str | None = None,
) -> Payload:
    """The same step after its decision: who, when, why (a skip's reason), and
    no buttons left (``note``: a line above the decision's, e.g. how its action ended)."""
    blocks = _body(step, layout(step, source), drill)
    if note:
        blocks.append(context(truncate(note, _LINE_CHARS)))
    line = decision_line(record)
    others = [u for u in approvers if u != record.by]
    if others:
        line += " · also " + ", ".join(f"<@{escape(u)}>" for u in others)
    if reason and record.decision is Decision.SKIPPED:
        line += f" — “{escape(reason)}”"
    blocks.append(context(truncate(line, _LINE_CHARS)))
    verb = "approved" if record.decision is Decision.APPROVED else "skipped"
    names = " and ".join(f"<@{u}>" for u in [*others, record.by])
    text = f"Step {step.position} of {step.total} {verb} by {names}"
    return {"text": truncate(drilled(text, drill), TEXT_LIMIT), "blocks": blocks}


def ended_step_message(
    step: FlowStep, why: str, *, drill: bool = False, source: str = ""
) -> Payload:
    """A step left waiting when its run ended (aborted, or the incident
    resolved): its buttons gone, one line saying why."""
    blocks = _body(step, layout(step, source), drill)
    blocks.append(context(truncate(f"🛑 {why}", _LINE_CHARS)))
    text = f"Step {step.position} of {step.total}: {why}"
    return {"text": truncate(drilled(text, drill), TEXT_LIMIT), "blocks": blocks}
