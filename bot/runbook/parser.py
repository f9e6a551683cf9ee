"""Markdown runbook -> :class:`Runbook`, following SPEC §4.

The file's structure (front matter, phases, their blocks and list items) comes from
:mod:`bot.runbook.structure`; this module turns it into phases and steps, gathers
the metadata and runs the document checks from lint.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from itertools import islice

from bot.runbook.actions import split_run_tag
from bot.runbook.approval import parse_approval, split_tag
from bot.runbook.frontmatter import KNOWN_KEYS as _KNOWN
from bot.runbook.frontmatter import LABEL_FIELDS, as_tags, as_text, label_metadata
from bot.runbook.model import Approval, Phase, Problem, Runbook, Severity, Step
from bot.runbook.phases import is_action_phase
from bot.runbook.structure import Block, Doc, Item, Section, analyze, block_source
from bot.runbook.whole import whole_phase_steps
from bot.timefmt import DURATION_FORMS, parse_duration

__all__ = [
    "MAX_LIST_ITEMS",
    "MAX_STEPS",
    "Block",
    "Doc",
    "Item",
    "Section",
    "analyze",
    "parse_runbook",
]

# More steps than anyone clicks through in an incident: a runbook past this is
# refused so one file cannot make every listing and `show` heavy.
MAX_STEPS = 2000
# Lines that open a list item, counted before the Markdown is parsed: parsing
# costs ~0.1 ms per item, and a megabyte of "1. x" lines (100,000 items) took
# 15 s and 150 MB before the step cap could refuse it. Room for every step
# with two sub-items (or lists in code blocks).
MAX_LIST_ITEMS = 3 * MAX_STEPS
_LIST_ITEM = re.compile(r"^[ \t]*(?:\d{1,9}[.)]|[-*+])(?:[ \t]|$)", re.MULTILINE)


def _phase(
    doc: Doc, section: Section, path: str, problems: list[Problem], extra: Sequence[str]
) -> Phase:
    intro: list[str] = []
    steps: list[tuple[Item, str | None, list[str]]] = []

    def attach(text: str) -> None:
        if text.strip():
            (steps[-1][2] if steps else intro).append(text)

    # A ### heading that has steps under it travels as their label; repeating it
    # as context would show "Option B" at the end of Option A's last step.
    labelling: set[int] = set()
    pending: Block | None = None
    for block in section.blocks:
        if block.kind == "heading":
            pending = block
        elif pending is not None and any(item.is_step for item in block.items):
            labelling.add(id(pending))
            pending = None
    label: str | None = None
    for block in section.blocks:
        if block.kind == "hr":
            continue
        if block.kind == "heading":
            label = block.name or None
            if id(block) not in labelling:
                attach(block_source(doc, block))
        elif block.kind == "list":
            run: list[Item] = []
            for item in [*block.items, None]:
                if item is not None and not item.is_step:
                    run.append(item)
                    continue
                if run:  # consecutive plain bullets travel together as one block
                    attach("\n".join(doc.lines[run[0].start : run[-1].end]).strip("\n"))
                    run = []
                if item is not None:
                    steps.append((item, label, list(item.context)))
        else:
            attach(block_source(doc, block))
    if not steps and is_action_phase(section.name, extra):
        # SPEC §11: the phase runs as written, as one step (or one per ### subsection).
        whole_intro, whole = whole_phase_steps(doc, section)
        return Phase(
            name=section.name,
            intro=whole_intro,
            steps=tuple(
                Step(n, w.text, w.context, w.line, whole_phase=True)
                for n, w in enumerate(whole, start=1)
            ),
            line=section.line,
        )
    built: list[Step] = []
    for n, (item, lbl, ctx) in enumerate(steps, start=1):
        reported = len(problems)
        text, action = _run_tag(item, item.text, path, problems)
        text, approval = _approval(item, text, path, problems)
        if action is None and len(problems) == reported:  # `[run: …]` before `[approval: …]`
            text, action = _run_tag(item, text, path, problems)
        built.append(
            Step(
                number=n,
                text=text,
                context=tuple(ctx),
                line=item.start + 1,
                label=lbl,
                checked=item.checked,
                approval=approval,
                action=action,
            )
        )
    return Phase(name=section.name, intro=tuple(intro), steps=tuple(built), line=section.line)


def _run_tag(item: Item, text: str, path: str, problems: list[Problem]) -> tuple[str, str | None]:
    """The step's text without a trailing `[run: <id>]` tag, and the action id."""
    try:
        return split_run_tag(text)
    except ValueError as exc:
        problems.append(Problem(path, _tag_line(item, text.rfind("[")), str(exc)))
        return text, None


