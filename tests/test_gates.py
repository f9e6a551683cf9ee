"""The approval rule (SPEC §7), pure: requirement + decider + roles + group
members + earlier partial approvals → allow / partial / refuse(reason); what a
gated step shows; the gate kept in a run's snapshot."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.runbook import Approval
from bot.runs import blocks, engine
from bot.runs.gates import Allow, Partial, Refuse, describe, judge, progress
from bot.slack.groups import NO_SUCH_GROUP
from tests.runbook_support import ok

COMMANDER = Approval(roles=("commander",), source="commander")
SECURITY = Approval(groups=("security",), source="@security")
TWO = Approval(people=2, source="2 people")
ROLES = {"commander": "UCMD"}
MEMBERS = {"security": frozenset({"USEC1", "USEC2"})}


def test_a_role_is_its_holder() -> None:
    assert judge(COMMANDER, "UCMD", "approved", ROLES, {}) == Allow(("UCMD",))
    refused = judge(COMMANDER, "UBOB", "approved", ROLES, {})
    assert isinstance(refused, Refuse) and refused.reason == "requirement"
    assert "the commander — <@UCMD>" in refused.text and "Nothing changed" in refused.text
    # Skip needs the commander too.
    assert isinstance(judge(COMMANDER, "UBOB", "skipped", ROLES, {}), Refuse)
    assert judge(COMMANDER, "UCMD", "skipped", ROLES, {}) == Allow(("UCMD",))


def test_a_role_nobody_holds_says_how_to_assign_it() -> None:
    refused = judge(COMMANDER, "UBOB", "approved", {}, {})
    assert isinstance(refused, Refuse)
    assert "nobody holds that role yet" in refused.text
    assert "/incident role commander" in refused.text


def test_a_user_group_is_its_members() -> None:
    assert judge(SECURITY, "USEC2", "approved", {}, MEMBERS) == Allow(("USEC2",))
    refused = judge(SECURITY, "UBOB", "approved", {}, MEMBERS)
    assert isinstance(refused, Refuse) and "someone from @security" in refused.text


def test_a_group_slack_could_not_list_refuses_asking_to_retry() -> None:
    refused = judge(SECURITY, "USEC1", "approved", {}, {"security": None})
    assert isinstance(refused, Refuse) and refused.reason == "unknown_group"
    assert "try again" in refused.text
    # Missing from the mapping altogether: unknown as well, never allowed.
    assert isinstance(judge(SECURITY, "USEC1", "approved", {}, {}), Refuse)


def test_a_group_the_workspace_lacks_is_named_not_retried() -> None:
    refused = judge(SECURITY, "USEC1", "approved", {}, {"security": NO_SUCH_GROUP})
    assert isinstance(refused, Refuse) and refused.reason == "no_such_group"
    assert "@security" in refused.text and "no user group by that name" in refused.text
    assert "try again" not in refused.text and "Nothing changed" in refused.text
    two = Approval(groups=("security", "S0DBA"), source="@security S0DBA")
    both = judge(two, "U1", "approved", {}, {"security": NO_SUCH_GROUP, "S0DBA": NO_SUCH_GROUP})
    assert isinstance(both, Refuse)
    assert "@security and user group `S0DBA`" in both.text and "those names" in both.text


def test_a_named_user() -> None:
    gate = Approval(users=("UANA",), source="<@UANA>")
    assert judge(gate, "UANA", "approved", {}, {}) == Allow(("UANA",))
    refused = judge(gate, "UBOB", "approved", {}, {})
    assert isinstance(refused, Refuse) and "<@UANA>" in refused.text


def test_two_people() -> None:
    first = judge(TWO, "UANA", "approved", {}, {})
    assert first == Partial(("UANA",), 2)
    again = judge(TWO, "UANA", "approved", {}, {}, prior=[("UANA", "approved")])
    assert isinstance(again, Refuse) and again.reason == "again"
    assert "someone else" in again.text
    second = judge(TWO, "UBOB", "approved", {}, {}, prior=[("UANA", "approved")])
    assert second == Allow(("UANA", "UBOB"))


def test_partial_approvals_count_per_decision() -> None:
    # A skip does not complete an approval, nor the other way round.
    assert judge(TWO, "UBOB", "skipped", {}, {}, prior=[("UANA", "approved")]) == Partial(
        ("UBOB",), 2
    )
    assert judge(TWO, "UBOB", "approved", {}, {}, prior=[("UANA", "skipped")]) == Partial(
        ("UBOB",), 2
    )


def test_commander_and_two_people_means_the_commander_and_one_more() -> None:
    gate = Approval(roles=("commander",), people=2, source="commander, 2 people")
    # Anyone first (the commander can still come second)…
    assert judge(gate, "UANA", "approved", ROLES, {}) == Partial(("UANA",), 2)
    # …but then not a second non-commander: that would leave the role unmet.
    refused = judge(gate, "UBOB", "approved", ROLES, {}, prior=[("UANA", "approved")])
    assert isinstance(refused, Refuse)
    assert "still needs the commander — <@UCMD>" in refused.text and "<@UANA>" in refused.text
    assert judge(gate, "UCMD", "approved", ROLES, {}, prior=[("UANA", "approved")]) == Allow(
        ("UANA", "UCMD")
    )
    # The commander first, then anyone.
    assert judge(gate, "UCMD", "approved", ROLES, {}) == Partial(("UCMD",), 2)
    assert judge(gate, "UBOB", "approved", ROLES, {}, prior=[("UCMD", "approved")]) == Allow(
        ("UCMD", "UBOB")
    )


def test_every_requirement_applies() -> None:
    both = Approval(roles=("commander",), groups=("security",), people=2, source="…")
    # A click that meets neither, with one slot left for two requirements: refused,
    # so the step can never get stuck waiting for a person who cannot complete it.
    refused = judge(both, "UBOB", "approved", ROLES, MEMBERS)
    assert isinstance(refused, Refuse)
    assert "the commander — <@UCMD> and someone from @security" in refused.text
    assert judge(both, "UCMD", "approved", ROLES, MEMBERS) == Partial(("UCMD",), 2)
    assert isinstance(
        judge(both, "UBOB", "approved", ROLES, MEMBERS, prior=[("UCMD", "approved")]), Refuse
    )
    assert judge(both, "USEC1", "approved", ROLES, MEMBERS, prior=[("UCMD", "approved")]) == (
        Allow(("UCMD", "USEC1"))
    )
    # One person alone must meet all of them when one person is asked for.
    one = Approval(roles=("commander",), groups=("security",), source="commander, @security")
    assert isinstance(judge(one, "UCMD", "approved", ROLES, MEMBERS), Refuse)
    members = {"security": frozenset({"UCMD"})}
    assert judge(one, "UCMD", "approved", ROLES, members) == Allow(("UCMD",))


def test_what_the_step_shows() -> None:
    assert describe(COMMANDER, ROLES) == "🔒 Needs the commander — <@UCMD>"
    assert "nobody holds that role yet" in describe(COMMANDER, {})
    assert describe(SECURITY, {}) == "🔒 Needs someone from @security"
    assert describe(Approval(groups=("S0SEC1",)), {}) == "🔒 Needs someone from user group `S0SEC1`"
    assert describe(TWO, {}) == "🔒 Needs 2 different people"
    gate = Approval(roles=("commander",), people=2)
    assert describe(gate, ROLES) == "🔒 Needs the commander — <@UCMD> · 2 different people"
    assert progress(["UANA"], 2) == "☑️ 1 of 2 approvals — <@UANA>"


RB = """
    # Gated

    ## Steps

    1. Stop writes. [approval: commander]
    2. Restore. [approval: @security, 2 people]
    3. Check.
