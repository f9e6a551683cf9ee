"""Long steps (pure): a step too long for one message goes out as its context
message(s) first, then the step with its buttons; past three context messages,
or a step text past 7,000 characters, the rest is cut with a pointer to the
runbook file. Every message within Slack's limits, whatever the runbook holds.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.runbook import Runbook, parse_runbook
from bot.runs import blocks
from bot.runs.engine import (
    Decision,
    DecisionRecord,
    FlowStep,
    snapshot_runbook,
    state_from_snapshot,
)
from bot.runs.step_blocks import MAX_LEAD_MESSAGES
from bot.slack.blockkit import block_text_length
from tests.test_message_size import within

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
SOURCE = "`runbooks/rb-long.md` (RB-LONG)"


def runbook_of(text: str) -> Runbook:
    runbook, problems = parse_runbook(text, "runbooks/rb-long.md")
    assert runbook is not None, problems
    assert not [p for p in problems if p.severity.value == "error"], problems
    return runbook


def steps_of(runbook: Runbook) -> list[FlowStep]:
    return list(state_from_snapshot(snapshot_runbook(runbook)).steps)


def prose(words: int, seed: str = "w") -> str:
    return " ".join(f"{seed}{n}" for n in range(words))


def all_messages(step: FlowStep) -> list[dict[str, Any]]:
    """Every payload a step can take: posted (context, step), partly approved, decided."""
    posted = blocks.step_messages(9, step, {"commander": "UCMD"}, source=SOURCE)
    partial = blocks.step_message(9, step, {}, [f"U{n}" for n in range(40)], source=SOURCE)
    record = DecisionRecord(step.index, Decision.APPROVED, "UBOB", T0 + timedelta(minutes=1))
    decided = blocks.decided_step_message(step, record, ["UANA", "UBOB"], source=SOURCE)
    return [*posted, partial, decided]


def texts(payload: dict[str, Any]) -> str:
    return str(payload["blocks"])


LONG_RUNBOOK = f"""# Long

## Steps

{prose(1920, "intro")}

1. Read the context below.

   {prose(1150, "ctx")}

