"""`runbook-bot lint --fix`: make an existing runbook runnable with one small diff.

In action phases (Steps, Mitigation, Verification, ...) that have no steps,
top-level plain bullets become numbered items and "paragraph + fenced command"
pairs become a numbered item with the fence indented under it. Only those
lines change; every other byte (including line endings) is kept.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from bot.runbook.parser import Block, Doc, Item, Section, analyze
from bot.runbook.phases import is_action_phase

__all__ = ["fix_text"]

_LINE_RE = re.compile(r"([^\r\n]*)(\r\n|\r|\n|$)")
_MARKER_RE = re.compile(r"^([ \t]*)([-*+])([ \t]*)")


def fix_text(source: str, path: str, action_phases: Sequence[str] = ()) -> str:
    """Return the fixed text of one file (the same string when nothing needs fixing).

    ``action_phases``: the repository's own action-phase words, as the parser gets them.
    """
    del path  # part of the signature for symmetry with parse_runbook; not needed
    try:
        return _fix(source, action_phases)
    except Exception:
        return source


def _split(text: str) -> list[tuple[str, str]]:
    """(body, line ending) pairs; indexes match the parser's line numbers."""
    out = [(m.group(1), m.group(2)) for m in _LINE_RE.finditer(text)]
    if out and out[-1] == ("", ""):
        out.pop()  # the empty match at the very end
    return out


def _fixable(section: Section, extra: Sequence[str]) -> bool:
    return (
        not section.is_rollback and is_action_phase(section.name, extra) and not section.step_count
    )


def _fix(source: str, extra: Sequence[str] = ()) -> str:
    bom = "\ufeff" if source.startswith("\ufeff") else ""
    text = source[len(bom) :]
    doc = analyze(text)
    if not doc.has_headings:
        return source
    lines = _split(text)
    edits: dict[int, str] = {}
    fixed: list[int] = []
    for index, section in enumerate(doc.sections):
        if _fixable(section, extra) and _fix_section(doc, section, lines, edits):
            fixed.append(index)
    if not edits:
        return source
    result = "".join(edits.get(i, body) + end for i, (body, end) in enumerate(lines))
    # Trust but verify: every rewritten phase must now have steps. That also
    # makes the fix idempotent (phases with steps are never touched again).
    after = analyze(result)
    if len(after.sections) != len(doc.sections) or any(
        not after.sections[i].step_count for i in fixed
    ):
        return source
    return bom + result


def _fix_section(
    doc: Doc, section: Section, lines: list[tuple[str, str]], edits: dict[int, str]
) -> bool:
    pairs = {id(para): fence for para, fence in section.command_pairs if _closed(doc, fence)}
    number = 1
    previous: Block | None = None
    changed = False
    for block in section.blocks:
        if block.kind == "list" and not block.ordered:
            if (
                previous is not None
                and previous.kind == "paragraph"
                and previous.end == block.start
            ):
                # An ordered list may only interrupt a paragraph when it starts at 1.
                number = 1
            for item in block.items:
                _number_item(item, number, lines, edits)
                number += 1
            changed = changed or bool(block.items)
        elif id(block) in pairs:
            _number_pair(block, pairs[id(block)], number, lines, edits)
            number += 1
            changed = True
        previous = block
    return changed


def _closed(doc: Doc, fence: Block) -> bool:
    """An unclosed fence runs to the end of the file; indenting it would be unsafe."""
    if fence.end - fence.start < 2:
        return False
    opener = doc.lines[fence.start].strip()
    closer = doc.lines[fence.end - 1].strip()
    char = opener[:1]
    return len(closer) >= 3 and closer == char * len(closer)


def _cols(text: str) -> int:
    return len(text.expandtabs(4))


def _shift(body: str, min_cols: int, delta: int) -> str:
    """Indent a continuation line by ``delta`` columns if it is indented ``min_cols``+."""
    stripped = body.lstrip(" \t")
    cols = _cols(body[: len(body) - len(stripped)])
    if not stripped or delta == 0 or cols < min_cols:
        return body  # blank, unchanged, or a lazy paragraph continuation
    return " " * (cols + delta) + stripped


def _number_item(
    item: Item, number: int, lines: list[tuple[str, str]], edits: dict[int, str]
) -> None:
    body = lines[item.start][0]
    match = _MARKER_RE.match(body)
    if match is None:
        return
    lead, bullet, gap = match.groups()
    rest = body[match.end() :]
    marker = f"{number}."
    lead_cols = _cols(lead)
    gap_cols = _cols(lead + bullet + gap) - _cols(
        lead + bullet
    )  # a tab's width depends on its column
    if not rest.strip():
        old_width = lead_cols + 2
        new_first = lead + marker
        new_width = lead_cols + len(marker) + 1
    elif gap_cols <= 4:
        # Keep the content column where it was when the new marker fits.
        old_width = lead_cols + 1 + gap_cols
        pad = max(1, old_width - lead_cols - len(marker))
        new_first = lead + marker + " " * pad + rest
        new_width = lead_cols + len(marker) + pad
    else:  # the item starts with an indented code block
        old_width = lead_cols + 2
        new_first = lead + marker + " " * gap_cols + rest
        new_width = lead_cols + len(marker) + 1
    edits[item.start] = new_first
    delta = new_width - old_width
    for index in range(item.start + 1, item.end):
        edits[index] = _shift(lines[index][0], old_width, delta)


def _number_pair(
    para: Block, fence: Block, number: int, lines: list[tuple[str, str]], edits: dict[int, str]
) -> None:
    marker = f"{number}. "
    pad = " " * len(marker)
    edits[para.start] = marker + lines[para.start][0].lstrip(" ")
    for index in range(para.start + 1, fence.end):
        body = lines[index][0]
        if body.strip() and (index < para.end or index >= fence.start):
            edits[index] = pad + body
