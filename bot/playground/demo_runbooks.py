"""The playground's runbooks: the bundled library plus RB-00, whose steps run
harmless local commands — so an executable step shows out of the box.

Only when ``RUNBOOKS_DIR`` is not set: the playground copies the bundled
runbooks and ``demo/RB-00.md`` into its temporary folder and writes an actions
file there naming this Python and ``demo/health_check.py`` by absolute path
(the program a step runs must exist wherever the package is installed).
"""

from __future__ import annotations

import json
import shutil
import sys
from importlib import resources
from pathlib import Path

__all__ = ["actions_yaml", "demo_dir", "demo_folder"]


def demo_dir() -> Path:
    return Path(str(resources.files("bot.playground") / "demo"))


def actions_yaml(python: str, script: Path) -> str:
    """The demo's actions file: two commands, never a shell."""

    def argv(check: str) -> str:
        return json.dumps([python, str(script), check, "{incident}"])

    return f"""\
# Written by `runbook-bot playground` at start: harmless local commands.
actions:
  - id: health-check
    kind: command
    description: Check the portal's endpoints (a local demo program)
    argv: {argv("health")}
    timeout: 20s
    idempotent: true
  - id: queue-depth
    kind: command
    description: Measure the upload queue (a local demo program; fails while over threshold)
    argv: {argv("queue")}
    timeout: 20s
"""


def demo_folder(into: Path, bundled: Path) -> Path:
    """``into/runbooks``: the bundled runbooks, RB-00 and its actions file."""
    folder = into / "runbooks"
    folder.mkdir(exist_ok=True)
    for source in bundled.iterdir():
        if source.is_file() and not source.is_symlink() and source.name != "actions.yaml":
            shutil.copy(source, folder / source.name)
    demo = demo_dir()
    shutil.copy(demo / "RB-00.md", folder / "RB-00.md")
    script = demo / "health_check.py"
    (folder / "actions.yaml").write_text(actions_yaml(sys.executable, script), encoding="utf-8")
    return folder
