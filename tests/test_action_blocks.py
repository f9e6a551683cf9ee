"""A step's action in Block Kit (pure): what Run runs, the step while it runs and
after, the output in the thread — within Slack's limits whatever the step holds."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.runbook.actions import parse_actions
from bot.runs import action_blocks, blocks
from bot.runs.engine import FlowStep, snapshot_runbook, state_from_snapshot
from tests.test_message_size import within
from tests.test_step_size import SOURCE, prose, runbook_of

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
ACTIONS = parse_actions(
    b"""
actions:
  - id: flush
    kind: command
    argv: [/usr/bin/redis-cli, "FLUSHALL ASYNC", "{incident}"]
  - id: page
    kind: http
    url: https://pager.example.com/hook?a=1&b=<2>
    method: put
""",
    "actions.yaml",
).actions


def steps(text: str, actions: Any = ACTIONS) -> list[FlowStep]:
    return list(state_from_snapshot(snapshot_runbook(runbook_of(text), actions)).steps)


def ids(payload: dict[str, Any]) -> list[str]:
    return [
        e["action_id"] for b in payload["blocks"] if b["type"] == "actions" for e in b["elements"]
    ]


def test_a_step_shows_what_run_runs_and_a_run_button() -> None:
    flush, page, plain = steps(
        "## Steps\n\n1. Flush. [run: flush]\n2. Page. [run: page]\n3. Look.\n"
    )
    message = within(blocks.step_message(4, flush))
    assert ids(message) == ["step_run", "step_approve", "step_skip"]
    assert "/usr/bin/redis-cli 'FLUSHALL ASYNC' {incident}" in str(message["blocks"])
    run = message["blocks"][-1]["elements"][0]
    assert run["value"] == "4:0" and message["blocks"][-1]["block_id"] == "step:4:0"
    assert "confirm" in run
    # The URL escaped for mrkdwn (& < >), the method as the file says it.
    shown = str(within(blocks.step_message(4, page))["blocks"])
    assert "PUT https://pager.example.com/hook?a=1&amp;b=&lt;2&gt;" in shown
    assert ids(within(blocks.step_message(4, plain))) == ["step_approve", "step_skip"]


def test_an_action_missing_from_the_actions_file_has_no_run_button() -> None:
    (step,) = steps("## Steps\n\n1. Flush. [run: flush]\n", actions={})
    assert step.action == "flush" and step.action_spec is None
    message = within(blocks.step_message(4, step))
    assert ids(message) == ["step_approve", "step_skip"]
    assert "Action `flush` is not in the actions file" in str(message["blocks"])


def test_running_failed_in_doubt_and_stopped() -> None:
    (step,) = steps("## Steps\n\n1. Flush. [approval: commander] [run: flush]\n")
    ran = action_blocks.Ran(7, 2, "UBOB", T0)
    running = within(action_blocks.running_message(step, ran))
    assert ids(running) == [] and "started by <@UBOB>" in str(running["blocks"])
    assert "(attempt 2)" in str(running["blocks"])
    failed_ran = action_blocks.Ran(7, 2, "UBOB", T0, "failed with exit code 3", False, 1.25)
    failed = within(action_blocks.failed_message(4, step, failed_ran, {"commander": "UCMD"}))
    assert ids(failed) == ["step_run", "step_skip"]
    text = str(failed["blocks"])
    assert "❌ Action failed with exit code 3 in 1.2s — run by <@UBOB>" in text
    assert "Needs the commander — <@UCMD>" in text and "Run again" in text
    doubt = within(action_blocks.in_doubt_message(4, step, ran))
    assert ids(doubt) == ["step_run", "step_skip"] and "*it may have run*" in str(doubt)
    stopped = within(action_blocks.stopped_message(step, "✅ Action succeeded"))
    assert ids(stopped) == []


def test_output_is_a_code_block_escaped_and_fenced_safely() -> None:
    (step,) = steps("## Steps\n\n1. Flush. [run: flush]\n")
    ran = action_blocks.Ran(7, 1, "UBOB", T0, "succeeded", True, 0.5)
    tail = "\n".join(f"<line {n}> & ```" for n in range(20))
    message = within(action_blocks.output_message(step, ran, tail))
    body = message["blocks"][1]["text"]["text"]
    assert body.startswith("```\n") and body.endswith("\n```") and body.count("```") == 2
    assert "&lt;line 19&gt; &amp;" in body
    empty = within(action_blocks.output_message(step, ran, ""))
    assert "_(no output)_" in str(empty["blocks"])
    huge = within(action_blocks.output_message(step, ran, "x" * 50_000))
    assert huge["blocks"][1]["text"]["text"].endswith("\n```")


def test_a_huge_step_with_an_action_still_fits_every_message() -> None:
    parts = "\n\n".join(f"   {prose(450, f'p{n}-')}" for n in range(6))
    (step,) = steps(f"## Steps\n\n1. Do it. [approval: 2 people] [run: flush]\n\n{parts}\n")
    ran = action_blocks.Ran(7, 3, "UBOB", T0, "timed out after 60s", False, 60.0)
    for payload in (
        *blocks.step_messages(9, step, {"commander": "UCMD"}, source=SOURCE),
        blocks.step_message(9, step, {}, [f"U{n}" for n in range(40)], source=SOURCE),
        action_blocks.running_message(step, ran, source=SOURCE),
        action_blocks.failed_message(9, step, ran, {"commander": "UCMD"}, source=SOURCE),
        action_blocks.in_doubt_message(9, step, ran, source=SOURCE),
        action_blocks.stopped_message(step, "x" * 2000, source=SOURCE),
    ):
        within(payload)
