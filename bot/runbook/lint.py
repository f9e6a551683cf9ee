"""Lint rules for runbook files, and the `runbook-bot lint` command.

Errors keep a file out of the library (and make `lint` exit 1); warnings are
advice. Every "no steps" error says what the file has instead, so an author
knows whether to number bullets (or run `--fix`) or restructure.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from bot.runbook.model import Phase, Problem, Severity, Step
from bot.slack.mrkdwn import md_to_mrkdwn

if TYPE_CHECKING:
    from bot.runbook.parser import Doc, Section

__all__ = ["document_problems", "is_action_phase", "lint_paths", "run_lint"]

_ACTION_RE = re.compile(
    r"\b(steps?|procedures?|instructions|resolution|resolve|mitigat\w*|remediat\w*|recover\w*"
    r"|diagnos\w*|immediate|actions?|verif\w*|validat\w*|contain\w*|triage|investigat\w*"
    r"|restor\w*|fail[- ]?over|execut\w*|workaround|fix(es)?)\b",
    re.IGNORECASE,
)

FIX_HINT = "number them, or run `runbook-bot lint --fix`"
MAX_STEP_CHARS = 12_000  # a step may span a few section blocks, not a whole message
MAX_PIECE_CHARS = 3_000  # Block Kit section text limit
_TABLE_RE = re.compile(r"^[ \t]*\|?[ \t]*:?-+:?[ \t]*\|", re.MULTILINE)  # a GFM delimiter row


def is_action_phase(name: str) -> bool:
    """Phases whose bullets are really steps (Steps, Mitigation, Verification, ...)."""
    lowered = name.strip().lower()
    if lowered.startswith(("rollback", "roll back")):
        return False
    return _ACTION_RE.search(name) is not None


def document_problems(
    doc: Doc, path: str, normal: tuple[Phase, ...], rollbacks: list[Phase]
) -> list[Problem]:
    """Structural problems of one parsed document (front matter is checked by the parser)."""
    problems: list[Problem] = []
    sections = {s.line: s for s in doc.sections}
    if not any(phase.steps for phase in normal):
        problems.append(_no_steps(doc, path, normal, rollbacks))
    else:
        for phase in normal:
            section = sections.get(phase.line)
            if phase.steps or section is None or not is_action_phase(phase.name):
                continue
            if section.plain_bullets:
                count = _plural(section.plain_bullets, "plain bullet")
                verb = "is not a step" if section.plain_bullets == 1 else "are not steps"
                message = f"{count} under {phase.name} {verb}: {FIX_HINT}"
                problems.append(Problem(path, phase.line, message, Severity.WARNING))
            elif section.command_pairs:
                pairs = len(section.command_pairs)
                count = _plural(pairs, "paragraph")
                verb = "is not a step" if pairs == 1 else "are not steps"
                message = f"{count} with commands under {phase.name} {verb}: {FIX_HINT}"
                problems.append(Problem(path, phase.line, message, Severity.WARNING))
    for extra in rollbacks[1:]:
        message = (
            f"a second rollback section '{extra.name}' is ignored "
            f"(line {rollbacks[0].line} is the one offered on abort)"
        )
        problems.append(Problem(path, extra.line, message, Severity.WARNING))
    for phase in (*normal, *rollbacks[:1]):
        for step in phase.steps:
            problem = _step_problem(path, phase, step)
            if problem is not None:
                problems.append(problem)
    return problems


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _no_steps(doc: Doc, path: str, normal: tuple[Phase, ...], rollbacks: list[Phase]) -> Problem:
    what = "no numbered (1.) or checkbox (- [ ]) items"
    if not doc.has_headings:
        return Problem(path, 1, f"no steps: the file has no ## sections and {what}")
    by_line = {s.line: s for s in doc.sections}
    sections: list[Section] = [by_line[p.line] for p in normal if p.line in by_line]
    action = [s for s in sections if is_action_phase(s.name)]
    bullets = sorted((s for s in action if s.plain_bullets), key=lambda s: -s.plain_bullets)
    if bullets:
        first, *rest = bullets
        parts = [f"{_plural(first.plain_bullets, 'plain bullet')} under {first.name}"]
        parts += [f"{s.plain_bullets} under {s.name}" for s in rest]
        verb = (
            "looks like a step" if len(bullets) == 1 == first.plain_bullets else "look like steps"
        )
        message = f"no steps: {', '.join(parts)} {verb}: {FIX_HINT}"
        return Problem(path, first.line, message)
    pairs = [s for s in action if s.command_pairs]
    if pairs:
        first = pairs[0]
        count = _plural(len(first.command_pairs), "paragraph")
        verb = "looks like a step" if len(first.command_pairs) == 1 else "look like steps"
        message = f"no steps: {count} with commands under {first.name} {verb}: {FIX_HINT}"
        return Problem(path, first.line, message)
    for section in sections:
        for block in section.blocks:
            nested = next((i.nested_step_line for i in block.items if i.nested_step_line), None)
            if nested:
                message = (
                    f"no steps: the numbered items on line {nested} are nested inside a bullet; "
                    "steps must be top-level list items under a ## section"
                )
                return Problem(path, nested, message)
    if rollbacks and rollbacks[0].steps:
        message = f"no steps: only the rollback section '{rollbacks[0].name}' has steps"
        return Problem(path, rollbacks[0].line, message)
    plain = sum(s.plain_bullets for s in sections)
    if plain:
        names = ", ".join(dict.fromkeys(s.name for s in sections if s.plain_bullets))
        message = (
            f"no steps: {_plural(plain, 'plain bullet')} (under {names}) but {what}; "
            "number the ones that are steps"
        )
        return Problem(path, 1, message)
    if not sections:
        return Problem(path, 1, f"no steps: the file has only a rollback section and {what}")
    names = ", ".join(s.name for s in sections[:6]) + (", ..." if len(sections) > 6 else "")
    count = _plural(len(sections), "section")
    return Problem(path, 1, f"no steps: {count} ({names}) but {what}")


def _step_problem(path: str, phase: Phase, step: Step) -> Problem | None:
    parts = (step.text, *step.context)
    raw = sum(len(part) for part in parts)
    # Conversion at most multiplies length by 5 (`&` -> `&amp;`) except for tables'
    # padding; skip the render for the common short step.
    if raw * 5 + 100 < MAX_PIECE_CHARS and not any(_TABLE_RE.search(part) for part in parts):
        return None
    rendered = [md_to_mrkdwn(part) for part in parts]
    total = sum(len(text) for text in rendered)
    where = f"step {step.number} of {phase.name}"
    if total > MAX_STEP_CHARS:
        return Problem(
            path,
            step.line,
            f"{where} is too long to post to Slack ({total} characters as mrkdwn, "
            f"limit {MAX_STEP_CHARS}): split it or link to the details",
        )
    longest = max((len(line) for text in rendered for line in text.split("\n")), default=0)
    if longest > MAX_PIECE_CHARS:
        return Problem(
            path,
            step.line,
            f"{where} has a {longest}-character line, too long for one Slack block "
            f"(limit {MAX_PIECE_CHARS}): break it up",
        )
    return None


def lint_paths(paths: Sequence[Path | str]) -> list[Problem]:
    """Lint files and folders (recursively); problems sorted by path and line."""
    from bot.runbook.library import check_files, discover, sort_problems

    files, problems = discover(paths)
    _, more = check_files(files)
    return sort_problems([*problems, *more])


def _step_total(text: str) -> int:
    from bot.runbook.parser import analyze

    return sum(s.step_count for s in analyze(text).sections if not s.is_rollback)


def run_lint(paths: Sequence[str], *, fix: bool, out: TextIO, err: TextIO) -> int:
    """`runbook-bot lint [--fix] PATH...`: print problems, return the exit status."""
    from bot.runbook.fix import fix_text
    from bot.runbook.library import check_files, discover, sort_problems

    files, problems = discover(paths)
    if fix:
        for file in files:
            try:
                raw = file.read_bytes()
                text = raw.decode("utf-8")
            except (OSError, UnicodeDecodeError):
                continue  # reported by the lint pass below
            fixed = fix_text(text, str(file))
            if fixed == text:
                continue
            try:
                file.write_bytes(fixed.encode("utf-8"))
            except OSError as exc:
                print(f"{file}: cannot write fix: {exc.strerror or exc}", file=err)
                continue
            numbered = _step_total(fixed) - _step_total(text)
            print(f"fixed {file} ({_plural(numbered, 'step')} numbered)", file=out)
    _, more = check_files(files)
    problems = sort_problems([*problems, *more])
    for problem in problems:
        print(problem, file=out)
    errors = sum(p.severity is Severity.ERROR for p in problems)
    warnings = len(problems) - errors
    summary = (
        f"{_plural(len(files), 'file')} checked, "
        f"{_plural(errors, 'error')}, {_plural(warnings, 'warning')}"
    )
    print(summary, file=out)
    return 1 if errors else 0
