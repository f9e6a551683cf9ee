"""The playground's demo runbook (RB-00) and its actions: what the playground
builds when RUNBOOKS_DIR is not set lints clean, and each step's command runs
through the executor as a Run click would run it."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.playground.demo_runbooks import demo_folder
from bot.playground.server import playground_settings
from bot.runbook import lint_paths, load_library
from bot.runbook.library import read_actions
from bot.runs.executor import run_action
from bot.settings import bundled_runbooks_dir


def test_the_demo_folder_is_the_library_plus_rb00_and_lints_clean(tmp_path: Path) -> None:
    folder = demo_folder(tmp_path, bundled_runbooks_dir())
    assert lint_paths([folder]) == []
    library = load_library(folder)
    bundled = load_library(bundled_runbooks_dir())
    assert list(library.runbooks) == ["RB-00", *bundled.runbooks]
    steps = [step.action for _, step in library.runbooks["RB-00"].steps]
    assert steps == ["health-check", "queue-depth", None]


def test_the_playground_uses_it_unless_runbooks_dir_is_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RUNBOOKS_DIR", raising=False)
    settings = playground_settings(8000, tmp_path)
    assert settings.runbooks_dir == tmp_path / "runbooks"
    assert (tmp_path / "runbooks" / "actions.yaml").is_file()
    mine = tmp_path / "mine"
    mine.mkdir()
    monkeypatch.setenv("RUNBOOKS_DIR", str(mine))
    assert playground_settings(8000, tmp_path / "other").runbooks_dir == mine


async def test_the_demo_commands_run_one_passing_one_failing(tmp_path: Path) -> None:
    found = read_actions(demo_folder(tmp_path, bundled_runbooks_dir()) / "actions.yaml")
    assert found is not None and found.problems == []
    variables = {"incident": "INC-7"}
    health = await run_action(found.actions["health-check"], variables, execution_id=1)
    assert (health.ok, health.code) == (True, 0), health.tail
    lines = health.tail.splitlines()
    assert lines[0] == "Health check for INC-7 (4 endpoints)"
    assert len(lines) == 6 and all(" ms" in line for line in lines[1:5])
    assert lines[-1].startswith("All 4 checks passed")
    queue = await run_action(found.actions["queue-depth"], variables, execution_id=2)
    assert (queue.ok, queue.code, queue.summary) == (False, 2, "failed with exit code 2")
    assert queue.tail.splitlines()[-1] == "FAIL: 1284 jobs pending, over the threshold of 500"
