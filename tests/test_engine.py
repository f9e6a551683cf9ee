"""The run state machine (``bot.runs.engine``): pure functions, no I/O."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.runbook import Runbook, parse_runbook
from bot.runs.engine import (
    Aborted,
    Accepted,
    Decision,
    Refusal,
    Refused,
    RollbackStatus,
    RunState,
    RunStatus,
    abort,
    decide,
    snapshot_runbook,
    state_from_snapshot,
)

RUNBOOK_MD = """\
---
id: RB-T1
title: Test runbook
---

# Test runbook

## Prerequisites

You need a terminal.

1. Open the console.

## Steps

1. Drain the node.

   ```bash
   kubectl drain node-1
   ```

2. Restart the service.

### Verify

3. Check the dashboard.

## Rollback

1. Uncordon the node.
2. Tell the channel.
"""

NO_ROLLBACK_MD = """\
# Small

## Steps

1. Only step.
"""

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def parse(md: str, path: str = "RB-T1.md") -> Runbook:
    runbook, problems = parse_runbook(md, path)
    assert runbook is not None, [str(p) for p in problems]
    return runbook


def fresh(md: str = RUNBOOK_MD) -> RunState:
    return state_from_snapshot(snapshot_runbook(parse(md)))


def accepted(result: Accepted | Refused) -> Accepted:
    assert isinstance(result, Accepted), result
    return result


def refused(result: object) -> Refused:
    assert isinstance(result, Refused), result
    return result


def test_snapshot_flattens_phases_and_keeps_rollback_apart() -> None:
    snap = snapshot_runbook(parse(RUNBOOK_MD))
    # JSON round trip: what the database stores.
    snap = json.loads(json.dumps(snap))
    texts = [s["text"] for s in snap["steps"]]
    assert len(texts) == 4
    assert "Open the console" in texts[0]
    assert "Drain the node" in texts[1]
    assert "Check the dashboard" in texts[3]
    assert [s["index"] for s in snap["steps"]] == [0, 1, 2, 3]
    assert [s["position"] for s in snap["steps"]] == [1, 2, 3, 4]
    assert {s["total"] for s in snap["steps"]} == {4}
    assert [s["phase"] for s in snap["steps"]] == ["Prerequisites", "Steps", "Steps", "Steps"]
    # The phase intro travels with the phase's first step only.
    assert any("terminal" in part for part in snap["steps"][0]["phase_intro"])
    assert snap["steps"][2]["phase_intro"] == []
    # Context (fenced code) stays with its step; ### headings label steps.
    assert any("kubectl drain" in c for c in snap["steps"][1]["context"])
    assert snap["steps"][3]["label"] == "Verify"
    rollback = snap["rollback"]
    assert [s["index"] for s in rollback] == [4, 5]
    assert all(s["rollback"] for s in rollback)
    assert [s["position"] for s in rollback] == [1, 2]

    state = state_from_snapshot(snap)
    assert state.normal_count == 4
    assert len(state.rollback_steps) == 2
    assert state.status is RunStatus.RUNNING
    assert state.rollback_status is RollbackStatus.NONE


def test_current_step_is_the_first_undecided_normal_step() -> None:
    state = fresh()
    current = state.current()
    assert current is not None and current.index == 0
    assert state.counts() == {Decision.APPROVED: 0, Decision.SKIPPED: 0}


def test_approve_and_skip_advance() -> None:
    state = fresh()
    first = accepted(decide(state, 0, Decision.APPROVED, "U1", T0))
    assert first.step.index == 0
    assert first.record.by == "U1" and first.record.decision is Decision.APPROVED
    assert first.next_step is not None and first.next_step.index == 1
    assert not first.run_completed
    # The input state is unchanged (pure function).
    assert state.decisions == {}
    second = accepted(decide(first.state, 1, Decision.SKIPPED, "U2", T0 + timedelta(seconds=5)))
    assert second.next_step is not None and second.next_step.index == 2
    assert second.state.counts() == {Decision.APPROVED: 1, Decision.SKIPPED: 1}
    assert second.state.current() is not None and second.state.current().index == 2


def test_already_decided_refusal_names_who() -> None:
    state = accepted(decide(fresh(), 0, Decision.APPROVED, "UALICE", T0)).state
    again = refused(decide(state, 0, Decision.SKIPPED, "UBOB", T0 + timedelta(seconds=1)))
    assert again.reason is Refusal.ALREADY_DECIDED
    assert again.existing is not None
    assert again.existing.by == "UALICE"
    assert again.existing.decision is Decision.APPROVED
    assert again.existing.at == T0


def test_not_current_refusal() -> None:
    state = fresh()
    result = refused(decide(state, 2, Decision.APPROVED, "U1", T0))
    assert result.reason is Refusal.NOT_CURRENT
    # Rollback steps are not active while the run is running.
    assert refused(decide(state, 4, Decision.APPROVED, "U1", T0)).reason in (
        Refusal.RUN_ENDED,
        Refusal.NOT_CURRENT,
    )
    assert refused(decide(state, 99, Decision.APPROVED, "U1", T0)).reason is Refusal.UNKNOWN_STEP
    assert refused(decide(state, -1, Decision.APPROVED, "U1", T0)).reason is Refusal.UNKNOWN_STEP


def test_completion_after_last_normal_step() -> None:
    state = fresh()
    result = None
    for index in range(state.normal_count):
        result = accepted(decide(state, index, Decision.APPROVED, "U1", T0))
        state = result.state
    assert result is not None
    assert result.run_completed and result.next_step is None
    assert state.status is RunStatus.COMPLETED
    assert state.current() is None
    assert state.counts() == {Decision.APPROVED: 4, Decision.SKIPPED: 0}
    # Nothing more can be decided, rollback included.
    assert refused(decide(state, 4, Decision.APPROVED, "U1", T0)).reason is Refusal.RUN_ENDED


def test_abort_activates_rollback_and_refuses_normal_steps() -> None:
    state = accepted(decide(fresh(), 0, Decision.APPROVED, "U1", T0)).state
    result = abort(state)
    assert isinstance(result, Aborted)
    aborted = result.state
    assert aborted.status is RunStatus.ABORTED
    assert aborted.rollback_status is RollbackStatus.RUNNING
    assert result.first_rollback_step is not None
    assert result.first_rollback_step.index == 4 and result.first_rollback_step.rollback
    assert aborted.current() == result.first_rollback_step
    # The pending normal step can no longer be decided.
    late = refused(decide(aborted, 1, Decision.APPROVED, "U1", T0))
    assert late.reason is Refusal.RUN_ENDED
    assert late.status is RunStatus.ABORTED
    # Decided normal steps still say who decided them.
    assert refused(decide(aborted, 0, Decision.SKIPPED, "U2", T0)).reason is (
        Refusal.ALREADY_DECIDED
    )


def test_rollback_runs_in_order_and_completes() -> None:
    aborted = abort(fresh())
    assert isinstance(aborted, Aborted)
    state = aborted.state
    assert refused(decide(state, 5, Decision.APPROVED, "U1", T0)).reason is Refusal.NOT_CURRENT
    first = accepted(decide(state, 4, Decision.APPROVED, "U1", T0))
    assert first.next_step is not None and first.next_step.index == 5
    assert not first.rollback_completed
    last = accepted(decide(first.state, 5, Decision.SKIPPED, "U2", T0))
    assert last.rollback_completed and not last.run_completed
    assert last.next_step is None
    assert last.state.rollback_status is RollbackStatus.DONE
    assert last.state.status is RunStatus.ABORTED
    assert last.state.counts(rollback=True) == {Decision.APPROVED: 1, Decision.SKIPPED: 1}
    assert last.state.counts() == {Decision.APPROVED: 0, Decision.SKIPPED: 0}
    assert last.state.current() is None


def test_abort_without_rollback_phase() -> None:
    result = abort(fresh(NO_ROLLBACK_MD))
    assert isinstance(result, Aborted)
    assert result.first_rollback_step is None
    assert result.state.rollback_status is RollbackStatus.NONE
    assert result.state.current() is None


@pytest.mark.parametrize("ended", ["completed", "aborted"])
def test_abort_of_an_ended_run_is_refused(ended: str) -> None:
    state = fresh()
    if ended == "completed":
        for index in range(state.normal_count):
            state = accepted(decide(state, index, Decision.SKIPPED, "U1", T0)).state
    else:
        aborted = abort(state)
        assert isinstance(aborted, Aborted)
        state = aborted.state
    result = refused(abort(state))
    assert result.reason is Refusal.RUN_ENDED
    assert result.status is RunStatus(ended)


def test_state_from_snapshot_restores_decisions() -> None:
    snap = snapshot_runbook(parse(RUNBOOK_MD))
    record = accepted(decide(state_from_snapshot(snap), 0, Decision.APPROVED, "U1", T0)).record
    state = state_from_snapshot(snap, decisions=[record])
    assert state.current() is not None and state.current().index == 1
    state = state_from_snapshot(snap, status="aborted", rollback_status="running")
    assert state.current() is not None and state.current().index == 4


# --- property ---------------------------------------------------------------

ops = st.lists(
    st.one_of(
        st.tuples(
            st.just("decide"),
            st.integers(min_value=-1, max_value=7),
            st.sampled_from(list(Decision)),
            st.sampled_from(["U1", "U2", "U3"]),
        ),
        st.tuples(st.just("abort")),
    ),
    max_size=25,
)


@settings(max_examples=300, deadline=None)
@given(ops=ops, with_rollback=st.booleans())
def test_each_step_decided_at_most_once_and_in_order(ops: list[tuple], with_rollback: bool) -> None:
    state = fresh(RUNBOOK_MD if with_rollback else NO_ROLLBACK_MD)
    decided: list[int] = []
    aborted = False
    for i, op in enumerate(ops):
        at = T0 + timedelta(seconds=i)
        if op[0] == "abort":
            result = abort(state)
            if isinstance(result, Aborted):
                assert not aborted and state.status is RunStatus.RUNNING
                aborted = True
                state = result.state
            else:
                assert state.status is not RunStatus.RUNNING
            continue
        _, index, decision, user = op
        before = state
        result = decide(state, index, decision, user, at)
        if isinstance(result, Accepted):
            assert index not in decided
            assert index not in before.decisions
            assert before.current() is not None and before.current().index == index
            decided.append(index)
            state = result.state
            assert state.decisions[index].by == user
        else:
            if index in before.decisions:
                assert result.reason is Refusal.ALREADY_DECIDED
                assert result.existing == before.decisions[index]
        # Invariants after every call.
        assert len(decided) == len(set(decided))
        assert set(state.decisions) == set(decided)
    # Decisions happen in order: normal steps 0..k, then (after abort) rollback steps.
    normal = [i for i in decided if i < state.normal_count]
    rollback = [i for i in decided if i >= state.normal_count]
    assert normal == list(range(len(normal)))
    assert rollback == list(range(state.normal_count, state.normal_count + len(rollback)))
    assert decided == normal + rollback
    if rollback:
        assert aborted
    if state.status is RunStatus.COMPLETED:
        assert len(normal) == state.normal_count and not rollback
