"""Markdown (CommonMark + GFM tables/strikethrough/task items) -> Slack mrkdwn.

Runbook text is Markdown source; Slack speaks its own "mrkdwn" dialect. The
conversion walks markdown-it tokens (never regexes over the source) so nesting,
code spans and fences are understood exactly as GitHub renders them.

Safety: every piece of literal text is escaped for ``& < >``. The only ``<``
this module emits starts a link to an http(s)/mailto URL, so a runbook that
contains ``<!channel>`` or ``<@U123>`` can never ping anyone.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from markdown_it import MarkdownIt
from markdown_it.tree import SyntaxTreeNode

__all__ = ["escape", "md_to_mrkdwn", "split_mrkdwn"]

# Built once per process: constructing MarkdownIt compiles its rule chains.
_MD = MarkdownIt("commonmark").enable(["table", "strikethrough"])

_TASK_RE = re.compile(r"\[([ xX])\][ \t\n]")
_SAFE_SCHEMES = ("http://", "https://", "mailto:")
_FENCE = "```"
_INDENT = "    "
# Our own ``` delimiters are emitted as this marker and swapped in at the end,
# after every other run of 3+ backticks has been broken up (Slack has no
# escapes). markdown-it turns NUL into U+FFFD, so the marker can't be in text.
_MARK = "\x00F\x00"
_BACKTICKS = re.compile(r"`{3,}")


def escape(text: str) -> str:
    """Escape Slack's three control characters (user-supplied or literal text)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# A mention as Slack's escaping writes it: ``<@U1|ann>``, ``<#C1|ops>`` (always labelled).
_LABELLED_MENTION = re.compile(r"<([@#])[UWC][A-Z0-9]+\|([^<>|]+)>")


def readable(text: str) -> str:
    """Free text as the person typed it, from Slack's escaped form.

    With escaping on (``should_escape: true``, which ``/incident role … @ann``
    needs), Slack turns a typed ``@ann`` into ``<@U1|ann>`` and ``#ops`` into
    ``<#C1|ops>``. Those go back to ``@ann`` / ``#ops`` here, so a status
    update reads as typed; anything else (``<!channel>``, a bare ``<@U1>``,
    links) is left for :func:`escape`, so user text still mentions no one.
    """
    return _LABELLED_MENTION.sub(lambda m: m.group(1) + m.group(2).lstrip("@#"), text)


# Runbook steps are rendered again at every click of every run: cache them.
@lru_cache(maxsize=4096)
def md_to_mrkdwn(markdown: str) -> str:
    """Convert Markdown to Slack mrkdwn. Never raises on string input."""
    root = SyntaxTreeNode(_MD.parse(markdown))
    out = _blocks(root.children, sep="\n\n").strip("\n")
    out = _BACKTICKS.sub(lambda m: "\u200b".join(m.group()), out)
    return out.replace(_MARK, _FENCE)


# --- blocks ---------------------------------------------------------------


def _blocks(nodes: Sequence[SyntaxTreeNode], sep: str) -> str:
    parts = [_block(node) for node in nodes]
    return sep.join(part for part in parts if part)


def _block(node: SyntaxTreeNode) -> str:
    kind = node.type
    if kind == "paragraph":
        return _inline_of(node)
    if kind == "heading":
        text = _inline_of(node, in_bold=True).strip()
        return f"*{text}*" if text else ""
    if kind in ("fence", "code_block"):
        return _code_block(node.content)
    if kind in ("bullet_list", "ordered_list"):
        return _list(node)
    if kind == "blockquote":
        inner = _blocks(node.children, sep="\n\n")
        return "\n".join(f"> {line}" if line else ">" for line in inner.split("\n"))
    if kind == "table":
        return _table(node)
    if kind == "html_block":
        return escape(node.content.rstrip("\n"))
    if kind == "hr":
        return "───"
    return _blocks(node.children, sep="\n\n")


def _code_block(content: str) -> str:
    # A literal ``` inside the code would close Slack's block early.
    body = escape(content.rstrip("\n"))
    return f"{_MARK}\n{body}\n{_MARK}" if body else f"{_MARK}\n{_MARK}"


