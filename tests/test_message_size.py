"""Size (pure): a message's block text is counted as a strict Slack counts it,
and no renderer's message passes 10,000 characters of it, nor 50 blocks.

Long runbook content is split across messages (a step's context before the
step) or cut with a pointer to the runbook file; mrkdwn splitting never
rejects a long line and keeps code fences closed in every piece.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.drills.blocks import history_message
from bot.drills.views import DueRunbook, RunRow
from bot.home.view import HomeData, OpenIncident, home_view
from bot.incidents import blocks as incident_blocks
from bot.incidents.blocks import EventView, IncidentView
from bot.incidents.timeline_blocks import timeline_blocks
from bot.runbook import Library, parse_runbook
from bot.runs import catalog_blocks
from bot.runs.blocks import RunInfo, aborted_message
from bot.runs.engine import Aborted, abort, snapshot_runbook, state_from_snapshot
from bot.slack.blockkit import (
    MESSAGE_TEXT_BUDGET,
    VIEW_TEXT_BUDGET,
    block_text_length,
    button,
    context,
    fit_blocks,
    header,
    section,
    text_length,
)
from bot.slack.mrkdwn import split_mrkdwn
from tests.rig import validate_blocks, validate_view

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def within(payload: dict[str, Any]) -> dict[str, Any]:
    """Valid Block Kit, ≤ 10,000 characters of block text, a short ``text``."""
    assert validate_blocks(payload["blocks"]) == []
    assert block_text_length(payload) <= MESSAGE_TEXT_BUDGET, block_text_length(payload)
    assert 0 < len(payload["text"]) <= 4000
    return payload


# --- the counter -------------------------------------------------------------


def test_counts_every_text_a_block_carries() -> None:
    blocks = [
        header("H" * 10),
        {
            "type": "section",
            "block_id": "ignored-id",
            "text": {"type": "mrkdwn", "text": "s" * 100},
            "fields": [{"type": "mrkdwn", "text": "f" * 20}, {"type": "plain_text", "text": "g"}],
            "accessory": {"type": "image", "image_url": "https://e.x/i.png", "alt_text": "a" * 7},
        },
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "c" * 30}] * 2},
        {
            "type": "actions",
            "elements": [
                button(
                    "Go",
                    "action-id-not-counted",
                    "value-not-counted",
                    confirm={
                        "title": {"type": "plain_text", "text": "T" * 3},
                        "text": {"type": "mrkdwn", "text": "x" * 4},
                        "confirm": {"type": "plain_text", "text": "ok"},
                        "deny": {"type": "plain_text", "text": "no"},
                    },
                ),
                {
                    "type": "static_select",
                    "action_id": "s",
                    "placeholder": {"type": "plain_text", "text": "p" * 5},
                    "options": [{"text": {"type": "plain_text", "text": "o" * 6}, "value": "v"}],
                },
            ],
        },
        {
            "type": "rich_text",
            "elements": [
                {
                    "type": "rich_text_section",
                    "elements": [
                        {"type": "text", "text": "r" * 8},
                        {"type": "link", "url": "https://e.x/abc"},  # shown as its URL
                        {"type": "link", "url": "https://e.x/long-url", "text": "label"},
                        {"type": "user", "user_id": "U1"},
                    ],
                }
            ],
        },
    ]
    expected = 10 + 100 + 20 + 1 + 7 + 60 + 2 + 3 + 4 + 2 + 2 + 5 + 6 + 8 + 15 + 5
    assert text_length(blocks) == expected
    assert block_text_length({"text": "fallback not counted", "blocks": blocks}) == expected


def test_fit_blocks_keeps_head_and_tail_and_says_so() -> None:
    head, tail = section("head"), context("tail")
    middle = [section(f"{n} " + "m" * 2800) for n in range(10)]
    fitted = fit_blocks([head, *middle, tail], keep_head=1, note="_cut_")
    assert text_length(fitted) <= MESSAGE_TEXT_BUDGET
    assert fitted[0] == head and fitted[-1] == tail and fitted[-2] == context("_cut_")
    assert fitted[1:4] == middle[:3]  # the first ones, whole; then the next one shortened
    assert fitted[4]["text"]["text"].startswith("3 m") and fitted[4]["text"]["text"][-1] == "…"
    latest = fit_blocks([head, *middle, tail], keep_head=1, latest=True, note="_cut_")
    assert latest[:2] == [head, context("_cut_")] and latest[-2:] == [middle[-1], tail]
    assert text_length(latest) <= MESSAGE_TEXT_BUDGET
    short = [head, middle[0], tail]
    assert fit_blocks(short) is short  # what fits is left alone
    many = [context(str(n)) for n in range(80)]
    assert len(fit_blocks(many)) == 50 and fit_blocks(many)[-1] == many[-1]


# --- mrkdwn splitting --------------------------------------------------------

_WORD = st.one_of(
    st.text(alphabet="abc&;*_<>", min_size=1, max_size=12),
    st.text(alphabet="x", min_size=40, max_size=400),  # longer than some limits: cut hard
)
_LINE = st.lists(_WORD, max_size=100).map(" ".join)
_PARAGRAPH = st.lists(_LINE, min_size=1, max_size=5).map("\n".join)
_FENCE = st.lists(_LINE, max_size=6).map(lambda lines: "```\n" + "\n".join(lines) + "\n```")
_MRKDWN = st.lists(st.one_of(_PARAGRAPH, _FENCE), min_size=1, max_size=6).map("\n\n".join)


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text.replace("```", ""))


@settings(max_examples=150, deadline=None)
@given(_MRKDWN, st.integers(min_value=40, max_value=3000))
def test_split_fits_keeps_fences_closed_and_loses_nothing(text: str, limit: int) -> None:
    pieces = split_mrkdwn(text, limit)
    assert all(len(piece) <= limit for piece in pieces)
    assert all(piece.count("```") % 2 == 0 for piece in pieces)  # each piece renders alone
    assert _squash("".join(pieces)) == _squash(text)


def test_one_long_line_is_split_at_word_boundaries() -> None:
    words = [f"word{n}" for n in range(1400)]  # one 10,000-character line
    pieces = split_mrkdwn(" ".join(words), 2900)
    assert len(pieces) == 4 and all(len(p) <= 2900 for p in pieces)
    assert [w for p in pieces for w in p.split(" ")] == words


def test_a_long_line_of_code_stays_in_fences() -> None:
    code = "```\n" + "echo " + "a" * 5000 + " && ls\n```"
    pieces = split_mrkdwn(code, 2900)
    assert len(pieces) == 2
    assert all(p.startswith("```\n") and p.endswith("\n```") for p in pieces)


# --- every renderer, fed the most it can be given ----------------------------


def test_runbook_show_and_list_of_a_huge_library_are_cut_with_a_pointer() -> None:
    steps = "\n".join(f"{n}. Step {n}: " + "word " * 60 for n in range(1, 301))
    phases = "\n".join(f"## Phase {k}\n\n{steps}\n" for k in range(3))
    runbook, _ = parse_runbook(f"# Huge\n\n{phases}", "runbooks/huge.md")
    assert runbook is not None and runbook.step_count == 900
    shown = within(catalog_blocks.show_message(runbook))
    assert "`runbooks/huge.md`" in str(shown["blocks"][-2:])  # the pointer and the footer
    library = Library(
        runbooks={f"RB-{n:03d}": replace(runbook, id=f"RB-{n:03d}") for n in range(400)}
    )
    listed = within(catalog_blocks.list_message(library))
    assert "RB-000" in str(listed["blocks"]) and "`runbook-bot lint`" in str(listed["blocks"])


def test_a_timeline_of_hundreds_of_events_shows_the_latest() -> None:
    incident = IncidentView(id=4, title="t" * 500, opened_at=T0)
    events = [
        EventView(T0 + timedelta(seconds=n), "note", "UANA", f"event {n:04d} " + "n" * 480)
        for n in range(600)
    ]
    payload = within(timeline_blocks(incident, events))
    rendered = str(payload["blocks"])
    assert "event 0599" in rendered and "event 0000" not in rendered
    assert "runbook-bot timeline INC-4" in rendered


def test_user_text_and_summaries_stay_within_limits() -> None:
    incident = IncidentView(
        id=4,
        title="t" * 3000,
        opened_at=T0,
        resolved_at=T0 + timedelta(hours=2),
        roles={f"role{n}": f"U{n:08d}" for n in range(80)},
        priority="critical",
    )
    within(incident_blocks.status_update_message(incident, "UANA", "& " * 20_000, T0))
    stats = {"approved": 3, "skipped": 1, "runs": 60, "updates": 2, "reminders": 4}
    stats["rto_runs"] = [
        {"runbook_id": "R" * 200, "rto_seconds": 60, "state": "aborted"} for _ in range(60)
    ]
    within(incident_blocks.resolve_message(incident, "UANA", stats))
    within(incident_blocks.declared_message(incident, "UANA"))


def test_history_and_the_app_home_stay_within_limits() -> None:
    rows = [
        RunRow(n, "RB-04", f"INC-{n}", T0, T0, "completed", True, "e" * 100, "fail", "r" * 400,
               "UANA", tuple(f"U{k}" for k in range(30)), 3)
        for n in range(300)
    ]  # fmt: skip
    within(history_message("RB-04", "x" * 2000, rows))
    incidents = [OpenIncident(n, "i" * 2000, T0, "C1", "critical") for n in range(200)]
    due = [DueRunbook(f"RB-{n}", "d" * 200, None, None) for n in range(300)]
    data = HomeData(T0, incidents, 200, due, rows, ["• " + "s" * 2000] * 40)
    view = home_view(data)
    assert validate_view(view) == [] and len(view["blocks"]) <= 100
    assert block_text_length(view) <= VIEW_TEXT_BUDGET


def test_a_long_rollback_note_on_abort_is_cut_with_a_pointer() -> None:
    note = "\n\n".join(f"Paragraph {n}. " + "undo " * 500 for n in range(20))
    runbook, _ = parse_runbook(f"## Steps\n1. go\n## Rollback\n{note}\n", "runbooks/rb.md")
    assert runbook is not None
    state = state_from_snapshot(snapshot_runbook(runbook))
    aborted = abort(state)
    assert isinstance(aborted, Aborted)
    info = RunInfo(1, "INC-1", runbook.id, runbook.title, "UANA", T0, path=runbook.path)
    payload = within(aborted_message(info, aborted.state, "UBOB", T0, verdict="v" * 2000))
    assert "aborted" in str(payload["blocks"][0]) and "`runbooks/rb.md` (rb)" in str(payload)
