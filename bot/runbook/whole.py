"""Runbooks as written (SPEC §11): an action phase with no steps runs as one step.

The step's text is the phase heading and its context is the phase's whole
text; when the phase has ``###`` subsections with content, each of those is a
step instead (text before the first one is the phase's intro). A phase too long
for one Slack message is cut at block boundaries into consecutive steps
("Mitigation (1 of 2)"), so long text is split, never rejected (SPEC §6).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from bot.runbook.structure import Block, Doc, Section, block_source
from bot.slack.mrkdwn import md_to_mrkdwn

__all__ = [
    "MAX_SHOWN_CHARS",
    "MAX_STEP_TEXT_CHARS",
    "WholeStep",
    "whole_phase_steps",
]

# A step's own text (its item's first paragraph) goes in the one message that
# carries its buttons: past this many characters of mrkdwn, the rest is cut
# with a pointer to the runbook file. Its context (and its phase's intro) may
# take a few messages more before it; past about this many characters in all,
# the rest is cut the same way.
MAX_STEP_TEXT_CHARS = 7_000
MAX_SHOWN_CHARS = 30_000
# Room for a whole-phase step: prose read in order, so each part fits the
# one message that carries its buttons (about 7,500 characters of content)
# in few enough section blocks (about 2,900 characters each) to leave the
# step message's header and buttons within Block Kit's 50.
_CHUNK_CHARS = 7_000
_CHUNK_PIECES = 36
_ATX_RE = re.compile(r"^ {0,3}#{1,6}(?:[ \t]+|$)")
_ATX_CLOSE_RE = re.compile(r"(?:^|[ \t]+)#+[ \t]*$")


@dataclass(frozen=True, slots=True)
class WholeStep:
    text: str  # Markdown source of the heading it is named after
    context: tuple[str, ...]
    line: int  # 1-based


def heading_source(doc: Doc, line: int, fallback: str) -> str:
    """Markdown source of the heading on 1-based ``line`` (ATX markers removed)."""
    raw = doc.lines[line - 1] if 0 < line <= len(doc.lines) else ""
    if _ATX_RE.match(raw):
        text = _ATX_CLOSE_RE.sub("", _ATX_RE.sub("", raw, count=1)).strip()
        return text or fallback
    return raw.strip() or fallback  # a setext heading's (first) text line


def whole_phase_steps(doc: Doc, section: Section) -> tuple[tuple[str, ...], list[WholeStep]]:
    """(phase intro, steps) for an action phase that has no list steps of its own."""
    blocks = [b for b in section.blocks if b.kind != "hr" and block_source(doc, b).strip()]
    if not blocks:
        return (), []  # a bare heading adds no step
    headings = [b for b in blocks if b.kind == "heading"]
    if headings:
        level = min(b.level for b in headings)
        first = next(i for i, b in enumerate(blocks) if b.kind == "heading" and b.level == level)
        groups: list[list[Block]] = []
        for block in blocks[first:]:
            if block.kind == "heading" and block.level == level:
                groups.append([block])
            else:
                groups[-1].append(block)
        subsections = [g for g in groups if any(b.kind != "heading" for b in g[1:])]
        if subsections:
            intro = tuple(block_source(doc, b) for b in blocks[:first])
            steps: list[WholeStep] = []
            for head, *body in subsections:
                name = heading_source(doc, head.start + 1, head.name)
                steps += _chunked(doc, name, head.start + 1, body)
            return intro, steps
    name = heading_source(doc, section.line, section.name)
    return (), _chunked(doc, name, section.line, blocks)


def _chunked(doc: Doc, name: str, line: int, blocks: list[Block]) -> list[WholeStep]:
    parts = [(block_source(doc, b), b.start + 1) for b in blocks]
    chunks: list[list[tuple[str, int]]] = [[]]
    if sum(len(p) for p, _ in parts) * 5 + 100 < _CHUNK_CHARS and len(parts) <= _CHUNK_PIECES:
        chunks = [parts]  # the common short phase: no need to render
    else:
        size = pieces = 0
        for part, part_line in parts:
            rendered = len(md_to_mrkdwn(part))
            cost = max(1, math.ceil(rendered / 2_800))
            if chunks[-1] and (size + rendered > _CHUNK_CHARS or pieces + cost > _CHUNK_PIECES):
                chunks.append([])
                size = pieces = 0
            chunks[-1].append((part, part_line))
            size += rendered
            pieces += cost
    if len(chunks) == 1:
        return [WholeStep(name, tuple(p for p, _ in chunks[0]), line)]
    return [
        WholeStep(
            f"{name} ({n} of {len(chunks)})",
            tuple(p for p, _ in chunk),
            line if n == 1 else chunk[0][1],
        )
        for n, chunk in enumerate(chunks, start=1)
    ]
