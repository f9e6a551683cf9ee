"""``runbook-bot actions``: what the actions file defines and which steps run each.

Read-only, like ``lint``: the actions file (``actions.yaml`` in the runbooks
folder, or ``ACTIONS_FILE``) and the runbooks' ``[run: …]`` tags. A malformed
file, a step naming an unknown action or an ``ESCALATION_ACTION`` the file
does not define is a problem (``path:line: message`` on stderr, exit 1).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from bot.runbook.actions import CommandAction, HttpAction
from bot.runbook.model import Problem
from bot.runbook.parser import Parsed

__all__ = ["Listing", "Use", "build_listing", "render_json", "render_text", "run"]


@dataclass(frozen=True, slots=True)
class Use:
    """One step that runs an action."""

    path: str
    line: int
    runbook: str
    phase: str
    step: int


@dataclass
class Listing:
    path: str
    exists: bool
    actions: dict[str, HttpAction | CommandAction] = field(default_factory=dict)
    uses: dict[str, list[Use]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    escalation: str | None = None  # ESCALATION_ACTION, when it names an action of the file
    notes: list[str] = field(default_factory=list)  # problems without a line (settings)


def build_listing(
    paths: list[str],
    *,
    runbooks_dir: Path,
    actions_file: Path | None = None,
    escalation: str | None = None,
) -> Listing:
    from bot.runbook.library import (
        actions_path,
        check_files,
        discover_configured,
        read_actions,
    )

    root = Path(paths[0]) if paths else runbooks_dir
    folder = root if root.is_dir() else root.parent
    path = actions_path(folder, actions_file)
    found = read_actions(path)
    files, words, missing = discover_configured(paths or [str(runbooks_dir)], runbooks_dir)
    parsed, _ = check_files(files, words)
    listing = Listing(str(path), found is not None)
    if found is not None:
        listing.actions, listing.problems = dict(found.actions), list(found.problems)
    broken = bool(listing.problems)  # a broken file defines nothing: its errors say why
    listing.problems += missing
    _uses(listing, parsed, broken=broken)
    if escalation and escalation in listing.actions:
        listing.escalation = escalation
    elif escalation and not broken:
        where = f"an action of {path}" if found is not None else f"defined: no {path}"
        listing.notes.append(f"ESCALATION_ACTION '{escalation}' is not {where}")
    return listing


def _uses(listing: Listing, parsed: list[Parsed], *, broken: bool) -> None:
    for result in parsed:
        runbook = result.runbook
        if runbook is None:
            continue
        phases = (*runbook.phases, *((runbook.rollback,) if runbook.rollback else ()))
        for phase in phases:
            for step in phase.steps:
                if step.action is None:
                    continue
                use = Use(runbook.path, step.line, runbook.id, phase.name, step.number)
                if step.action in listing.actions:
                    listing.uses.setdefault(step.action, []).append(use)
                elif not broken:
                    where = f"not in {listing.path}" if listing.exists else "no actions file"
                    message = (
                        f"step {step.number} of '{phase.name}' runs unknown action "
                        f"'{step.action}' ({where})"
                    )
                    listing.problems.append(Problem(runbook.path, step.line, message))


def _timeout(seconds: float) -> str:
    """As the file would write it: 30s, 90s, 5m, 2h."""
    if seconds < 60 or seconds % 60:
        return f"{seconds:g}s"
    return f"{seconds / 60:g}m" if seconds % 3600 else f"{seconds / 3600:g}h"


def render_text(listing: Listing) -> str:
    if not listing.exists:
        return f"No actions file ({listing.path}): no step runs an action.\n"
    count = len(listing.actions)
    lines = [f"{listing.path}: {count} action{'s' if count != 1 else ''}"]
    for action_id, action in listing.actions.items():
        traits = [action.kind, f"timeout {_timeout(action.timeout)}"]
        traits += ["idempotent"] if action.idempotent else []
        traits += ["ESCALATION_ACTION"] if action_id == listing.escalation else []
        lines += ["", f"{action_id} ({', '.join(traits)})", f"  runs:  {action.preview}"]
        if action.description:
            lines.append(f"  what:  {action.description}")
        uses = listing.uses.get(action_id, [])
        steps = [f"{u.path}:{u.line} ({u.runbook}, {u.phase} step {u.step})" for u in uses]
        lines.append(f"  steps: {steps[0] if steps else 'none'}")
        lines += [f"         {s}" for s in steps[1:]]
    return "\n".join(lines) + "\n"


def render_json(listing: Listing) -> str:
    actions = [
        {
            "id": action_id,
            "kind": action.kind,
            "preview": action.preview,
            "timeout_seconds": action.timeout,
            "idempotent": action.idempotent,
            "description": action.description,
            "escalation": action_id == listing.escalation,
            "steps": [
                {
                    "path": u.path,
                    "line": u.line,
                    "runbook": u.runbook,
                    "phase": u.phase,
                    "step": u.step,
                }
                for u in listing.uses.get(action_id, [])
            ],
        }
        for action_id, action in listing.actions.items()
    ]
    problems = [{"path": p.path, "line": p.line, "message": p.message} for p in listing.problems]
    problems += [{"path": None, "line": None, "message": note} for note in listing.notes]
    document = {
        "file": listing.path if listing.exists else None,
        "actions": actions,
        "problems": problems,
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def run(args: argparse.Namespace, settings: Any, out: IO[str], err: IO[str]) -> int:
    """The command: the listing on ``out``, problems on ``err``; 1 when there are any."""
    listing = build_listing(
        list(args.paths),
        runbooks_dir=Path(settings.runbooks_dir),
        actions_file=settings.actions_file,
        escalation=settings.escalation_action,
    )
    for problem in sorted(listing.problems, key=lambda p: (p.path, p.line)):
        err.write(f"{problem}\n")
    for note in listing.notes:
        err.write(f"runbook-bot: {note}\n")
    failed = bool(listing.problems or listing.notes)
    if args.format == "json":
        out.write(render_json(listing))
    elif not any(p.path == listing.path for p in listing.problems):
        out.write(render_text(listing))
    return 1 if failed else 0
