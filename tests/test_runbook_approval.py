"""`[approval: …]` step tags and `rto` durations, parsed as data (SPEC §7), pure."""

from __future__ import annotations

import pytest

from bot.runbook import Approval, Severity
from bot.runbook.approval import parse_approval, split_tag
from bot.timefmt import parse_duration
from tests.runbook_support import ok, parse

# --- the tag's inner text -------------------------------------------------------


@pytest.mark.parametrize(
    ("inner", "expected"),
    [
        ("commander", Approval(roles=("commander",), source="commander")),
        (" Commander ", Approval(roles=("commander",), source="Commander")),
        ("SRE", Approval(roles=("sre",), source="SRE")),  # all letters: a role, not an ID
        ("@security", Approval(groups=("security",), source="@security")),
        ("@Platform-Oncall", Approval(groups=("platform-oncall",), source="@Platform-Oncall")),
        ("S0123ABCD", Approval(groups=("S0123ABCD",), source="S0123ABCD")),
        (
            "<!subteam^S0123ABCD|@security>",
            Approval(groups=("S0123ABCD",), source="<!subteam^S0123ABCD|@security>"),
        ),
        ("<@U0123ABCD>", Approval(users=("U0123ABCD",), source="<@U0123ABCD>")),
        ("<@U0123ABCD|alice>", Approval(users=("U0123ABCD",), source="<@U0123ABCD|alice>")),
        ("U0123ABCD", Approval(users=("U0123ABCD",), source="U0123ABCD")),
        ("W0123ABCD", Approval(users=("W0123ABCD",), source="W0123ABCD")),
        ("2 people", Approval(people=2, source="2 people")),
        ("3 People", Approval(people=3, source="3 People")),
        ("1 person", Approval(people=1, source="1 person")),
        (
            "commander, @security, 2 people",
            Approval(
                roles=("commander",),
                groups=("security",),
                people=2,
                source="commander, @security, 2 people",
            ),
        ),
        (
            "commander,commander, <@U0123ABCD>,U0123ABCD",
            Approval(
                roles=("commander",),
                users=("U0123ABCD",),
                source="commander,commander, <@U0123ABCD>,U0123ABCD",
            ),
        ),
    ],
)
def test_parse_approval_forms(inner: str, expected: Approval) -> None:
    assert parse_approval(inner) == expected


