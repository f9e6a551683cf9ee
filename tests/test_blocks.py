"""Block Kit rendering (``bot.runs.blocks``, ``bot.runs.catalog_blocks``, ``bot.incidents.blocks``):
pure functions checked against Slack's limits with the rig's validator."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.incidents import blocks as incident_blocks
from bot.incidents.blocks import EventView, IncidentView, ack_summary
from bot.incidents.timeline_blocks import timeline_blocks
from bot.runbook import Library, Runbook, load_library
from bot.runs import catalog_blocks
from bot.runs.blocks import (
    APPROVE,
    SKIP,
    RunInfo,
    aborted_message,
    completion_message,
    decided_step_message,
    rollback_done_message,
    run_message,
    step_message,
)
from bot.runs.engine import (
    Aborted,
    Accepted,
    Decision,
    DecisionRecord,
    FlowStep,
    RunState,
    abort,
    decide,
    snapshot_runbook,
    state_from_snapshot,
)
from bot.slack.blockkit import MESSAGE_TEXT_BUDGET, block_text_length
from tests.rig import validate_blocks, validate_view

RUNBOOKS = Path(__file__).resolve().parent.parent / "runbooks"
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
NASTY = "<!channel> ping <@U1> see <http://x|y> & <!here>"


@pytest.fixture(scope="module")
def library() -> Library:
    lib = load_library(RUNBOOKS)
    assert len(lib.runbooks) >= 12, [str(p) for p in lib.problems]
    return lib


def valid(payload: dict[str, Any]) -> dict[str, Any]:
    assert isinstance(payload.get("text"), str) and payload["text"].strip()
    assert len(payload["text"]) <= 40_000
    errors = validate_blocks(payload["blocks"])
    assert errors == [], errors
    assert len(payload["blocks"]) <= 50
    assert block_text_length(payload) <= MESSAGE_TEXT_BUDGET  # Slack refuses ~12,000
    return payload


def all_text(payload: dict[str, Any]) -> str:
    """Every string in the payload (text, blocks, elements)."""
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, str):
            out.append(node)
        elif isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(payload)
    return "\n".join(out)


def info_for(runbook: Runbook, summary: str | None = "Share link leaked") -> RunInfo:
    return RunInfo(
        run_id=7,
        incident_key="INC-3",
        runbook_id=runbook.id,
        runbook_title=runbook.title,
        started_by="UALICE",
        started_at=T0,
        summary=summary,
        owner=runbook.owner,
        severity=runbook.severity,
        rto=runbook.rto,
        content_hash=runbook.content_hash,
    )


def actions(payload: dict[str, Any]) -> list[dict[str, Any]]:
    return [b for b in payload["blocks"] if b["type"] == "actions"]


def record(index: int, decision: Decision = Decision.APPROVED, by: str = "UBOB") -> DecisionRecord:
    return DecisionRecord(index, decision, by, T0 + timedelta(minutes=index + 1))


# --- every bundled runbook, every step ---------------------------------------


def test_every_bundled_runbook_renders_valid_payloads(library: Library) -> None:
    rendered = 0
    for runbook in library.runbooks.values():
        info = info_for(runbook)
        state = state_from_snapshot(snapshot_runbook(runbook))
        valid(run_message(info, state))
        valid(catalog_blocks.show_message(runbook))
        for step in state.steps:
            pending = valid(step_message(info.run_id, step))
            assert len(actions(pending)) == 1
            for decision in Decision:
                done = valid(decided_step_message(step, record(step.index, decision)))
                assert actions(done) == []
            rendered += 1
        # Walk the whole run: progress, completion.
        walked = state
        for step in state.steps[: state.normal_count]:
            result = decide(walked, step.index, Decision.APPROVED, "UBOB", T0)
            assert isinstance(result, Accepted)
            walked = result.state
            valid(run_message(info, walked))
        valid(run_message(info, walked, ended_at=T0 + timedelta(minutes=42)))
        completed = valid(completion_message(info, walked, T0 + timedelta(minutes=42)))
        assert "completed" in completed["text"]
        # Abort: run message, abort message, rollback done.
        aborted = abort(state)
        assert isinstance(aborted, Aborted)
        valid(run_message(info, aborted.state, ended_at=T0 + timedelta(minutes=5)))
        valid(aborted_message(info, aborted.state, "UCAROL", T0 + timedelta(minutes=5)))
        valid(rollback_done_message(info, aborted.state))
    assert rendered > 12 * 3


def test_catalog_payloads_are_valid(library: Library) -> None:
    valid(catalog_blocks.help_message(catalog_blocks.RUNBOOK_HELP))
    valid(catalog_blocks.help_message(catalog_blocks.INCIDENT_HELP))
    listed = valid(catalog_blocks.list_message(library))
    for runbook_id in library.runbooks:
        assert runbook_id in listed["text"]
    valid(catalog_blocks.list_message(Library({}, [])))
    hint = catalog_blocks.unknown_runbook("rb4", library)
    assert "RB-04" in hint
    assert "&lt;" in catalog_blocks.unknown_runbook("<!channel>", library)


def incident(title: str = "Share link leaked", **kw: Any) -> IncidentView:
    values: dict[str, Any] = {
        "id": 3,
        "title": title,
        "state": "open",
        "opened_by": "UALICE",
        "opened_at": T0,
    }
    values.update(kw)
    return IncidentView(**values)


def test_incident_payloads_are_valid() -> None:
    inc = incident()
    later = T0 + timedelta(minutes=31)
    valid(incident_blocks.status_update_message(inc, "UBOB", "Mitigated, watching.", later))
    reminder = valid(incident_blocks.reminder_message(inc, later))
    assert "status update" in reminder["text"] and "INC-3" in reminder["text"]
    valid(incident_blocks.reminder_message(incident(last_update_at=T0), later))
    valid(incident_blocks.snoozed_message(inc, "UBOB", 15, later))
    view = incident_blocks.update_modal(incident(title="x" * 5000))
    assert validate_view(view) == []
    valid(incident_blocks.declared_message(incident(title="y" * 5000), "UALICE"))
    resolved = incident(state="resolved", resolved_at=T0 + timedelta(hours=2), resolved_by="UB")
    stats = {
        "first_decision_at": T0 + timedelta(minutes=3),
        "approved": 5,
        "skipped": 1,
        "runs": 1,
        "updates": 4,
        "reminders": 1,
    }
    done = valid(incident_blocks.resolve_message(resolved, "UBOB", stats))
    valid(incident_blocks.resolve_message(resolved, "UBOB", {**stats, "first_decision_at": None}))
    # The summary ends with what is left: follow-ups, and the postmortem draft.
    last = done["blocks"][-1]["text"]["text"].splitlines()
    assert last == [
        "Add follow-ups: `/incident followup INC-3 &lt;text&gt; @owner due 3d`",
        "Postmortem draft: `runbook-bot postmortem INC-3`",
    ]
    drill = incident_blocks.resolve_message(
        incident(state="resolved", resolved_at=T0 + timedelta(hours=1), drill=True), "UB", stats
    )
    assert "postmortem" not in drill["blocks"][-1]["text"]["text"]  # a drill owes none
    events = [
        EventView(
            kind="note" if i % 2 else "step_approved",
            actor="UBOB" if i % 3 else None,
            at=T0 + timedelta(seconds=i),
            text=f"event {i} " + "z" * 300,
        )
        for i in range(1, 800)
    ]
    long_timeline = valid(timeline_blocks(inc, events))
    assert "INC-3" in long_timeline["text"]
    valid(timeline_blocks(inc, []))


# --- long text is split and capped, not rejected --------------------------------


def long_step(text: str, context: tuple[str, ...] = (), **kw: Any) -> FlowStep:
    return FlowStep(
        index=0,
        phase="Steps",
        number=1,
        position=1,
        total=1,
        text=text,
        context=context,
        **kw,
    )


@pytest.mark.parametrize(
    "step",
    [
        long_step("word " * 8000),  # 40,000 chars of step text
        long_step("Short.", context=("line of context\n\n" * 2500,)),
        long_step("Short.", context=("```\n" + "echo hi\n" * 5000 + "```",)),
        long_step("x" * 40_000, context=("y" * 40_000,), phase_intro=("z" * 40_000,)),
        long_step("&" * 40_000, label="L" * 500),
    ],
    ids=["text", "context-paragraphs", "context-code", "unbroken", "entities"],
)
def test_huge_step_is_split_and_capped(step: FlowStep) -> None:
    pending = valid(step_message(1, step))
    assert actions(pending), "the buttons survive the cap"
    assert pending["blocks"][-1]["type"] == "actions"
    sections = [b for b in pending["blocks"] if b["type"] == "section"]
    assert len(sections) >= 2  # split, not one oversized section
    done = valid(decided_step_message(step, record(0)))
    assert actions(done) == []
    assert "<!date^" in all_text(done)


# --- escaping ------------------------------------------------------------------


def test_user_text_is_escaped(library: Library) -> None:
    runbook = library.get("RB-04")
    assert runbook is not None
    info = info_for(runbook, summary=NASTY)
    state = state_from_snapshot(snapshot_runbook(runbook))
    payloads = [
        run_message(info, state),
        incident_blocks.status_update_message(incident(), "UBOB", NASTY, T0),
        incident_blocks.declared_message(incident(title=NASTY), "UBOB"),
        incident_blocks.reminder_message(incident(title=NASTY), T0 + timedelta(minutes=30)),
        timeline_blocks(
            incident(title=NASTY),
            [EventView(kind="note", actor="UBOB", at=T0, text=NASTY)],
        ),
    ]
    for payload in payloads:
        blocks_text = all_text(payload)  # notification text and blocks
        assert "&lt;!channel&gt;" in blocks_text
        assert "<!channel>" not in blocks_text
        assert "<!here>" not in blocks_text
        assert "<http://x|y>" not in blocks_text
        assert "<@U1>" not in blocks_text
        assert "&amp;" in blocks_text


def test_runbook_text_is_escaped() -> None:
    step = long_step(
        "Tell <!channel> and <@U1> about <http://x|y> & more",
        context=("Then <!here> & `a < b`",),
        label="<@U2> & co",
    )
    for payload in (step_message(1, step), decided_step_message(step, record(0))):
        text = all_text({"blocks": payload["blocks"]})
        assert "<!channel>" not in text and "<!here>" not in text
        assert "<@U1>" not in text and "<@U2>" not in text
        assert "<http://x|y>" not in text
        assert "&lt;!channel&gt;" in text
        assert "&amp;" in text
        assert " & " not in text


# --- buttons and the decided message --------------------------------------------


def test_approve_is_primary_and_skip_has_no_style() -> None:
    step = long_step("Restart the service.")
    payload = step_message(12, step)
    (block,) = actions(payload)
    by_action = {e["action_id"]: e for e in block["elements"]}
    approve, skip = by_action[APPROVE], by_action[SKIP]
    assert "Approve" in approve["text"]["text"]
    assert approve["style"] == "primary"
    assert "Skip" in skip["text"]["text"]
    assert "style" not in skip
    assert approve["value"] == skip["value"] == "12:0"


@pytest.mark.parametrize("decision", list(Decision))
def test_decided_message_shows_who_and_when_without_buttons(decision: Decision) -> None:
    step = long_step("Restart the service.")
    payload = valid(decided_step_message(step, record(0, decision, by="UCAROL")))
    assert actions(payload) == []
    assert all(
        "elements" not in b or all(e.get("type") != "button" for e in b["elements"])
        for b in payload["blocks"]
    )
    text = all_text({"blocks": payload["blocks"]})
    assert "<@UCAROL>" in text
    assert "<!date^" in text
    assert decision.value in payload["text"]


def test_run_message_progress_and_abort_button(library: Library) -> None:
    runbook = library.get("RB-04")
    assert runbook is not None
    info = info_for(runbook)
    state: RunState = state_from_snapshot(snapshot_runbook(runbook))
    running = run_message(info, state)
    assert "INC-3" in running["text"] and "RB-04" in running["text"]
    (block,) = actions(running)
    assert block["elements"][0]["style"] == "danger"
    aborted = abort(state)
    assert isinstance(aborted, Aborted)
    assert actions(run_message(info, aborted.state)) == []


def test_never_acknowledged_says_whether_the_target_was_missed() -> None:
    opened = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    quick = IncidentView(1, "Disk", opened, resolved_at=opened + timedelta(seconds=12))
    late = IncidentView(2, "Disk", opened, resolved_at=opened + timedelta(days=2))
    assert ack_summary(quick, 86_400) == "Never acknowledged — resolved within the 24 h target"
    assert ack_summary(late, 86_400) == "Never acknowledged — missed the 24 h target"
    assert ack_summary(quick, None) == "Never acknowledged"
