"""Priority levels (SPEC §7), pure: PRIORITY_LEVELS parsing, the level word in a
command, severity → level, the escalation contact, how spans read."""

from __future__ import annotations

import pytest

from bot.incidents.priority import (
    DEFAULT_LEVELS,
    LevelWord,
    PriorityLevel,
    PriorityPolicy,
    level_for_severity,
    level_of_word,
    looks_like_level,
    mention,
    parse_contact,
    parse_priority_levels,
    read_level_word,
    span,
    split_level_word,
)

LEVELS = ("critical", "high", "medium", "low")


def test_default_levels_follow_the_seed() -> None:
    # 001_…: CRITICAL < 15 min, HIGH < 1 h, MEDIUM < 4 h, LOW < 24 h.
    assert parse_priority_levels(DEFAULT_LEVELS) == [
        PriorityLevel("critical", 900),
        PriorityLevel("high", 3600),
        PriorityLevel("medium", 4 * 3600),
        PriorityLevel("low", 24 * 3600),
    ]


def test_levels_with_update_intervals_and_every_duration_form() -> None:
    levels = parse_priority_levels(" SEV-ONE=90s/15m , p_two=00:30:00, slow=1d/1h, x=600 ")
    assert levels == [
        PriorityLevel("sev-one", 90, 900),
        PriorityLevel("p_two", 1800, None),
        PriorityLevel("slow", 86400, 3600),
        PriorityLevel("x", 600, None),
    ]


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("", "at least one level"),
        ("critical", "name=response target"),
        ("critical=", "name=response target"),
        ("=15m", "name=response target"),
        ("critical=soon", "level 'critical'"),
        ("critical=15m/often", "level 'critical'"),
        ("critical=0", "more than 0"),
        ("critical=15m,critical=1h", "twice"),
        ("two words=15m", "one word"),
        ("sev1=15m", "SEV<n>"),
        ("p2=1h", "SEV<n>"),
    ],
)
def test_unreadable_levels_say_why(raw: str, says: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_priority_levels(raw)
    assert says in str(info.value)


@pytest.mark.parametrize(
    ("severity", "level"),
    [
        ("critical", "critical"),
        ("HIGH", "high"),
        (" Medium ", "medium"),
        ("SEV1", "critical"),
        ("sev2", "high"),
        ("SEV3", "medium"),
        ("SEV4", "low"),
        ("SEV9", "low"),  # past the last: the last
        ("SEV0", "critical"),  # SEV0 / P0: the first too
        ("P0", "critical"),
        ("P1", "critical"),
        ("p2", "high"),
        ("SEV-2", "high"),
        ("Maintenance", None),
        ("", None),
        (None, None),
        ("SEV", None),
        ("P1A", None),
    ],
)
def test_level_for_severity(severity: str | None, level: str | None) -> None:
    assert level_for_severity(severity, LEVELS) == level


def test_level_for_severity_with_no_levels() -> None:
    assert level_for_severity("SEV1", []) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("critical Payments down", ("critical", "Payments down")),
        ("CRITICAL   Payments down", ("critical", "Payments down")),
        ("Critical", ("critical", "")),
        ("Payments critical", (None, "Payments critical")),
        ("criticality unclear", (None, "criticality unclear")),
        ("", (None, "")),
    ],
)
def test_split_level_word(text: str, expected: tuple[str | None, str]) -> None:
    assert split_level_word(text, LEVELS) == expected


@pytest.mark.parametrize(
    ("raw", "contact"),
    [
        ("U0123ABCD", "U0123ABCD"),
        ("S0ONCALL1", "S0ONCALL1"),
        ("<@U0123ABCD>", "U0123ABCD"),
        ("<@U0123ABCD|ana>", "U0123ABCD"),
        ("<!subteam^S0ONCALL1|@oncall>", "S0ONCALL1"),
        ("", None),
        (None, None),
    ],
)
def test_escalation_contact(raw: str | None, contact: str | None) -> None:
    assert parse_contact(raw) == contact


@pytest.mark.parametrize("raw", ["bob", "@oncall", "C0123ABCD", "U-1", "SRE"])
def test_escalation_contact_refuses_what_is_not_an_id(raw: str) -> None:
    with pytest.raises(ValueError, match="user ID"):
        parse_contact(raw)


