"""Lint rules for runbook files, and the `runbook-bot lint` command.

Errors keep a file out of the library (and make `lint` exit 1); warnings are
advice. Every "no steps" error says what the file has instead, so an author
knows whether to number bullets (or run `--fix`) or restructure.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from bot.runbook.model import Phase, Problem, Severity, Step
from bot.runbook.phases import is_action_phase, looked_for
from bot.runbook.whole import MAX_SHOWN_CHARS, MAX_STEP_TEXT_CHARS
from bot.slack.mrkdwn import md_to_mrkdwn

if TYPE_CHECKING:
    from bot.runbook.parser import Doc, Parsed, Section

__all__ = ["document_problems", "is_action_phase", "lint_paths", "run_lint"]

FIX_HINT = "number them, or run `runbook-bot lint --fix`"
WHOLE_PHASE_HINT = (
    "runs each action phase as one step: "
    "number the steps to run them one at a time, or run lint --fix"
)
_TABLE_RE = re.compile(r"^[ \t]*\|?[ \t]*:?-+:?[ \t]*\|", re.MULTILINE)  # a GFM delimiter row


def document_problems(
    doc: Doc,
    path: str,
    normal: tuple[Phase, ...],
    rollbacks: list[Phase],
    action_phases: Sequence[str] = (),
) -> list[Problem]:
    """Structural problems of one parsed document (front matter is checked by the parser)."""
    problems: list[Problem] = []
    sections = {s.line: s for s in doc.sections}
    if not any(phase.steps for phase in normal):
        problems.append(_no_steps(doc, path, normal, rollbacks, action_phases))
    else:
        whole = [p for p in normal if p.steps and p.steps[0].whole_phase]
        if whole:
            details = ", ".join(_whole_detail(p, sections.get(p.line)) for p in whole)
            message = f"{WHOLE_PHASE_HINT} — {details}"
            problems.append(Problem(path, whole[0].line, message, Severity.WARNING))
    for extra in rollbacks[1:]:
        message = (
            f"a second rollback section '{extra.name}' is ignored "
            f"(line {rollbacks[0].line} is the one offered on abort)"
        )
        problems.append(Problem(path, extra.line, message, Severity.WARNING))
    for phase in (*normal, *rollbacks[:1]):
        for n, step in enumerate(phase.steps):
            problems += _step_problems(path, phase, step, n == 0)
    return problems


def _whole_detail(phase: Phase, section: Section | None) -> str:
    """What one whole-phase action phase holds, so the author knows what --fix would do."""
    count = len(phase.steps)
    if phase.steps[0].line != phase.line:
        what = [_plural(count, "### subsection")]
    else:
        what = ["the whole section" + (f" in {count} parts" if count > 1 else "")]
    if section is not None and section.plain_bullets:
        what.append(_plural(section.plain_bullets, "plain bullet"))
    if section is not None and section.command_pairs:
        what.append(_plural(len(section.command_pairs), "paragraph") + " with commands")
    return f"{phase.name} ({', '.join(what)})"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _no_steps(
    doc: Doc, path: str, normal: tuple[Phase, ...], rollbacks: list[Phase], extra: Sequence[str]
) -> Problem:
    what = "no numbered (1.) or checkbox (- [ ]) items"
    if not doc.has_headings:
        return Problem(path, 1, f"no steps: the file has no ## sections and {what}")
    by_line = {s.line: s for s in doc.sections}
    # Only phases that are not action phases (or are bare headings) get here:
    # an action phase with any content runs as one step (SPEC §11).
    sections: list[Section] = [by_line[p.line] for p in normal if p.line in by_line]
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
            f"no steps: {_plural(plain, 'plain bullet')} (under {names}) but {what}, "
            "and no action phase (Steps, Mitigation, ...); number the ones that are steps"
        )
        return Problem(path, 1, message + _words_hint(sections, extra))
    if not sections:
        return Problem(path, 1, f"no steps: the file has only a rollback section and {what}")
    names = ", ".join(s.name for s in sections[:6]) + (", ..." if len(sections) > 6 else "")
    count = _plural(len(sections), "section")
    message = (
        f"no steps: {count} ({names}) but {what}, and no action phase with text "
        "(Steps, Procedure, Diagnosis, Mitigation, Verification, ...)"
    )
    return Problem(path, 1, message + _words_hint(sections, extra))


def _words_hint(sections: list[Section], extra: Sequence[str]) -> str:
    """For phases named in another language: the words looked for, and how to add some."""
    if not any(ord(ch) > 127 and ch.isalpha() for s in sections for ch in s.name):
        return ""
    return (
        f". An action phase's name contains one of these — {looked_for(extra)} — "
        "or a word listed under action_phases in .runbook-bot.yaml"
    )


def _step_problems(path: str, phase: Phase, step: Step, first: bool) -> list[Problem]:
    """Where a step cannot be shown whole in Slack (it still runs: the rest is cut
    with a pointer to the file)."""
    parts = (step.text, *step.context, *(phase.intro if first else ()))
    raw = sum(len(part) for part in parts)
    # Conversion at most multiplies length by 5 (`&` -> `&amp;`) except for tables'
    # padding; skip the render for the common short step.
    if raw * 5 + 100 < MAX_STEP_TEXT_CHARS and not any(_TABLE_RE.search(p) for p in parts):
        return []
    text = len(md_to_mrkdwn(step.text))
    total = text + sum(len(md_to_mrkdwn(part)) for part in parts[1:])
    where = f"step {step.number} of {phase.name}"
    problems = []
    if text > MAX_STEP_TEXT_CHARS:
        message = (
            f"{where}: its text is {text} characters as mrkdwn; Slack shows the first "
            f"{MAX_STEP_TEXT_CHARS} with its buttons and points to this file for the rest: "
            "keep the item's first paragraph short and put details in an indented "
            "paragraph under it"
        )
        problems.append(Problem(path, step.line, message, Severity.WARNING))
    elif total > MAX_SHOWN_CHARS:
        message = (
            f"{where}: with its context it is {total} characters as mrkdwn; Slack shows "
            f"about {MAX_SHOWN_CHARS} (over a few messages) and points to this file for "
            "the rest: split it or link to the details"
        )
        problems.append(Problem(path, step.line, message, Severity.WARNING))
    return problems


def lint_paths(
    paths: Sequence[Path | str],
    runbooks_dir: Path | str | None = None,
    actions_file: Path | str | None = None,
) -> list[Problem]:
    """Lint files and folders (recursively); problems sorted by path and line."""
    from bot.runbook.library import check_files, discover_configured, sort_problems

    files, words, problems = discover_configured(paths, runbooks_dir)
    parsed, more = check_files(files, words)
    more += _actions_lint(paths, parsed, runbooks_dir, actions_file)
    return sort_problems([*problems, *more])


def _actions_lint(
    paths: Sequence[Path | str],
    parsed: list[Parsed],
    runbooks_dir: Path | str | None,
    actions_file: Path | str | None,
) -> list[Problem]:
    """The actions file of the folder linted (``ACTIONS_FILE`` overrides), and the steps' ids."""
    from bot.runbook.library import action_problems, actions_path, read_actions

    root: Path | None = Path(runbooks_dir) if runbooks_dir is not None else None
    if paths:
        first = Path(paths[0])
        inside = root is not None and first.resolve().is_relative_to(root.resolve())
        if not inside:
            root = first if first.is_dir() else first.parent
    if root is None and actions_file is None:
        return []
    return action_problems(parsed, read_actions(actions_path(root or Path("."), actions_file)))


