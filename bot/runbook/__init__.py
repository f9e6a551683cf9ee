"""Runbook files: model, parser, lint, --fix and library loading (SPEC §4, §11),
and the `[approval: …]` step tag (SPEC §7)."""

from bot.runbook.approval import parse_approval
from bot.runbook.fix import fix_text
from bot.runbook.library import Library, is_runbook_file, load_library
from bot.runbook.lint import lint_paths, run_lint
from bot.runbook.model import Approval, Phase, Problem, Runbook, Severity, Step
from bot.runbook.parser import parse_runbook
from bot.runbook.phases import is_action_phase

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