"""


def test_the_gate_is_kept_in_the_run_snapshot_and_shown() -> None:
    runbook = ok(RB)
    snapshot = engine.snapshot_runbook(runbook)
    state = engine.state_from_snapshot(snapshot)
    first, second, third = state.steps
    assert first.approval == COMMANDER
    assert second.approval == Approval(groups=("security",), people=2, source="@security, 2 people")
    assert third.approval is None and "approval" not in snapshot["steps"][2]
    assert engine.FlowStep.from_json(second.to_json()) == second
    # A snapshot from before gates existed has none.
    legacy = {k: v for k, v in snapshot["steps"][0].items() if k != "approval"}
    assert engine.FlowStep.from_json(legacy).approval is None

    posted = blocks.step_message(1, first, ROLES)
    rendered = str(posted["blocks"])
    assert "Needs the commander — <@UCMD>" in rendered
    assert "[approval" not in rendered  # the tag is a requirement, not step text
    partly = blocks.step_message(1, second, {}, ["UANA"])
    assert "1 of 2 approvals — <@UANA>" in str(partly["blocks"])
    assert "(1 of 2 approvals)" in partly["text"]
    assert any(b["type"] == "actions" for b in partly["blocks"])  # buttons kept
    record = engine.DecisionRecord(1, engine.Decision.APPROVED, "UBOB", datetime.now(UTC))
    decided = blocks.decided_step_message(second, record, ("UANA", "UBOB"))
    assert decided["text"].endswith("approved by <@UANA> and <@UBOB>")
    assert not any(b["type"] == "actions" for b in decided["blocks"])


@pytest.mark.parametrize("decision", ["approved", "skipped"])
def test_ungated_rule_never_consulted(decision: str) -> None:
    # An empty requirement with one person is simply that person.
    assert judge(Approval(), "UANY", decision, {}, {}) == Allow(("UANY",))


def test_the_role_hint_names_the_incident() -> None:
    # With two incidents open, `/incident role commander @x` alone is refused: say which.
    refused = judge(COMMANDER, "UBOB", "approved", {}, {}, (), "INC-7")
    assert isinstance(refused, Refuse)
    assert "`/incident role INC-7 commander @someone`" in refused.text
    assert "`/incident role INC-7 commander @someone`" in describe(COMMANDER, {}, "INC-7")