def test_mentions() -> None:
    assert mention("U1ABC") == "<@U1ABC>"
    assert mention("S1ABC") == "<!subteam^S1ABC>"
    assert mention(None) == ""


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(90, "90 s"), (60, "1 min"), (900, "15 min"), (3600, "1 h"), (5400, "90 min"),
     (14400, "4 h"), (86400, "24 h"), (172800, "2 d"), (9000, "2 h 30 min")],
)  # fmt: skip
def test_spans_read_as_people_say_them(seconds: float, text: str) -> None:
    assert span(seconds) == text


def test_policy() -> None:
    policy = PriorityPolicy(
        tuple(parse_priority_levels("critical=15m/10m,high=1h,low=1d")),
        default="high",
        status_interval=1800,
        escalation_contact="S1",
    )
    assert policy.names == ("critical", "high", "low")
    assert policy.level("CRITICAL") == PriorityLevel("critical", 900, 600)
    assert policy.level("urgent") is None and policy.level(None) is None
    assert policy.interval_for("critical") == 600  # the level's own cadence
    assert policy.interval_for("high") == 1800  # STATUS_UPDATE_INTERVAL
    assert policy.target_for("low") == 86400 and policy.target_for("nope") is None
    assert policy.for_runbook("SEV1") == "critical"
    assert policy.for_runbook("SEV2") == "high"
    assert policy.for_runbook("Maintenance") == "high"  # the default
    assert policy.for_runbook(None) == "high"
    assert "`critical` (respond within 15 min)" in policy.describe()


@pytest.mark.parametrize(
    ("text", "level", "rest", "unknown"),
    [
        # SEV<n> / P<n> as a runbook's severity maps them (0 and 1: the first).
        ("sev1 Checkout errors", "critical", "Checkout errors", None),
        ("SEV2 Checkout", "high", "Checkout", None),
        ("P0 x", "critical", "x", None),
        ("p4 x", "low", "x", None),
        ("sev-3 x", "medium", "x", None),
        ("P1: checkout down", "critical", "checkout down", None),
        ("High, checkout", "high", "checkout", None),
        # Looks like a level, names none: refused, the text untouched.
        ("sev9 Checkout", None, "sev9 Checkout", "sev9"),
        ("sev5 x", None, "sev5 x", "sev5"),
        ("p7 x", None, "p7 x", "p7"),
        ("urgent Checkout", None, "urgent Checkout", "urgent"),
        ("critcal Checkout", None, "critcal Checkout", "critcal"),
        ("crtical x", None, "crtical x", "crtical"),
        ("hgih x", None, "hgih x", "hgih"),
        ("Urgent: db down", None, "Urgent: db down", "Urgent:"),
        # Titles that merely start near a level name are titles.
        ("slow checkout", None, "slow checkout", None),
        ("Lower latency", None, "Lower latency", None),
        ("median latency up", None, "median latency up", None),
        ("criticality unclear", None, "criticality unclear", None),
        ("Payments down", None, "Payments down", None),
        ("normal traffic again", None, "normal traffic again", None),
        ("Major outage", None, "Major outage", None),
        ("", None, "", None),
    ],
)
def test_read_level_word(text: str, level: str | None, rest: str, unknown: str | None) -> None:
    assert read_level_word(text, LEVELS) == LevelWord(level, rest, unknown)


def test_level_of_word_follows_the_configured_levels() -> None:
    assert level_of_word("SEV2", ("p-one", "p-two")) == "p-two"
    assert level_of_word("sev3", ("p-one", "p-two")) is None  # past the last: a slip
    assert level_for_severity("SEV3", ("p-one", "p-two")) == "p-two"  # front matter clamps
    assert looks_like_level("sev3", ("p-one", "p-two"))
    assert not looks_like_level("rollout", LEVELS)


def test_unknown_level_refusal_lists_levels_and_the_way_around() -> None:
    policy = PriorityPolicy(tuple(parse_priority_levels(DEFAULT_LEVELS)), "medium", 60.0)
    text = policy.unknown_level("urgent", "/incident declare {level} urgent DB <down>")
    assert text.startswith("`urgent` is not a priority level.")
    assert "`critical` (respond within 15 min)" in text and "`SEV1`…`SEV4`" in text
    assert "Nothing changed" in text
    assert "`/incident declare medium urgent DB &lt;down&gt;`" in text