def _step_total(text: str) -> int:
    from bot.runbook.parser import analyze

    return sum(s.step_count for s in analyze(text).sections if not s.is_rollback)


def _write_in_place(file: Path, data: bytes) -> None:
    """Overwrite ``file`` itself: O_NOFOLLOW refuses a link swapped in meanwhile."""
    flags = os.O_WRONLY | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    with os.fdopen(os.open(file, flags), "wb") as out:
        out.write(data)


def run_lint(
    paths: Sequence[str],
    *,
    fix: bool,
    out: TextIO,
    err: TextIO,
    runbooks_dir: Path | str | None = None,
    actions_file: Path | str | None = None,
) -> int:
    """`runbook-bot lint [--fix] PATH...`: print problems, return the exit status.

    Each file is read with its folder's `.runbook-bot.yaml` words (``runbooks_dir``'s
    for files inside it, as the bot reads them).
    """
    from bot.runbook.fix import fix_text
    from bot.runbook.library import check_files, discover_configured, read_runbook, sort_problems

    files, words, problems = discover_configured(paths, runbooks_dir)
    if fix:
        for file in files:
            raw = read_runbook(file)
            if isinstance(raw, Problem):
                continue  # reported by the lint pass below
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                continue
            fixed = fix_text(text, str(file), words[file])
            if fixed == text:
                continue
            if file.is_symlink():  # never write through a link, wherever it points
                print(f"{file}: not fixed: a symbolic link (fix the file it points to)", file=err)
                continue
            try:
                _write_in_place(file, fixed.encode("utf-8"))
            except OSError as exc:
                print(f"{file}: cannot write fix: {exc.strerror or exc}", file=err)
                continue
            numbered = _step_total(fixed) - _step_total(text)
            print(f"fixed {file} ({_plural(numbered, 'step')} numbered)", file=out)
    parsed, more = check_files(files, words)
    more += _actions_lint(paths, parsed, runbooks_dir, actions_file)
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