def _task_state(item: SyntaxTreeNode) -> bool | None:
    """None for a plain item, else whether the `[x]` box is checked."""
    first = item.children[0] if item.children else None
    if first is None or first.type != "paragraph" or not first.children:
        return None
    match = _TASK_RE.match(first.children[0].content + "\n")
    if match is None:
        return None
    return match.group(1) != " "


def _list(node: SyntaxTreeNode) -> str:
    ordered = node.type == "ordered_list"
    number = int(node.attrs.get("start", 1) or 1) if ordered else 1
    lines: list[str] = []
    for item in node.children:
        task = _task_state(item)
        marker = f"{number}. " if ordered else ("" if task is not None else "• ")
        if task is not None:
            marker += "☑ " if task else "☐ "
        number += 1
        parts: list[str] = []
        for index, child in enumerate(item.children):
            if index == 0 and child.type == "paragraph":
                text = _inline_of(child, strip_task=task is not None)
            else:
                text = _block(child)
            if not text:
                continue
            if parts or index > 0:
                # Later blocks of the item (sub-lists, extra paragraphs) nest under it.
                text = _indent(text)
            parts.append(text)
        body = "\n".join(parts)
        if body.startswith(_INDENT) and not parts[0].startswith(_INDENT * 2):
            body = "\n" + body
        lines.append(marker.rstrip() if not body else marker + body)
    return "\n".join(lines)


def _indent(text: str) -> str:
    """Indent lines one level, leaving code fences (and their content) untouched."""
    out: list[str] = []
    in_fence = False
    for line in text.split("\n"):
        toggles = line.count(_MARK) % 2 == 1
        if in_fence or line.startswith(_MARK) or not line:
            out.append(line)
        else:
            out.append(_INDENT + line)
        if toggles:
            in_fence = not in_fence
    return "\n".join(out)


def _table(node: SyntaxTreeNode) -> str:
    rows: list[list[str]] = []
    for section in node.children:  # thead, tbody
        for tr in section.children:
            rows.append([_plain(cell).strip() for cell in tr.children])
    if not rows:
        return ""
    width = max(len(row) for row in rows)
    for row in rows:
        row.extend([""] * (width - len(row)))
    sizes = [max(len(row[col]) for row in rows) for col in range(width)]

    def fmt(row: list[str]) -> str:
        return " | ".join(cell.ljust(size) for cell, size in zip(row, sizes, strict=True)).rstrip()

    lines = [fmt(rows[0]), "-+-".join("-" * size for size in sizes)]
    lines.extend(fmt(row) for row in rows[1:])
    return _code_block("\n".join(lines))


# --- inline ---------------------------------------------------------------


def _inline_of(node: SyntaxTreeNode, *, in_bold: bool = False, strip_task: bool = False) -> str:
    parts: list[str] = []
    for child in node.children:  # the single `inline` node of a paragraph/heading
        tokens = list(child.children)
        if strip_task and tokens and tokens[0].type == "text":
            stripped = _TASK_RE.sub("", tokens[0].content + "\n", count=1)[:-1]
            parts.append(escape(stripped.lstrip()))
            tokens = tokens[1:]
        parts.append(_inlines(tokens, in_bold=in_bold))
    return "".join(parts)


def _inlines(nodes: Sequence[SyntaxTreeNode], *, in_bold: bool = False) -> str:
    return "".join(_inline(node, in_bold) for node in nodes)


def _wrap(mark: str, inner: str) -> str:
    # Slack only formats when the markers hug non-space text.
    core = inner.strip()
    if not core:
        return inner
    lead = inner[: len(inner) - len(inner.lstrip())]
    trail = inner[len(inner.rstrip()) :]
    return f"{lead}{mark}{core}{mark}{trail}"