@pytest.mark.parametrize(
    ("inner", "fragment"),
    [
        ("", "empty approval tag"),
        ("   ", "empty approval tag"),
        ("commander,", "empty requirement"),
        ("incident commander", "'incident commander' in approval tag is not a requirement"),
        ("0 people", "must be 1 to 10"),
        ("11 people", "must be 1 to 10"),
        ("2 people, 3 people", "gives the number of people twice"),
        ("<@alice>", "'<@alice>' in approval tag is not a requirement"),
        ("commander; security", "is not a requirement"),
    ],
)
def test_parse_approval_refuses_unreadable_text(inner: str, fragment: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_approval(inner)
    assert fragment in str(info.value)
    # Every refusal teaches the accepted forms.
    assert "a role (commander)" in str(info.value) or "number of people" in str(info.value)


def test_split_tag() -> None:
    assert split_tag("Restore the branch [approval: commander]") == (
        "Restore the branch",
        " commander",
        19,
    )
    assert split_tag("Restore [approval: x] now") == ("Restore [approval: x] now", None, -1)
    assert split_tag("Get the manager's [approval](https://x/y)") == (
        "Get the manager's [approval](https://x/y)",
        None,
        -1,
    )
    for bad in ("Go [approval commander]", "Go [approvers: commander]", "Go [approval: commander"):
        with pytest.raises(ValueError, match="unreadable approval tag"):
            split_tag(bad)


# --- tags on steps ----------------------------------------------------------------


def test_tag_becomes_data_and_leaves_the_text() -> None:
    runbook = ok(
        """
        # Restore

        ## Steps

        1. **Restore the branch.** [approval: commander]

           ```bash
           neon branches create
           ```

        2. Switch production
           over to it [approval: @security, 2 people]
        - [ ] Tell the channel [Approval: <@U0123ABCD>]
        3. Untagged step
        """
    )
    steps = [step for _, step in runbook.steps]
    assert [s.text for s in steps] == [
        "**Restore the branch.**",
        "Switch production\nover to it",
        "Tell the channel",
        "Untagged step",
    ]
    assert [s.approval for s in steps] == [
        Approval(roles=("commander",), source="commander"),
        Approval(groups=("security",), people=2, source="@security, 2 people"),
        Approval(users=("U0123ABCD",), source="<@U0123ABCD>"),
        None,
    ]
    assert steps[0].context == ("```bash\nneon branches create\n```",)


def test_rollback_steps_carry_tags_too() -> None:
    runbook = ok("## Steps\n1. go\n## Rollback\n1. undo it [approval: commander]\n")
    assert runbook.rollback is not None
    assert runbook.rollback.steps[0].text == "undo it"
    assert runbook.rollback.steps[0].approval == Approval(roles=("commander",), source="commander")


def test_unreadable_tag_is_an_error_at_its_line() -> None:
    runbook, problems = parse(
        """
        ## Steps

        1. First
        2. Restore the
           branch [approval: the boss, 2 people]
        3. Go [approval commander]
        """
    )
    assert runbook is None
    assert [(p.line, p.severity) for p in problems] == [
        (5, Severity.ERROR),  # the tag's line, not the item's
        (6, Severity.ERROR),
    ]
    assert str(problems[0]).startswith(
        "runbooks/rb-x.md:5: 'the boss' in approval tag is not a requirement: use a role"
    )
    assert "unreadable approval tag '[approval commander]'" in problems[1].message


def test_tag_in_context_or_plain_bullet_is_just_text() -> None:
    runbook = ok("## Notes\n- ask [approval: x y]\n## Steps\n1. go\n\n   see [approval: q r]\n")
    assert runbook.phases[0].intro == ("- ask [approval: x y]",)
    assert runbook.phases[1].steps[0].context == ("see [approval: q r]",)


# --- durations and rto ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [
        ("90s", 90),
        ("15m", 900),
        ("1h", 3600),
        ("1d", 86400),
        ("1h30m", 5400),
        ("1h 30m", 5400),
        ("60 min", 3600),
        ("2 hours", 7200),
        ("1.5h", 5400),
        ("01:00:00", 3600),
        ("0:00:45", 45),
        ("3600", 3600),
        (" 45 ", 45),
        (900, 900),
        (1.5, 1.5),
        ("15M", 900),
    ],
)
def test_parse_duration(raw: object, seconds: float) -> None:
    assert parse_duration(raw) == seconds


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("", "expected a duration (90s, 15m, 1h, 1d, HH:MM:SS or seconds)"),
        ("soon", "expected a duration"),
        ("≤ 60 min", "expected a duration"),
        ("10 fortnights", "unknown unit 'fortnights'"),
        ("0", "more than 0 seconds"),
        ("0m", "more than 0 seconds"),
        ("-5", "more than 0 seconds"),
        ("nan", "more than 0 seconds"),
        ("inf", "at most"),
        ("400d", "at most"),
        ("1:99:00", "expected a duration"),
        (True, "expected a duration"),
    ],
)
def test_parse_duration_refuses(raw: object, fragment: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_duration(raw)
    assert fragment in str(info.value)


def test_settings_form_has_no_units() -> None:
    assert parse_duration("00:30:00", units=False) == 1800
    with pytest.raises(ValueError, match=r"expected a duration \(seconds \(1800\) or HH:MM:SS\)"):
        parse_duration("30m", units=False)


@pytest.mark.parametrize(("raw", "seconds"), [("60m", 3600), ("90s", 90), ("3600", 3600)])
def test_rto_seconds(raw: str, seconds: float) -> None:
    runbook = ok(f"---\nrto: {raw}\n---\n## Steps\n1. go\n")
    assert runbook.rto == raw and runbook.rto_seconds == seconds


def test_no_rto_is_none() -> None:
    assert ok("## Steps\n1. go\n").rto_seconds is None


@pytest.mark.parametrize("raw", ["soon", "0", "[1, 2]", "yes"])
def test_unreadable_rto_is_an_error_at_its_key(raw: str) -> None:
    runbook, problems = parse(f"---\nid: RB-1\nrto: {raw}\n---\n## Steps\n1. go\n")
    assert runbook is None
    assert [(p.line, p.severity) for p in problems] == [(3, Severity.ERROR)]
    assert problems[0].message.startswith("unreadable front matter rto: ")


def test_rto_label_in_text_that_is_not_a_duration_only_warns() -> None:
    runbook, problems = parse("# T\n\n**RTO:** within the hour\n\n## Steps\n1. go\n")
    assert runbook is not None and runbook.rto == "within the hour"
    assert runbook.rto_seconds is None
    assert [(p.line, p.severity) for p in problems] == [(3, Severity.WARNING)]
    assert "runs get no RTO clock" in problems[0].message
    labelled = ok("# T\n\n**RTO:** 45 minutes\n\n## Steps\n1. go\n")
    assert labelled.rto_seconds == 2700


def test_a_misspelt_usual_role_is_an_error_with_did_you_mean() -> None:
    runbook, problems = parse(
        """
        ## Steps

        1. Restore [approval: comander]
        2. Announce [approval: sre, comms]
        """
    )
    assert runbook is None
    assert [(p.line, p.severity) for p in problems] == [(3, Severity.ERROR)]
    assert str(problems[0]).startswith(
        "runbooks/rb-x.md:3: 'comander' in approval tag is not a role: did you mean 'commander'?"
    )
    # Roles of one's own (sre) and the usual ones stay accepted.
    assert parse_approval("sre, comms").roles == ("sre", "comms")
    assert parse_approval("Scribe").roles == ("scribe",)
