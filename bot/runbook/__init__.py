"""Runbook files: model, parser, lint, --fix and library loading (SPEC §4, §11),
and the `[approval: …]` step tag (SPEC §7)."""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.runbook.approval import parse_approval
    from bot.runbook.fix import fix_text
    from bot.runbook.library import Library, is_runbook_file, load_library
    from bot.runbook.lint import lint_paths, run_lint
    from bot.runbook.model import Approval, Phase, Problem, Runbook, Severity, Step
    from bot.runbook.parser import parse_runbook
    from bot.runbook.phases import is_action_phase

# Imported when first asked for: a command that needs one small module of this
# package (the CLI's reports, the settings' level words) does not pay for the
# Markdown parser, YAML and pydantic models at start.
_HOME = {
    "parse_approval": "approval",
    "fix_text": "fix",
    "Library": "library",
    "is_runbook_file": "library",
    "load_library": "library",
    "lint_paths": "lint",
    "run_lint": "lint",
    "Approval": "model",
    "Phase": "model",
    "Problem": "model",
    "Runbook": "model",
    "Severity": "model",
    "Step": "model",
    "parse_runbook": "parser",
    "is_action_phase": "phases",
}


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(import_module(f"bot.runbook.{_HOME[name]}"), name)
    raise AttributeError(f"module 'bot.runbook' has no attribute {name!r}")


__all__ = [
    "Approval",
    "Library",
    "Phase",
    "Problem",
    "Runbook",
    "Severity",
    "Step",
    "fix_text",
    "is_action_phase",
    "is_runbook_file",
    "lint_paths",
    "load_library",
    "parse_approval",
    "parse_runbook",
    "run_lint",
]