def _approval(
    item: Item, source: str, path: str, problems: list[Problem]
) -> tuple[str, Approval | None]:
    """The step's text without its `[approval: …]` tag, and the tag as data."""
    try:
        text, inner, offset = split_tag(source)
    except ValueError as exc:
        problems.append(Problem(path, _tag_line(item, source.rfind("[")), str(exc)))
        return source, None
    if inner is None:
        return text, None
    try:
        return text, parse_approval(inner)
    except ValueError as exc:
        problems.append(Problem(path, _tag_line(item, offset), str(exc)))
        return text, None


def _tag_line(item: Item, offset: int) -> int:
    return item.start + 1 + item.text[: max(0, offset)].count("\n")


# lint.document_problems, injected to avoid an import cycle (lint imports us).
Checks = Callable[["Doc", str, tuple[Phase, ...], list[Phase], Sequence[str]], list[Problem]]


@dataclass(slots=True)
class Parsed:
    """Everything lint and the library need from one file."""

    runbook: Runbook | None
    problems: list[Problem]
    id: str | None = None
    id_line: int = 1
    doc: Doc | None = None


def parse_runbook(
    source: str | bytes, path: str, action_phases: Sequence[str] = ()
) -> tuple[Runbook | None, list[Problem]]:
    """Parse one runbook file. Never raises; runbook is None when a problem is an error.

    ``action_phases``: the repository's own action-phase words (``.runbook-bot.yaml``).
    """
    parsed = parse_file(source, path, action_phases)
    return parsed.runbook, parsed.problems


def parse_file(source: str | bytes, path: str, action_phases: Sequence[str] = ()) -> Parsed:
    from bot.runbook.lint import document_problems  # lint builds on this module

    if isinstance(source, bytes):
        digest = hashlib.sha256(source).hexdigest()
        try:
            text = source.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = source.count(b"\n", 0, exc.start) + 1
            bad = source[exc.start]
            message = f"file is not UTF-8 text (byte 0x{bad:02x} on line {line})"
            return Parsed(None, [Problem(path, 1, message)])
    else:
        text = source
        digest = hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest()
    try:
        return _build(text, path, digest, document_problems, tuple(action_phases))
    except Exception as exc:
        return Parsed(None, [Problem(path, 1, f"cannot parse this file: {exc!r}")])


def _rto_problems(doc: Doc, path: str) -> list[Problem]:
    """Front-matter `rto` must be a duration: the run's RTO clock is set from it."""
    value = doc.front.data.get("rto")
    if value is None:
        return []
    try:
        parse_duration(value if isinstance(value, int | float | str) else repr(value))
    except ValueError as exc:
        line = doc.front.key_lines.get("rto", 1)
        return [Problem(path, line, f"unreadable front matter rto: {exc}")]
    return []


def _label_rto_problems(doc: Doc, path: str, value: str) -> list[Problem]:
    """A `**RTO:** …` line in the text is prose; an unreadable one only warns."""
    try:
        parse_duration(value)
    except ValueError:
        line = next((n for n, text in enumerate(doc.lines, 1) if value in text), 1)
        message = (
            f"RTO '{value}' is not a duration ({DURATION_FORMS}): runs get no RTO clock; "
            "set `rto:` in the front matter"
        )
        return [Problem(path, line, message, Severity.WARNING)]
    return []