2. Then this.
"""


def test_huge_phase_intro_and_a_one_line_context_are_split_not_refused() -> None:
    runbook = runbook_of(LONG_RUNBOOK)
    first = steps_of(runbook)[0]
    assert len(first.phase_intro[0]) > 18_000 and len(first.context[0]) > 8_000
    posted = blocks.step_messages(9, first, source=SOURCE)
    for payload in all_messages(first):
        within(payload)
    *lead, step = posted
    assert [p["text"] for p in lead] == [f"Step 1 of 2 — context ({n}/2)" for n in (1, 2)]
    # The intro, in order, before the step; the step's own context with it.
    shown = "".join(texts(p) for p in lead)
    assert "intro0 " in texts(lead[0]) and "intro1919" in texts(lead[-1])
    assert "ctx" not in shown and "the rest is in" not in shown
    assert "ctx0 " in texts(step) and "ctx1149" in texts(step)
    ids = [b.get("block_id") for p in posted for b in p["blocks"] if b["type"] == "actions"]
    assert ids == ["step:9:0"]  # only the last message has the buttons
    assert step == blocks.step_message(9, first, source=SOURCE)
    # The second step of the phase is one message, as before.
    assert blocks.lead_messages(steps_of(runbook)[1], SOURCE) == []


def test_a_step_context_that_does_not_fit_goes_first_and_the_step_says_so() -> None:
    parts = "\n\n".join(f"   {prose(450, f'p{n}-')}" for n in range(6))  # ~24,000 chars
    step = steps_of(runbook_of(f"## Steps\n\n1. Do it.\n\n{parts}\n"))[0]
    *lead, last = blocks.step_messages(9, step, source=SOURCE)
    assert len(lead) == 2
    for payload in all_messages(step):
        within(payload)
    assert "*1.* Do it." in texts(last) and "p0-0 " in texts(last)
    assert "context is in the messages above" in texts(last)
    assert "p5-449" in texts(lead[-1])


def test_past_three_context_messages_the_rest_is_cut_with_a_pointer() -> None:
    intro = "\n\n".join(prose(400, f"i{n}-") for n in range(40))  # ~100,000 chars
    step = steps_of(runbook_of(f"## Steps\n\n{intro}\n\n1. Go.\n"))[0]
    *lead, last = blocks.step_messages(9, step, source=SOURCE)
    assert len(lead) == MAX_LEAD_MESSAGES
    assert "the rest is in the runbook file `runbooks/rb-long.md` (RB-LONG)" in texts(lead[-1])
    assert "*1.* Go." in texts(last)
    for payload in all_messages(step):
        within(payload)


def test_a_step_text_too_long_for_one_message_is_cut_with_a_pointer() -> None:
    step = steps_of(runbook_of(f"## Steps\n\n1. {prose(3000)}\n"))[0]
    (only,) = blocks.step_messages(9, step, source=SOURCE)
    assert "w0 " in texts(only) and "w2999" not in texts(only)
    assert "the rest of this step is in the runbook file `runbooks/rb-long.md`" in texts(only)
    for payload in all_messages(step):
        within(payload)


def test_a_short_step_is_one_message_as_before() -> None:
    step = steps_of(runbook_of("## Steps\n\nIntro.\n\n1. Go.\n\n   ```\n   ls\n   ```\n"))[0]
    (only,) = blocks.step_messages(9, step, source=SOURCE)
    assert [b["type"] for b in only["blocks"]] == [
        "header",
        "context",
        "section",
        "section",
        "actions",
    ]
    assert block_text_length(only) < 200


# --- any runbook -------------------------------------------------------------

_WORDS = st.one_of(
    st.integers(0, 40).map(lambda n: " ".join(["word"] * n)),
    st.integers(500, 4000).map(lambda n: " ".join(["long"] * n)),  # one long line
    st.integers(100, 9000).map(lambda n: "x" * n),  # one long word
    st.sampled_from(["& < > *b* _i_", "<!channel> <@U1>", "| a | b |\n|---|---|\n| 1 | 2 |"]),
)
_CODE = st.integers(1, 300).map(lambda n: "```\n" + "\n".join(["echo ok && ls"] * n) + "\n```")
_BLOCK = st.one_of(_WORDS, _CODE)


def _item(text: str, context: list[str]) -> str:
    indented = "\n\n".join("\n".join(f"   {line}" for line in c.split("\n")) for c in context)
    return f"1. {text}\n\n{indented}\n" if context else f"1. {text}\n"


_STEP = st.tuples(_WORDS.filter(lambda t: "\n" not in t), st.lists(_BLOCK, max_size=8))
_PHASE = st.tuples(st.lists(_BLOCK, max_size=8), st.lists(_STEP, min_size=1, max_size=3))


@settings(max_examples=40, deadline=None)
@given(st.lists(_PHASE, min_size=1, max_size=2))
def test_any_runbook_every_message_within_limits(phases: list[Any]) -> None:
    text = "# Any\n"
    for n, (intro, items) in enumerate(phases):
        text += f"\n## Steps {n}\n\n" + "\n\n".join(intro) + "\n\n"
        text += "\n".join(_item(t, c) for t, c in items)
    runbook, _ = parse_runbook(text, "runbooks/any.md")
    if runbook is None:
        return
    for step in steps_of(runbook):
        for payload in all_messages(step):
            within(payload)
        *lead, last = blocks.step_messages(9, step, source=SOURCE)
        assert len(lead) <= MAX_LEAD_MESSAGES
        assert [b["block_id"] for b in last["blocks"] if b["type"] == "actions"] == [
            f"step:9:{step.index}"
        ]


def test_what_lint_accepts_without_a_warning_is_shown_whole() -> None:
    # Just under lint's bound (MAX_SHOWN_CHARS) in uneven paragraphs: no pointer.
    sizes = [2950, 40, 2950, 2950, 100, 2950, 2950, 2950, 2950, 2950, 150, 2950, 2950]
    parts = "\n\n".join(f"   {'z' * (n - 10)} end{k:05d}" for k, n in enumerate(sizes))
    runbook, problems = parse_runbook(f"## Steps\n\n1. Go.\n\n{parts}\n", "runbooks/rb.md")
    assert runbook is not None and problems == []
    step = steps_of(runbook)[0]
    posted = blocks.step_messages(9, step, source=SOURCE)
    assert "the rest is in" not in str(posted)
    assert all(f"end{k:05d}" in str(posted) for k in range(len(sizes)))
    for payload in all_messages(step):
        within(payload)
