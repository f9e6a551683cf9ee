"""Block Kit for a step's action: pure functions from a step and an execution's
facts to the step message while it runs and after, and to the output posted in
the run's thread.

The step message keeps its layout (``step_blocks``); below its content it says
what the action runs, how its execution is going, and offers what is left:
nothing while it runs, Run again / Skip after a failure or when the bot
stopped while it ran (it may have run).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from bot.incidents.blocks import drilled
from bot.runs.engine import FlowStep
from bot.runs.step_blocks import (
    SKIP,
    action_line,
    action_preview,
    gate_lines,
    run_button,
    step_actions,
    step_body,
)
from bot.slack.blockkit import TEXT_LIMIT, Payload, button, context, section, slack_date, truncate
from bot.slack.buttons import StepButton
from bot.slack.mrkdwn import escape

__all__ = [
    "Ran",
    "failed_message",
    "in_doubt_message",
    "output_message",
    "result_line",
    "running_message",
    "stopped_message",
]

_LINE_CHARS = 500
_OUTPUT_CHARS = 2_800  # of a section's 3,000: the label and the fences


@dataclass(frozen=True, slots=True)
class Ran:
    """One execution as its messages show it."""

    execution_id: int
    attempt: int
    by: str | None  # who clicked Run; None: the bot itself (an idempotent rerun)
    started_at: datetime
    summary: str = ""  # "succeeded", "failed with exit code 3", "timed out after 60s"
    ok: bool = False
    duration_s: float | None = None


def _who(user: str | None) -> str:
    return f"<@{escape(user)}>" if user else "the bot"


def _took(ran: Ran) -> str:
    return f" in {ran.duration_s:.1f}s" if ran.duration_s is not None else ""


def result_line(ran: Ran) -> str:
    """``✅ Action succeeded in 1.2s — run by <@U…>`` (or ❌ failed / timed out)."""
    icon = "✅" if ran.ok else "❌"
    what = escape(ran.summary or "ended")
    return f"{icon} Action {what}{_took(ran)} — run by {_who(ran.by)} {slack_date(ran.started_at)}"


def _message(step: FlowStep, blocks: list[dict], text: str, drill: bool) -> Payload:
    label = f"Step {step.position} of {step.total}: {text}"
    return {"text": truncate(drilled(label, drill), TEXT_LIMIT), "blocks": blocks}


def running_message(step: FlowStep, ran: Ran, *, drill: bool = False, source: str = "") -> Payload:
    """The step while its action runs: who started it, and no buttons (a click
    now would be refused: one execution at a time)."""
    blocks = [*step_body(step, drill=drill, source=source), *action_line(step)]
    line = f"⏳ *Running* — started by {_who(ran.by)} {slack_date(ran.started_at)}"
    if ran.attempt > 1:
        line += f" (attempt {ran.attempt})"
    blocks.append(context(truncate(line, _LINE_CHARS)))
    return _message(step, blocks, f"running — started by {_who(ran.by)}", drill)


def _open(
    run_id: int,
    step: FlowStep,
    roles: Mapping[str, str],
    line: str,
    drill: bool,
    source: str,
) -> list[dict]:
    """The step still open after its action: the gate, the line, Run again / Skip."""
    blocks = [*step_body(step, drill=drill, source=source), *gate_lines(step, roles)]
    blocks += [*action_line(step), context(truncate(line, _LINE_CHARS))]
    skip = button("⏭️ Skip", SKIP, StepButton(run_id, step.index).to_json())
    again = [run_button(run_id, step, "🔁 Run again")] if action_preview(step) else []
    blocks.append(step_actions(run_id, step, *again, skip))
    return blocks


def failed_message(
    run_id: int,
    step: FlowStep,
    ran: Ran,
    roles: Mapping[str, str] | None = None,
    *,
    drill: bool = False,
    source: str = "",
) -> Payload:
    """The action failed: the step stays open with Run again / Skip."""
    blocks = _open(run_id, step, roles or {}, result_line(ran), drill, source)
    return _message(step, blocks, f"action {ran.summary}", drill)


def in_doubt_message(
    run_id: int,
    step: FlowStep,
    ran: Ran,
    roles: Mapping[str, str] | None = None,
    *,
    drill: bool = False,
    source: str = "",
) -> Payload:
    """The bot stopped while the action ran: it may have run. Never rerun by
    itself; the people decide (Run again / Skip)."""
    line = (
        f"⚠️ The bot stopped while this action ran (started by {_who(ran.by)} "
        f"{slack_date(ran.started_at)}): *it may have run*. Check, then Run again or Skip."
    )
    blocks = _open(run_id, step, roles or {}, line, drill, source)
    return _message(step, blocks, "the action may have run — Run again or Skip", drill)


def stopped_message(step: FlowStep, line: str, *, drill: bool = False, source: str = "") -> Payload:
    """The action ended after its run did (aborted, resolved): its result, no buttons."""
    blocks = [*step_body(step, drill=drill, source=source), *action_line(step)]
    blocks.append(context(truncate(line, _LINE_CHARS)))
    return _message(step, blocks, "action ended", drill)


def output_message(step: FlowStep, ran: Ran, tail: str, *, drill: bool = False) -> Payload:
    """The output's last lines (already masked and at most 20) as a code block
    in the run's thread."""
    where = f"step {step.position} of {step.total}"
    head = f"{'✅' if ran.ok else '❌'} *Output* of {where}"
    if ran.attempt > 1:
        head += f" (attempt {ran.attempt})"
    head += f" — {escape(ran.summary)}{_took(ran)}"
    shown = escape(tail.replace("```", "'''"))[-_OUTPUT_CHARS:]
    body = f"```\n{shown}\n```" if shown.strip() else "_(no output)_"
    text = f"Output of {where}: {ran.summary}"
    return {
        "text": truncate(drilled(text, drill), TEXT_LIMIT),
        "blocks": [section(truncate(head, 300)), section(body)],
    }
