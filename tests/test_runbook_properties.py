"""Property tests: the parser and the converter hold up on any input."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.runbook import parse_runbook
from bot.runbook.fix import _fix  # the unguarded core: a crash must fail the test
from bot.slack.mrkdwn import md_to_mrkdwn, split_mrkdwn

FAST = settings(max_examples=200, deadline=None)

# Markdown-ish alphabet so generated text hits lists, fences, headings, front matter.
_PIECES = [
    "# ", "## ", "### ", "- ", "* ", "+ ", "1. ", "2) ", "- [ ] ", "- [x] ", "```", "~~~",
    "---", "\n", "\n\n", "   ", "\t", "> ", "| a | b |\n|---|---|\n", "**", "_", "`",
    "<!channel>", "<@U1>", "&", "<", ">", "[x](https://e.x)", "id: RB-1", ": ", "Rollback",
    "Steps", "Mitigation", "\r\n", "\r", "text", "é", "\x00",
]  # fmt: skip
markdownish = st.lists(st.one_of(st.sampled_from(_PIECES), st.text(max_size=8)), max_size=40).map(
    "".join
)


@FAST
@given(st.one_of(markdownish, st.text(max_size=300)))
def test_parse_never_raises_on_text(text: str) -> None:
    runbook, problems = parse_runbook(text, "p.md")
    assert all(p.line >= 1 for p in problems)
    assert not any(p.message.startswith("cannot parse") for p in problems)  # no internal errors
    if runbook is not None:
        assert runbook.step_count >= 1


@FAST
@given(st.binary(max_size=300))
def test_parse_never_raises_on_bytes(data: bytes) -> None:
    _, problems = parse_runbook(data, "p.md")
    assert all(p.line >= 1 for p in problems)
    assert not any(p.message.startswith("cannot parse") for p in problems)


@FAST
@given(markdownish)
def test_parse_is_deterministic(text: str) -> None:
    assert parse_runbook(text, "p.md") == parse_runbook(text, "p.md")


@FAST
@given(st.binary(max_size=64), st.binary(max_size=64))
def test_content_hash_changes_iff_bytes_change(a: bytes, b: bytes) -> None:
    base = b"## Steps\n1. go\n"
    first, _ = parse_runbook(base + a, "p.md")
    second, _ = parse_runbook(base + b, "p.md")
    if first is not None and second is not None:
        assert (first.content_hash == second.content_hash) == (a == b)


@FAST
@given(markdownish)
def test_fix_is_idempotent_and_fixed_files_have_steps(text: str) -> None:
    once = _fix(text)
    assert _fix(once) == once
    if once != text:
        runbook, _ = parse_runbook(once, "p.md")
        assert runbook is None or runbook.step_count >= 1


_LINK = re.compile(r"\]\(|<[a-zA-Z][a-zA-Z0-9+.-]*:|@[a-zA-Z0-9]")


@FAST
@given(st.one_of(markdownish, st.text(max_size=300)))
def test_mrkdwn_never_raises_and_never_pings(text: str) -> None:
    out = md_to_mrkdwn(text)
    if not _LINK.search(text):
        assert "<" not in out  # every literal < is escaped; only links emit one
    assert "<!" not in out and "<@" not in out and "<#" not in out


@FAST
@given(st.one_of(markdownish, st.text(max_size=3000)), st.integers(min_value=16, max_value=400))
def test_split_pieces_fit_and_keep_fences_balanced(text: str, limit: int) -> None:
    rendered = md_to_mrkdwn(text)
    pieces = split_mrkdwn(rendered, limit)
    assert all(0 < len(piece) <= limit for piece in pieces)
    assert all(piece.count("```") % 2 == 0 for piece in pieces)