def _build(text: str, path: str, digest: str, checks: Checks, extra: tuple[str, ...]) -> Parsed:
    stem = path.replace("\\", "/").rsplit("/", 1)[-1]
    stem = stem.rsplit(".", 1)[0] if "." in stem else stem
    if not text.strip("\ufeff \t\r\n"):
        return Parsed(None, [Problem(path, 1, "empty file")])
    if sum(1 for _ in islice(_LIST_ITEM.finditer(text), MAX_LIST_ITEMS + 1)) > MAX_LIST_ITEMS:
        message = f"more than {MAX_LIST_ITEMS} list items, the most a runbook may have"
        return Parsed(None, [Problem(path, 1, message)])
    doc = analyze(text)
    front = doc.front.data
    problems = [Problem(path, line, msg) for line, msg in doc.front.errors]
    for key in front:
        if key not in _KNOWN:
            line = doc.front.key_lines.get(key, 1)
            problems.append(
                Problem(path, line, f"unknown front matter key '{key}' (ignored)", Severity.WARNING)
            )
    problems.extend(_rto_problems(doc, path))
    runbook_id = as_text(front.get("id")) or stem
    id_line = doc.front.key_lines.get("id", 1) if "id" in front else 1
    if any(ch.isspace() for ch in runbook_id):
        problems.append(Problem(path, id_line, f"id '{runbook_id}' must not contain spaces"))
    labels = label_metadata(
        doc.lines[b.start : b.end] for b in doc.preamble if b.kind in ("paragraph", "list")
    )
    fields: dict[str, str] = {}
    for label, value in labels.items():
        field = LABEL_FIELDS.get(label)
        if field:
            fields.setdefault(field, value)
    if "rto" in fields and "rto" not in front:
        problems.extend(_label_rto_problems(doc, path, fields["rto"]))
    phases = [_phase(doc, section, path, problems, extra) for section in doc.sections]
    if not doc.has_headings and phases:
        # A phase-less checklist runs as one implicit phase named after its title.
        name = as_text(front.get("title")) or doc.title or phases[0].name
        phases = [replace(phases[0], name=name)]
    normal = tuple(p for p in phases if not p.is_rollback)
    rollbacks = [p for p in phases if p.is_rollback]
    total = sum(len(p.steps) for p in phases)
    if total > MAX_STEPS:
        message = f"{total} steps: more than {MAX_STEPS}, the most a runbook may have"
        return Parsed(None, [*problems, Problem(path, 1, message)], runbook_id, id_line, doc)
    problems.extend(checks(doc, path, normal, rollbacks, extra))
    problems.sort(key=lambda p: (p.line, p.severity != Severity.ERROR))
    if any(p.severity is Severity.ERROR for p in problems):
        return Parsed(None, problems, runbook_id, id_line, doc)
    unknown: dict[str, object] = {k: v for k, v in front.items() if k not in _KNOWN}
    unknown.update({k: v for k, v in labels.items() if k not in LABEL_FIELDS})
    runbook = Runbook(
        id=runbook_id,
        title=as_text(front.get("title")) or doc.title or runbook_id,
        path=path,
        content_hash=digest,
        phases=normal,
        rollback=rollbacks[0] if rollbacks else None,
        intro=tuple(
            src
            for block in doc.preamble
            if block.kind != "hr" and (src := block_source(doc, block)).strip()
        ),
        owner=as_text(front.get("owner")) or fields.get("owner"),
        severity=as_text(front.get("severity")) or fields.get("severity"),
        rto=as_text(front.get("rto")) or fields.get("rto"),
        tags=as_tags(front.get("tags")) or as_tags(fields.get("tags")),
        extra=unknown,
    )
    return Parsed(runbook, problems, runbook_id, id_line, doc)
