"""Did-you-mean for typed words (pure): subcommands, approval words, levels."""

from __future__ import annotations

import pytest

from bot.runbook.words import closest, did_you_mean, edit_distance

RUNBOOK_VERBS = ("help", "list", "show", "start", "drill", "history", "abort", "stop", "cancel")
INCIDENT_VERBS = ("declare", "ack", "priority", "role", "update", "note", "resolve", "timeline")


@pytest.mark.parametrize(
    ("word", "choices", "expected"),
    [
        ("strat", RUNBOOK_VERBS, ["start"]),
        ("shwo", RUNBOOK_VERBS, ["show"]),
        ("histroy", RUNBOOK_VERBS, ["history"]),
        ("decalre", INCIDENT_VERBS, ["declare"]),
        ("resolv", INCIDENT_VERBS, ["resolve"]),
        ("UPDTE", INCIDENT_VERBS, ["update"]),
        ("comander", ("commander", "comms"), ["commander"]),
        ("/runbok", ("/runbook", "/incident"), ["/runbook"]),
        ("frobnicate", INCIDENT_VERBS, []),
        ("", INCIDENT_VERBS, []),
    ],
)
def test_closest(word: str, choices: tuple[str, ...], expected: list[str]) -> None:
    assert closest(word, choices) == expected


def test_did_you_mean_reads_as_a_sentence() -> None:
    assert did_you_mean("strat", RUNBOOK_VERBS) == " Did you mean `start`?"
    assert did_you_mean("zzz", RUNBOOK_VERBS) == ""


def test_edit_distance_counts_a_swap_as_one() -> None:
    assert edit_distance("hgih", "high") == 1
    assert edit_distance("critcal", "critical") == 1
    assert edit_distance("", "abc") == 3
    assert edit_distance("x" * 10_000, "x") == 63  # capped: long input costs nothing
