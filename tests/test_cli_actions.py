"""``runbook-bot actions`` through the installed console script: the listing,
its JSON, and the problems (``path:line: message``, exit 1)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.test_cli import run

ACTIONS = f"""\
actions:
  - id: cache-health
    kind: command
    description: Print the cache's health
    argv: [{sys.executable}, -c, "print('ok')", "{{incident}}"]
    timeout: 30s
    idempotent: true
  - id: cache-flush
    kind: http
    url: https://ops.example.com/cache/flush
    timeout: 2m
  - id: page
    kind: http
    method: put
    url: https://pager.example.com/v1/page
"""

RB_A = """\
---
id: RB-A
title: Cache trouble
---

# Cache trouble

## Steps

1. Check the cache's health. [run: cache-health]
2. Flush the cache. [approval: commander] [run: cache-flush]

## Rollback

1. Check the cache's health again. [run: cache-health]
"""

RB_B = """\
---
id: RB-B
title: Plain
---

# Plain

## Steps

1. Look at the dashboard.
"""


def folder(tmp_path: Path, actions: str = ACTIONS, extra: str = "") -> Path:
    root = tmp_path / "runbooks"
    root.mkdir()
    (root / "actions.yaml").write_text(actions)
    (root / "RB-A.md").write_text(RB_A + extra)
    (root / "RB-B.md").write_text(RB_B)
    return root


def test_lists_each_action_and_the_steps_that_run_it(tmp_path: Path) -> None:
    folder(tmp_path)
    proc = run(["actions", "runbooks"], tmp_path, ESCALATION_ACTION="page")
    assert (proc.returncode, proc.stderr) == (0, ""), proc.stderr
    assert proc.stdout.splitlines() == [
        "runbooks/actions.yaml: 3 actions",
        "",
        "cache-health (command, timeout 30s, idempotent)",
        f"  runs:  {sys.executable} -c \"print('ok')\" {{incident}}",
        "  what:  Print the cache's health",
        "  steps: runbooks/RB-A.md:10 (RB-A, Steps step 1)",
        "         runbooks/RB-A.md:15 (RB-A, Rollback step 1)",
        "",
        "cache-flush (http, timeout 2m)",
        "  runs:  POST https://ops.example.com/cache/flush",
        "  steps: runbooks/RB-A.md:11 (RB-A, Steps step 2)",
        "",
        "page (http, timeout 1m, ESCALATION_ACTION)",
        "  runs:  PUT https://pager.example.com/v1/page",
        "  steps: none",
    ]


def test_json_and_the_default_folder(tmp_path: Path) -> None:
    root = folder(tmp_path)
    proc = run(["actions", "--format", "json"], tmp_path, RUNBOOKS_DIR=str(root))
    assert proc.returncode == 0, proc.stderr
    listing = json.loads(proc.stdout)
    assert listing["file"] == str(root / "actions.yaml") and listing["problems"] == []
    health, flush, page = listing["actions"]
    assert health == {
        "id": "cache-health",
        "kind": "command",
        "preview": f"{sys.executable} -c \"print('ok')\" {{incident}}",
        "timeout_seconds": 30.0,
        "idempotent": True,
        "description": "Print the cache's health",
        "escalation": False,
        "steps": [
            {"path": str(root / "RB-A.md"), "line": 10, "runbook": "RB-A", "phase": "Steps",
             "step": 1},
            {"path": str(root / "RB-A.md"), "line": 15, "runbook": "RB-A",
             "phase": "Rollback", "step": 1},
        ],
    }  # fmt: skip
    assert (flush["id"], flush["timeout_seconds"], flush["idempotent"]) == (
        "cache-flush",
        120,
        False,
    )
    assert [s["line"] for s in flush["steps"]] == [11]
    assert (page["preview"], page["steps"], page["escalation"]) == (
        "PUT https://pager.example.com/v1/page",
        [],
        False,
    )


def test_a_malformed_file_is_its_problems_and_exit_1(tmp_path: Path) -> None:
    broken = ACTIONS.replace("timeout: 30s", "timeout: soon")
    folder(tmp_path, broken)
    proc = run(["actions", "runbooks"], tmp_path)
    assert proc.returncode == 1
    assert proc.stdout == ""  # no listing of a file that defines nothing
    assert proc.stderr.splitlines() == [
        "runbooks/actions.yaml:6: actions.0.timeout: expected a duration "
        "(90s, 15m, 1h, 1d, HH:MM:SS or seconds), got 'soon'"
    ]
    as_json = run(["actions", "runbooks", "--format", "json"], tmp_path)
    assert as_json.returncode == 1
    document = json.loads(as_json.stdout)
    assert document["actions"] == []
    assert [(p["line"], p["message"][:17]) for p in document["problems"]] == [
        (6, "actions.0.timeout")
    ]


def test_unknown_ids_and_escalation_action_are_problems(tmp_path: Path) -> None:
    folder(tmp_path, extra="2. Restart the world. [run: restart-world]\n")
    proc = run(["actions", "runbooks"], tmp_path, ESCALATION_ACTION="pagerduty")
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [
        "runbooks/RB-A.md:16: step 2 of 'Rollback' runs unknown action 'restart-world' "
        "(not in runbooks/actions.yaml)",
        "runbook-bot: ESCALATION_ACTION 'pagerduty' is not an action of runbooks/actions.yaml",
    ]
    assert "cache-health (command" in proc.stdout  # the listing still shows what is defined


def test_without_an_actions_file(tmp_path: Path) -> None:
    root = tmp_path / "runbooks"
    root.mkdir()
    (root / "RB-B.md").write_text(RB_B)
    proc = run(["actions", "runbooks"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "No actions file (runbooks/actions.yaml): no step runs an action.\n"
