"""Typed boundaries: intake payloads and button values read back what the
previous release wrote (intake rows outlive deploys), and round-trip."""

from __future__ import annotations

import pytest

from bot.alerts.actions import click_payload
from bot.alerts.blocks import parse_button_value
from bot.intake.actions import decide_payload, start_payload
from bot.intake.payloads import AlertClickRequest, DecideRequest, Message, ReplyTo, StartRequest
from bot.runs.engine import Decision
from bot.slack.buttons import AbortButton, AlertButton, SnoozeButton, StepButton

# Exactly as the previous release's decide_payload / start_payload wrote them.
OLD_DECIDE = {
    "run_id": 7,
    "step_index": 2,
    "decision": "approved",
    "message": {"channel": "C1", "ts": "1700000000.000100"},
    "reply_to": {"channel": "C1", "user": "U1", "thread_ts": None, "name": "alice"},
}
OLD_START = {
    "runbook_id": "RB-04",
    "summary": "disk full",
    "incident_id": None,
    "priority": None,
    "trigger_id": "T1",
    "reply_to": {"channel": "C1", "user": "U1"},
}


def test_a_decide_row_written_by_the_previous_release_is_read() -> None:
    request = DecideRequest.from_json(OLD_DECIDE)
    assert request == DecideRequest(
        7, 2, Decision.APPROVED, Message("C1", "1700000000.000100"), ReplyTo("C1", "U1", "alice")
    )
    assert request.to_json() == OLD_DECIDE
    assert request.ordering_key == "run:7"


def test_a_start_row_written_by_the_previous_release_is_read() -> None:
    request = StartRequest.from_json(OLD_START)
    assert request.runbook_id == "RB-04" and request.reply_to == ReplyTo("C1", "U1")
    assert request.drill_environment is None and request.trigger_id == "T1"
    assert request.to_json() == OLD_START
    assert request.ordering_key == "channel:C1"
    drill = StartRequest.from_json({**OLD_START, "drill_environment": "staging"})
    assert drill.drill_environment == "staging"
    assert drill.to_json()["drill_environment"] == "staging"


def test_the_listeners_payloads_are_the_shapes_the_worker_reads() -> None:
    kind, key, payload = decide_payload(
        run_id=7,
        step_index=2,
        decision=Decision.APPROVED,
        user="U1",
        channel="C1",
        ts="1700000000.000100",
        thread_ts=None,
        name="alice",
    )
    assert (kind, key, payload) == ("decide", "run:7", OLD_DECIDE)
    kind, key, payload = start_payload(
        runbook_id="RB-04",
        channel="C1",
        user="U1",
        summary="disk full",
        incident_id=None,
        trigger_id="T1",
    )
    assert (kind, key, payload) == ("start", "channel:C1", OLD_START)


def test_a_reply_to_missing_optional_keys_reads_as_none() -> None:
    assert ReplyTo.from_json({"channel": "C1", "user": "U1"}) == ReplyTo("C1", "U1", None, None)
    assert ReplyTo.from_json(None) == ReplyTo("", "")


@pytest.mark.parametrize(
    ("button", "value"),
    [
        (StepButton(3, 0), "3:0"),
        (AbortButton(3), "3"),
        (SnoozeButton(12, 30), "12:30"),
        (AlertButton(5, "abc:def"), "5:abc:def"),
    ],
)
def test_button_values_round_trip(button: object, value: str) -> None:
    assert button.to_json() == value  # type: ignore[attr-defined]
    assert type(button).from_json(value) == button  # type: ignore[attr-defined]


@pytest.mark.parametrize("value", ["", "3", "3:x", "x:0", "3:"])
def test_a_malformed_step_button_is_refused(value: str) -> None:
    with pytest.raises(ValueError):
        StepButton.from_json(value)


def test_a_malformed_alert_button_reads_as_none() -> None:
    assert parse_button_value("5:fp") == (5, "fp")
    assert parse_button_value("x:fp") is None and parse_button_value("5:") is None
    assert parse_button_value("5") is None


OLD_ALERT_CLICK = {
    "alert_id": 4,
    "fingerprint": "f1",
    "trigger_id": None,
    "message": {"channel": "C9", "ts": "1.5"},
    "reply_to": {"channel": "C9", "user": "U1", "thread_ts": None},
}


def test_an_alert_click_row_written_by_the_previous_release_is_read() -> None:
    click = AlertClickRequest.from_json(OLD_ALERT_CLICK)
    assert click == AlertClickRequest(4, "f1", Message("C9", "1.5"), ReplyTo("C9", "U1"))
    assert click.to_json() == OLD_ALERT_CLICK
    kind, key, payload = click_payload(
        "alert_ack",
        alert_id=4,
        fingerprint="f1",
        user="U1",
        channel="C9",
        ts="1.5",
        thread_ts=None,
        trigger_id=None,
    )
    assert (kind, key, payload) == ("alert_ack", "alert:f1", OLD_ALERT_CLICK)
