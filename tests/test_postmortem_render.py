"""The postmortem draft's Markdown, pure: a runbook step keeps its own code
spans and bold (it comes from a runbook in git), typed text stays literal, and
neither can break the timeline table or become HTML."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from markdown_it import MarkdownIt

from bot.incidents.postmortem_render import Draft, Head, RunRow, render_markdown
from bot.incidents.timeline_render import EventRow

T0 = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)
STEP = "RB-08 Steps step 5/16: **Put the portal** into `maint|mode` <b>now</b> x_y"
TYPED = "**not bold** <i>typed</i> | `tick`"


def draft() -> Draft:
    head = Head("INC-3", "DB lost", "critical", False, {}, T0, "UA", None, None, None, None, None)
    run = RunRow(1, "RB-08", "Restore", "completed", "UA", T0, T0 + timedelta(minutes=5), None)
    events = [
        EventRow(T0 + timedelta(seconds=1), "step_skipped", "UB", STEP, 1, {"step_index": 4}),
        EventRow(T0 + timedelta(seconds=2), "status_update", "UA", TYPED),
    ]
    return Draft(head, events, [run], [], [], {"UA": "alice", "UB": "bob"})


def test_step_markup_kept_typed_text_literal() -> None:
    text = render_markdown(draft(), T0 + timedelta(hours=1))
    assert "**Put the portal** into `maint\\|mode` \\<b\\>now\\</b\\> x\\_y" in text
    assert "\\*\\*not bold\\*\\* \\<i\\>typed\\</i\\> \\| \\`tick\\`" in text
    html = MarkdownIt().enable("table").render(text)
    assert "<strong>Put the portal</strong>" in html and "<code>maint|mode</code>" in html
    assert "<b>" not in html and "<i>" not in html and "<strong>not bold" not in html
    # The timeline stays four columns, whatever the text holds.
    tokens = MarkdownIt().enable("table").parse(text)
    rows = [t for t in tokens if t.type == "tr_open"]
    cells = [t for t in tokens if t.type in ("td_open", "th_open")]
    timeline_rows = 3  # header + 2 events; the summary table has 2 columns x 6 rows
    assert len(cells) == 2 * 6 + 4 * timeline_rows and len(rows) == 6 + timeline_rows
