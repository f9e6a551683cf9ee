"""Executable steps, the pure half: the actions file, the `[run: …]` tag and lint."""

from __future__ import annotations

import io
import json
import logging
import sys
from pathlib import Path
from textwrap import dedent

import pytest

from bot.app import load_actions
from bot.runbook import parse_runbook
from bot.runbook.actions import CommandAction, HttpAction, parse_actions, split_run_tag
from bot.runbook.lint import run_lint
from bot.runs.engine import snapshot_runbook, state_from_snapshot
from bot.settings import Settings

RUNBOOK = """\
---
id: RB-90
title: Restart the cache
---
# Restart the cache

## Mitigation
1. Check the cache's health [run: health]
2. Flush it [approval: 2 people] [run: flush]
3. Tell the team [run: flush] [approval: commander]
4. Look at the graphs
"""

ACTIONS = f"""\
actions:
  - id: health
    kind: command
    description: print the cache's health
    argv: [{sys.executable}, -c, "print('ok {{incident}}')"]
    timeout: 30s
  - id: flush
    kind: http
    url: http://127.0.0.1:9/flush
    body: {{incident: "{{incident}}", who: "{{user}}"}}
    secret_env: FLUSH_SECRET
    idempotent: true
"""


def lint(folder: Path, actions_file: Path | None = None) -> tuple[int, list[str]]:
    out, err = io.StringIO(), io.StringIO()
    status = run_lint(
        [str(folder)], fix=False, out=out, err=err, runbooks_dir=folder, actions_file=actions_file
    )
    assert err.getvalue() == ""
    return status, out.getvalue().splitlines()


def write(folder: Path, actions: str | None, runbook: str = RUNBOOK) -> None:
    (folder / "rb-90.md").write_text(runbook)
    if actions is not None:
        (folder / "actions.yaml").write_text(actions)


def test_run_tag_is_parsed_in_either_order_with_approval() -> None:
    runbook, problems = parse_runbook(RUNBOOK, "rb.md")
    assert problems == []
    assert runbook is not None
    steps = [step for _, step in runbook.steps]
    assert [s.action for s in steps] == ["health", "flush", "flush", None]
    assert steps[0].text == "Check the cache's health"
    assert steps[1].text == "Flush it" and steps[1].approval is not None
    assert steps[1].approval.people == 2
    assert steps[2].text == "Tell the team" and steps[2].approval is not None
    assert steps[2].approval.roles == ("commander",)


def test_unreadable_run_tag_is_a_problem() -> None:
    text = RUNBOOK.replace("[run: health]", "[run: bad id!]")
    _, problems = parse_runbook(text, "rb.md")
    assert [(p.line, "does not name an action id" in p.message) for p in problems] == [(8, True)]
    assert split_run_tag("Open [the runbook] docs") == ("Open [the runbook] docs", None)


def test_actions_file_is_read_into_typed_actions() -> None:
    parsed = parse_actions(ACTIONS.encode(), "actions.yaml")
    assert parsed.problems == []
    health, flush = parsed.actions["health"], parsed.actions["flush"]
    assert isinstance(health, CommandAction) and health.timeout == 30.0
    assert health.idempotent is False
    assert isinstance(flush, HttpAction) and flush.method == "POST" and flush.idempotent
    assert flush.preview == "POST http://127.0.0.1:9/flush"
    assert flush.timeout == 60.0


def test_malformed_actions_file_names_path_and_line() -> None:
    bad = ACTIONS.replace("url: http://127.0.0.1:9/flush", "url: ftp://x/flush")
    parsed = parse_actions(bad.encode(), "actions.yaml")
    assert parsed.actions == {}
    assert [(p.line, p.message.split(":")[0]) for p in parsed.problems] == [(9, "actions.1.url")]
    shell = ACTIONS.replace("kind: command", "kind: shell")
    assert parse_actions(shell.encode(), "a.yaml").problems[0].line == 2
    not_yaml = parse_actions(b"actions: [\n  - id: x\n", "a.yaml")
    assert not_yaml.actions == {} and "not valid YAML" in not_yaml.problems[0].message
    dup = ACTIONS + ACTIONS.split("\n", 1)[1]
    assert "duplicate action id 'health'" in str(parse_actions(dup.encode(), "a.yaml").problems)


def test_lint_passes_with_known_actions(tmp_path: Path) -> None:
    write(tmp_path, ACTIONS)
    status, lines = lint(tmp_path)
    assert (status, lines[-1]) == (0, "1 file checked, 0 errors, 0 warnings")


def test_lint_reports_unknown_action_and_missing_file(tmp_path: Path) -> None:
    write(tmp_path, ACTIONS.replace("id: flush", "id: flush2"))
    status, lines = lint(tmp_path)
    assert status == 1
    unknown = [line for line in lines if "unknown action 'flush'" in line]
    assert [line.split(": ")[0] for line in unknown] == [
        f"{tmp_path / 'rb-90.md'}:9",
        f"{tmp_path / 'rb-90.md'}:10",
    ]
    (tmp_path / "actions.yaml").unlink()
    status, lines = lint(tmp_path)
    assert status == 1 and "(no actions file)" in lines[0]


def test_lint_reports_malformed_file_and_missing_program(tmp_path: Path) -> None:
    write(tmp_path, ACTIONS.replace("    timeout: 30s", "    timeout: soon"))
    status, lines = lint(tmp_path)
    assert status == 1
    assert lines[0].startswith(
        f"{tmp_path / 'actions.yaml'}:6: actions.0.timeout: expected a duration"
    )
    missing = ACTIONS.replace(sys.executable, "/nonexistent/health-check")
    write(tmp_path, missing)
    status, lines = lint(tmp_path)
    assert status == 1
    assert lines[0] == (
        f"{tmp_path / 'actions.yaml'}:2: action 'health': program "
        "'/nonexistent/health-check' does not exist or is not executable"
    )


def test_actions_file_setting_overrides_the_folder(tmp_path: Path) -> None:
    write(tmp_path, "actions: []\n")
    other = tmp_path / "elsewhere.yaml"
    other.write_text(ACTIONS)
    assert lint(tmp_path)[0] == 1
    assert lint(tmp_path, other)[0] == 0


def test_without_actions_file_runbooks_without_tags_lint_as_before(tmp_path: Path) -> None:
    plain = dedent(RUNBOOK).replace(" [run: health]", "").replace(" [run: flush]", "")
    write(tmp_path, None, plain)
    assert lint(tmp_path) == (0, ["1 file checked, 0 errors, 0 warnings"])


def test_a_broken_actions_file_says_why_at_start_and_defines_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write(tmp_path, ACTIONS.replace("kind: http", "kind: ftp"))
    settings = Settings(runbooks_dir=tmp_path)
    with caplog.at_level(logging.INFO, logger="runbook_bot"):
        found = load_actions(settings)
    assert found is not None and found.actions == {}
    assert "actions file problem (no actions are run)" in caplog.text
    assert load_actions(Settings(runbooks_dir=tmp_path / "none")) is None


def test_a_run_snapshot_keeps_each_steps_action() -> None:
    runbook, _ = parse_runbook(RUNBOOK, "rb.md")
    assert runbook is not None
    snapshot = json.loads(json.dumps(snapshot_runbook(runbook)))  # as stored
    state = state_from_snapshot(snapshot)
    assert [s.action for s in state.steps] == ["health", "flush", "flush", None]
    assert "action" not in snapshot["steps"][3]  # steps without one store as before
