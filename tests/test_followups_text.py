"""Follow-ups in words (pure): parsing the command, ordering and rendering."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from markdown_it import MarkdownIt

from bot.incidents.followup_text import (
    FollowupSpec,
    FollowupView,
    as_json,
    as_markdown,
    list_reply,
    overdue_message,
    parse_followup,
    parse_id,
)

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def view(
    n: int, *, due: timedelta | None = None, done: bool = False, text: str = "x"
) -> FollowupView:
    return FollowupView(
        id=n,
        incident_id=7,
        text=text,
        owner="UANA",
        due_at=NOW + due if due is not None else None,
        done_at=NOW if done else None,
    )


def test_parse_text_owner_and_due() -> None:
    spec = parse_followup("Add an alert on queue depth <@UBOB|bob> due 3d", NOW)
    assert spec == FollowupSpec("Add an alert on queue depth", "UBOB", NOW + timedelta(days=3))
    assert parse_followup("Fix it due 90s", NOW) == FollowupSpec(
        "Fix it", None, NOW + timedelta(seconds=90)
    )
    dated = parse_followup("Write docs due 2026-12-10", NOW)
    assert isinstance(dated, FollowupSpec)
    assert dated.due_at == datetime(2026, 12, 11, tzinfo=UTC)  # by the end of that day
    plain = parse_followup("the due date is unknown", NOW)
    assert plain == FollowupSpec("the due date is unknown", None, None)


def test_bad_input_says_why() -> None:
    assert "not a date" in str(parse_followup("Fix due 2026-13-40", NOW))
    assert "duration" in str(parse_followup("Fix due soonish", NOW))
    assert "Say what needs doing" in str(parse_followup("<@UBOB> due 1d", NOW))
    assert "limit" in str(parse_followup("x" * 1001, NOW))
    assert parse_id("#12") == 12 and parse_id("12") == 12 and parse_id("twelve") is None


def test_list_puts_overdue_first_and_caps_its_length() -> None:
    views = [view(1, due=timedelta(days=2)), view(2, due=timedelta(hours=-1)), view(3, done=True)]
    lines = list_reply(views, "of INC-7", NOW).splitlines()
    assert lines[0] == "*Follow-ups of INC-7* (3)"
    assert lines[1].startswith("• *#2*") and "*overdue*" in lines[1]
    assert lines[2].startswith("• *#1*") and lines[3].startswith("• *#3*") and "done" in lines[3]
    many = list_reply([view(n, text="y" * 900) for n in range(100)], "here", NOW)
    assert "more: `runbook-bot followups` lists all" in many and len(many) < 4000
    assert many.count("\n• ") >= 10
    assert list_reply([], "you own", NOW) == "No follow-ups you own."


def test_overdue_message_mentions_the_owner() -> None:
    text = overdue_message(view(4, due=timedelta(0), text="Rotate <keys> & certs"))["text"]
    assert text.startswith("⏰ <@UANA>: follow-up *#4* of INC-7 is overdue")
    assert "&lt;keys&gt; &amp; certs" in text and "/incident followup done 4" in text


def test_json_and_markdown_exports() -> None:
    views = [view(1, due=timedelta(hours=-2), text="Add *alert* [here]"), view(2)]
    rows = json.loads(as_json(views, NOW))
    assert [(r["id"], r["state"], r["incident"]) for r in rows] == [
        (1, "overdue", "INC-7"),
        (2, "open", "INC-7"),
    ]
    markdown = as_markdown(views, NOW, {"UANA": "ana"})
    tokens = MarkdownIt().parse(markdown)
    items = [t for t in tokens if t.type == "list_item_open"]
    assert len(items) == 2
    inline = [t.content for t in tokens if t.type == "inline"]
    assert inline[0] == "Follow-ups"
    assert "@ana" in inline[1] and "**(overdue)**" in inline[1]
    # The user's markup stays literal text: no emphasis or link tokens from it.
    children = next(t for t in tokens if t.type == "inline" and "alert" in t.content).children
    assert children is not None
    assert not [c for c in children if c.type in ("em_open", "link_open")]