def _inline(node: SyntaxTreeNode, in_bold: bool) -> str:
    kind = node.type
    if kind in ("text", "text_special"):
        return escape(node.content)
    if kind == "code_inline":
        return f"`{escape(node.content)}`"
    if kind == "softbreak":
        return " "  # as GitHub renders it: the source's line wrapping is not meaningful
    if kind == "hardbreak":
        return "\n"
    if kind == "strong":
        inner = _inlines(node.children, in_bold=True)
        return inner if in_bold else _wrap("*", inner)
    if kind == "em":
        return _wrap("_", _inlines(node.children, in_bold=in_bold))
    if kind == "s":
        return _wrap("~", _inlines(node.children, in_bold=in_bold))
    if kind == "link":
        return _link(str(node.attrs.get("href", "")), _plain(node), node.markup == "autolink")
    if kind == "image":
        return _link(str(node.attrs.get("src", "")), _plain(node), False)
    if kind == "html_inline":
        return escape(node.content)
    return _inlines(node.children, in_bold=in_bold)


def _link(url: str, text: str, autolink: bool) -> str:
    label = escape(text.strip())
    if not url.lower().startswith(_SAFE_SCHEMES):
        # Relative links, anchors and odd schemes can't be followed from Slack;
        # a raw `<...>` could also be a mention, so show the text only.
        return label or escape(url)
    target = escape(url).replace("|", "%7C")
    if autolink or not label or label == target:
        return f"<{target}>"
    return f"<{target}|{label.replace('|', '¦')}>"


def _plain(node: SyntaxTreeNode) -> str:
    """Text content without formatting (table cells, link labels, image alt)."""
    out: list[str] = []

    def walk(current: SyntaxTreeNode) -> None:
        if current.type in ("text", "text_special", "code_inline", "html_inline"):
            out.append(current.content)
        elif current.type in ("softbreak", "hardbreak"):
            out.append(" ")
        for child in current.children:
            walk(child)

    walk(node)
    return "".join(out)


# --- splitting ------------------------------------------------------------


def split_mrkdwn(text: str, limit: int = 2900) -> list[str]:
    """Split mrkdwn into pieces of at most ``limit`` chars.

    Cuts on paragraph boundaries first, then lines, then spaces, and only as a
    last resort inside a word. A cut inside a ``` block closes the block and
    reopens it in the next piece so every piece renders on its own.
    """
    limit = max(limit, 16)
    if len(text) <= limit:
        return [text] if text.strip() else []
    close = "\n" + _FENCE
    pieces: list[str] = []
    current = ""
    for paragraph in _paragraphs(text):
        joined = f"{current}\n\n{paragraph}" if current else paragraph
        if len(joined) <= limit:
            current = joined
            continue
        if current:
            pieces.append(current)
            current = ""
        if len(paragraph) <= limit:
            current = paragraph
            continue
        in_fence = False
        for line in paragraph.split("\n"):
            for chunk in _cut_line(line, limit - 2 * len(close)):
                candidate = f"{current}\n{chunk}" if current else chunk
                after = _fence_after(chunk, in_fence)
                if len(candidate) + (len(close) if after else 0) > limit:
                    pieces.append(current + (close if in_fence else ""))
                    candidate = (_FENCE + "\n" if in_fence else "") + chunk
                current = candidate
                in_fence = after
    if current.strip():
        pieces.append(current)
    return [piece for piece in pieces if piece.strip()]


def _fence_after(text: str, in_fence: bool) -> bool:
    return in_fence ^ (text.count(_FENCE) % 2 == 1)


def _paragraphs(text: str) -> list[str]:
    """Blank-line separated chunks; blank lines inside ``` blocks don't split."""
    out: list[str] = []
    current: list[str] = []
    in_fence = False
    for line in text.split("\n"):
        if not line.strip() and not in_fence:
            if current:
                out.append("\n".join(current))
                current = []
            continue
        current.append(line)
        in_fence = _fence_after(line, in_fence)
    if current:
        out.append("\n".join(current))
    return out


def _cut_line(line: str, width: int) -> list[str]:
    chunks: list[str] = []
    while len(line) > width:
        cut = line.rfind(" ", width // 2, width)
        if cut <= 0:
            cut = width
            amp = line.rfind("&", cut - 6, cut)
            if amp > 0 and ";" not in line[amp:cut]:
                cut = amp  # don't cut an &amp; entity in half
        chunks.append(line[:cut].rstrip())
        line = line[cut:].lstrip(" ")
    chunks.append(line)
    return chunks
