"""Markdown runbook -> :class:`Doc`: front matter and top-level block structure.

The document is parsed with a real CommonMark parser (markdown-it, plus GFM
tables and strikethrough) and the structure is read from its block tokens, so
a runbook means exactly what GitHub shows. Text is kept as *Markdown source*,
sliced from the original lines by each token's ``map``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from markdown_it import MarkdownIt
from markdown_it.token import Token

from bot.runbook.frontmatter import FrontMatter, read_front_matter

__all__ = ["Block", "Doc", "Item", "Section", "analyze", "block_source", "split_lines"]

# Built once per process: MarkdownIt construction dominates small parses otherwise.
_MD = MarkdownIt("commonmark").enable(["table", "strikethrough"])
# Structure needs block tokens only; skipping inline parsing halves the parse time.
# (Headings get their inline parse on demand, for their plain-text name.)
_MD_BLOCKS = MarkdownIt("commonmark").enable(["table", "strikethrough"]).disable("inline")

_NEWLINE_RE = re.compile(r"\r\n?")
_TASK_RE = re.compile(r"\[([ xX])\][ \t\n]")
_MARKER_RE = re.compile(r"^([ \t]*)(\d{1,9}[.)]|[-*+])([ \t]*)")


@dataclass(slots=True)
class Item:
    """A top-level list item."""

    start: int  # 0-based first line
    end: int  # 0-based, exclusive; trailing blank lines trimmed
    is_step: bool
    checked: bool
    text: str
    context: list[str]
    nested_step_line: int | None = None  # 1-based line of a numbered item nested in a bullet


@dataclass(slots=True)
class Block:
    """A top-level block: heading, paragraph, fence, list, hr or other."""

    kind: str
    start: int  # 0-based
    end: int  # 0-based, exclusive
    level: int = 0  # heading level
    name: str = ""  # heading text
    ordered: bool = False
    items: list[Item] = field(default_factory=list)


@dataclass(slots=True)
class Section:
    name: str
    line: int  # 1-based heading line
    blocks: list[Block] = field(default_factory=list)

    @property
    def is_rollback(self) -> bool:
        return self.name.strip().lower().startswith(("rollback", "roll back"))

    @property
    def step_count(self) -> int:
        return sum(item.is_step for block in self.blocks for item in block.items)

    @property
    def plain_bullets(self) -> int:
        return sum(
            not item.is_step
            for block in self.blocks
            if block.kind == "list"
            for item in block.items
        )

    @property
    def command_pairs(self) -> list[tuple[Block, Block]]:
        """Paragraph immediately followed by a fenced code block."""
        return [
            (first, second)
            for first, second in zip(self.blocks, self.blocks[1:], strict=False)
            if first.kind == "paragraph" and second.kind == "fence"
        ]


@dataclass(slots=True)
class Doc:
    lines: list[str]  # the file's lines, line endings removed
    front: FrontMatter
    title: str | None  # text of the title heading
    preamble: list[Block]  # blocks before the first phase (title excluded)
    sections: list[Section]
    has_headings: bool  # False: no ##/# sections, `sections` is an implicit one (or none)


def split_lines(text: str) -> list[str]:
    """Lines exactly as markdown-it counts them (\\r\\n, \\r and \\n all end a line)."""
    return _NEWLINE_RE.sub("\n", text).split("\n")


def analyze(text: str) -> Doc:
    """Front matter + block structure of one document (text already decoded)."""
    text = text.removeprefix("\ufeff")
    lines = split_lines(text)
    front = read_front_matter(lines)
    # Blank out the front matter instead of cutting it: token maps then give
    # absolute file lines with no offset arithmetic.
    body = "\n" * front.end + "\n".join(lines[front.end :])
    tokens = _MD_BLOCKS.parse(body)
    blocks = _blocks(tokens, lines)
    headings = [b for b in blocks if b.kind == "heading"]
    h1 = [b for b in headings if b.level == 1]
    title_text = h1[0].name if h1 else None
    if any(b.level == 2 for b in headings):
        first_h2 = next(b for b in headings if b.level == 2)
        title_block = h1[0] if h1 and h1[0].start < first_h2.start else None
        phase_level = 2
    elif len(h1) >= 2:
        title_block, phase_level = None, 1
    else:
        title_block, phase_level = (h1[0] if h1 else None), 0
    preamble: list[Block] = []
    sections: list[Section] = []
    for block in blocks:
        if block is title_block:
            continue
        if phase_level and block.kind == "heading" and block.level <= phase_level:
            sections.append(Section(block.name, block.start + 1))
        elif sections:
            sections[-1].blocks.append(block)
        else:
            preamble.append(block)
    has_headings = phase_level > 0
    if not has_headings and any(item.is_step for b in preamble for item in b.items):
        # A flat checklist with no sections still runs, as one phase.
        first = preamble[0].start + 1 if preamble else 1
        sections, preamble = [Section("Steps", first, preamble)], []
    return Doc(lines, front, title_text, preamble, sections, has_headings)


def _close(tokens: list[Token], index: int) -> int:
    level = tokens[index].level
    for k in range(index + 1, len(tokens)):
        if tokens[k].nesting == -1 and tokens[k].level == level:
            return k
    return len(tokens) - 1


def _span(token: Token, lines: list[str]) -> tuple[int, int]:
    start, end = token.map if token.map else (0, 0)
    while end > start + 1 and not lines[end - 1].strip():
        end -= 1  # trailing blank lines belong to nobody
    return start, end


def _blocks(tokens: list[Token], lines: list[str]) -> list[Block]:
    blocks: list[Block] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        j = _close(tokens, i) if tok.nesting == 1 else i
        start, end = _span(tok, lines)
        kind = tok.type.removesuffix("_open")
        if kind == "heading":
            name = _plain(tokens[i + 1].content).strip()
            blocks.append(Block("heading", start, end, level=int(tok.tag[1:]), name=name))
        elif kind in ("paragraph", "hr"):
            blocks.append(Block(kind, start, end))
        elif kind == "fence":
            blocks.append(Block("fence", start, end))
        elif kind in ("bullet_list", "ordered_list"):
            ordered = kind == "ordered_list"
            items = [
                _item(tokens, k, _close(tokens, k), lines, ordered)
                for k in range(i + 1, j)
                if tokens[k].type == "list_item_open" and tokens[k].level == tok.level + 1
            ]
            blocks.append(Block("list", start, end, ordered=ordered, items=items))
        elif tok.map is not None:
            blocks.append(Block("other", start, end))  # table, blockquote, html, code_block
        i = j + 1
    return blocks


def _plain(markdown: str) -> str:
    """Heading text without formatting: `## **Roll back** the \\`api\\`` -> "Roll back the api"."""
    if not markdown:
        return ""
    parts: list[str] = []
    for child in _MD.parseInline(markdown)[0].children or ():
        if child.type in ("text", "text_special", "code_inline", "html_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
    return "".join(parts)


def _columns(text: str) -> int:
    """Display width of a line prefix, tabs expanded to 4-column stops (CommonMark)."""
    return len(text.expandtabs(4))


def _dedent(line: str, width: int) -> str:
    """Remove up to ``width`` columns of leading whitespace (tabs count to 4-column stops)."""
    stripped = line.lstrip(" \t")
    lead = line[: len(line) - len(stripped)].expandtabs(4)
    return lead[min(width, len(lead)) :] + stripped


def _item(tokens: list[Token], open_i: int, close_i: int, lines: list[str], ordered: bool) -> Item:
    start, end = _span(tokens[open_i], lines)
    first_line = lines[start]
    match = _MARKER_RE.match(first_line)
    width = 2
    if match:
        lead, marker, gap = match.groups()
        gap_cols = _columns(lead + marker + gap) - _columns(lead + marker)  # tab stops
        rest_blank = not first_line[match.end() :].strip()
        pad = gap_cols if 1 <= gap_cols <= 4 and not rest_blank else 1
        width = _columns(lead) + len(marker) + pad
    child_level = tokens[open_i].level + 1
    children = [
        k
        for k in range(open_i + 1, close_i)
        if tokens[k].level == child_level and tokens[k].nesting >= 0 and tokens[k].map
    ]

    def source(k: int) -> str:
        a, b = _span(tokens[k], lines)
        out = [_dedent(lines[n], width) for n in range(a, b)]
        if a == start:  # the marker line: drop the marker itself
            out[0] = first_line[min(len(first_line), match.end() if match else 0) :]
        return "\n".join(out).strip("\n")

    text, context, checked, is_step = "", [], False, ordered
    if children and tokens[children[0]].type == "paragraph_open":
        text = tokens[children[0] + 1].content
        context = [source(k) for k in children[1:]]
        task = _TASK_RE.match(text + "\n")
        if task:
            is_step, checked = True, task.group(1) != " "
            text = text[task.end() :].lstrip()
    elif children:
        text = source(children[0])
        context = [source(k) for k in children[1:]]
    nested = None
    if not is_step:
        nested = next(
            (
                m[0] + 1
                for k in range(open_i + 1, close_i)
                if tokens[k].type == "ordered_list_open" and (m := tokens[k].map)
            ),
            None,
        )
    return Item(start, end, is_step, checked, text, [c for c in context if c.strip()], nested)


def block_source(doc: Doc, block: Block) -> str:
    return "\n".join(doc.lines[block.start : block.end]).strip("\n")
