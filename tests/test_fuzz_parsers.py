"""Fuzzing the pure parsers that take outside input: a runbook file (parser and
lint), an Alertmanager body, slash-command words and button values. Each either
answers or raises its documented error, and what it renders from the input
never carries an unescaped ``<`` (a link or mention Slack would act on)."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.alerts.payload import PayloadError, parse_notification
from bot.incidents.service import BadIncidentKey, split_incident_arg
from bot.runbook import Library, parse_runbook
from bot.runbook.model import Problem
from bot.runs.catalog_blocks import list_message, show_message, unknown_runbook
from bot.slack.buttons import AbortButton, AlertButton, SnoozeButton, StepButton

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# Markdown-ish pieces, so the fuzzer reaches the parser's branches, not just "no steps".
PIECES = st.sampled_from(
    [
        "---\n",
        "id: ",
        "title: ",
        "rto: ",
        "&a ",
        "*a",
        "[",
        "]",
        "# ",
        "## Mitigation\n",
        "## Rollback\n",
        "### ",
        "1. ",
        "- ",
        "- [ ] ",
        "[approval: ",
        "@ops",
        "`",
        "```\n",
        "<!channel>",
        "<http://x|y>",
        "\n",
        "  ",
        "\t",
        "\ud800",
        "\x00",
        "**Owner:** ",
        ":",
    ]
)
RUNBOOK_TEXT = st.lists(st.one_of(PIECES, st.text(max_size=12)), max_size=60).map("".join)


@FUZZ
@given(RUNBOOK_TEXT)
def test_runbook_parser_never_raises_and_escapes_what_it_shows(text: str) -> None:
    runbook, problems = parse_runbook(text, "fuzz/RB-F.md")
    assert all(isinstance(p, Problem) for p in problems)
    if runbook is None:
        return
    shown = show_message(runbook)["text"]
    listed = list_message(Library({runbook.id: runbook}))["text"]
    assert "<" not in shown and "<" not in listed


@FUZZ
@given(st.binary(max_size=200))
def test_runbook_parser_takes_any_bytes(data: bytes) -> None:
    runbook, problems = parse_runbook(data, "fuzz/RB-B.md")
    assert runbook is not None or problems


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@FUZZ
@given(
    JSONISH,
    st.lists(
        st.dictionaries(
            st.sampled_from(
                ["status", "labels", "annotations", "startsAt", "fingerprint", "endsAt"]
            ),
            JSONISH,
        ),
        max_size=3,
    ),
)
def test_alertmanager_body_is_parsed_or_refused_with_payload_error(
    extra: object, alerts: list[dict[str, object]]
) -> None:
    body = {"version": "4", "status": "firing", "alerts": alerts, "groupKey": extra}
    for raw in (json.dumps(body).encode(), json.dumps(extra).encode()):
        try:
            notification = parse_notification(raw)
        except PayloadError:
            continue
        for item in notification.alerts:  # stored as JSON: must encode as UTF-8
            json.dumps(item.to_json()).encode("utf-8")


@FUZZ
@given(st.binary(max_size=100))
def test_alertmanager_takes_any_bytes(raw: bytes) -> None:
    with pytest.raises(PayloadError):
        parse_notification(raw + b"}")


@FUZZ
@given(st.text(max_size=60))
def test_command_words_parse_or_are_refused_escaped(text: str) -> None:
    try:
        incident_id, rest = split_incident_arg(text)
        assert len(rest) <= len(text)
    except BadIncidentKey as exc:
        assert "<" not in str(exc)
        return
    assert incident_id is None or incident_id >= 0
    assert "<" not in unknown_runbook(text, Library())


@FUZZ
@given(st.text(max_size=40))
def test_button_values_parse_or_raise_value_error(value: str) -> None:
    for kind in (StepButton, AbortButton, SnoozeButton, AlertButton):
        try:
            button = kind.from_json(value)
        except ValueError:
            continue
        assert kind.from_json(button.to_json()) == button
