"""The pure side of alerts: the payload, runbook lookup, severity → priority,
the message's Block Kit (no I/O)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from bot.alerts import blocks
from bot.alerts.lookup import RunbookIndex, normalize, url_slug
from bot.alerts.payload import PayloadError, parse_notification
from bot.alerts.priority import DEFAULT_LEVELS, priority_for_severity
from bot.runbook import Runbook
from bot.settings import SettingsError, load_settings
from tests.alert_support import alert, notification
from tests.rig import validate_blocks

# --- payload ------------------------------------------------------------------------


def test_parses_alertmanager_version_4() -> None:
    n = parse_notification(
        json.dumps(
            notification(
                alert(),
                alert(fingerprint="ff", status="resolved", ends="2026-12-01T11:00:00+01:00"),
            )
        )
    )
    assert n.version == "4" and n.status == "firing" and n.receiver == "runbook-bot"
    first, second = n.alerts
    assert first.name == "KubePodCrashLooping" and first.severity == "critical"
    assert first.summary == "Pod web-1 is crash looping"
    # Nanoseconds cut to microseconds; Go's zero time means "not ended".
    assert first.starts_at == datetime(2026, 12, 1, 10, 0, 0, 123456, tzinfo=UTC)
    assert first.ends_at is None
    assert second.ends_at == datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    # What the intake stores reads back the same.
    assert type(first).from_json(first.to_json()) == first


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"version": 4}, "version"),
        ({"status": "ok"}, "status"),
        ({"alerts": {}}, "alerts"),
        ({"truncatedAlerts": -1}, "truncatedAlerts"),
        ({"commonLabels": ["x"]}, "commonLabels"),
    ],
)
def test_bad_envelope_names_the_field(change: dict, field: str) -> None:
    with pytest.raises(PayloadError, match=field):
        parse_notification(json.dumps({**notification(alert()), **change}))


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"fingerprint": None}, "alerts[0].fingerprint"),
        ({"fingerprint": "x" * 59}, "alerts[0].fingerprint"),
        ({"fingerprint": "a b"}, "alerts[0].fingerprint"),
        ({"startsAt": "2026-12-01 10:00"}, "alerts[0].startsAt"),
        ({"startsAt": "2026-12-01T10:00:00"}, "zone"),
        ({"startsAt": "0001-01-01T00:00:00Z"}, "no start time"),
        ({"labels": "alertname=x"}, "alerts[0].labels"),
        ({"annotations": {"summary": None}}, "alerts[0].annotations.summary"),
        ({"status": None}, "alerts[0].status"),
    ],
)
def test_bad_alert_names_the_field(change: dict, field: str) -> None:
    with pytest.raises(PayloadError, match=field.replace("[", r"\[").replace("]", r"\]")):
        parse_notification(json.dumps(notification({**alert(), **change})))


def test_nul_bytes_are_dropped() -> None:
    (a,) = parse_notification(json.dumps(notification(alert(summary="a\x00b")))).alerts
    assert a.summary == "ab"


# --- lookup -------------------------------------------------------------------------


def rb(rid: str, path: str) -> Runbook:
    return Runbook(id=rid, title=f"{rid} title", path=path, content_hash="0" * 64)


INDEX = RunbookIndex(
    [
        rb("KubePodCrashLooping", "rb/kubernetes/KubePodCrashLooping.md"),
        rb("RB-21", "rb/node/node-filesystem-space-filling-up.md"),
        rb("target_down", "rb/TargetDown.markdown"),
    ]
)


@pytest.mark.parametrize(
    ("url", "slug"),
    [
        (
            "https://runbooks.prometheus-operator.dev/runbooks/kubernetes/kubepodcrashlooping/",
            "kubepodcrashlooping",
        ),
        (
            "https://github.com/openshift/runbooks/blob/master/alerts/x/KubePodCrashLooping.md",
            "KubePodCrashLooping.md",
        ),
        ("https://wiki.example/Node%20Disk?x=1#top", "Node Disk"),
        ("https://wiki.example/", None),
        ("", None),
        (None, None),
    ],
)
def test_url_slug(url: str | None, slug: str | None) -> None:
    assert url_slug(url) == slug


def test_normalize_ignores_case_dashes_underscores_and_md() -> None:
    assert normalize("Kube-Pod_CrashLooping.MD") == normalize("kubepodcrashlooping")


@pytest.mark.parametrize(
    ("name", "url", "found"),
    [
        ("KubePodCrashLooping", None, "KubePodCrashLooping"),
        ("x", "https://r.example/kubernetes/kubepodcrashlooping/", "KubePodCrashLooping"),
        (
            "x",
            "https://github.com/o/r/blob/main/alerts/KubePodCrashLooping.md",
            "KubePodCrashLooping",
        ),
        ("NodeDisk", "https://r.example/node/node_filesystem_space_filling_up", "RB-21"),
        ("rb21", None, "RB-21"),  # the id itself, dashes ignored
        ("TargetDown", None, "target_down"),  # id and stem agree
        ("KubePodCrashLooping", "https://r.example/unknown-slug/", "KubePodCrashLooping"),
        ("Nothing", "https://r.example/nothing/", None),
        ("", None, None),
    ],
)
def test_lookup(name: str, url: str | None, found: str | None) -> None:
    runbook = INDEX.find(name, url)
    assert (runbook.id if runbook else None) == found


def test_an_id_wins_over_another_runbooks_file_stem() -> None:
    index = RunbookIndex([rb("RB-1", "rb/Foo.md"), rb("foo", "rb/other.md")])
    assert index.find("foo", None).id == "foo"  # type: ignore[union-attr]


# --- priority -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("severity", "levels", "level"),
    [
        ("critical", DEFAULT_LEVELS, "critical"),
        ("warning", DEFAULT_LEVELS, "high"),
        ("info", DEFAULT_LEVELS, "low"),
        ("LOW", DEFAULT_LEVELS, "low"),
        ("critical", ("sev1", "sev2", "sev3"), "sev1"),
        ("warning", ("sev1", "sev2", "sev3"), "sev2"),
        ("info", ("sev1", "sev2", "sev3"), "sev3"),
        ("warning", ("only",), "only"),
        ("warning", ("p1", "warning", "p3"), "warning"),  # a level's own name wins
        ("page", DEFAULT_LEVELS, None),
        (None, DEFAULT_LEVELS, None),
        ("critical", (), None),
    ],
)
def test_priority_for_severity(severity: str | None, levels: tuple, level: str | None) -> None:
    assert priority_for_severity(severity, levels) == level


# --- Block Kit ----------------------------------------------------------------------

AT = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def view(**kw: object) -> blocks.AlertView:
    values: dict = {
        "id": 7,
        "fingerprint": "abc",
        "name": "KubePodCrashLooping",
        "status": "firing",
        "severity": "critical",
        "summary": "Pod web-1 is crash looping",
        "description": "5 restarts",
        "starts_at": AT,
        "runbook_id": "KubePodCrashLooping",
        "runbook_title": "Pod crash looping",
        "runbook_url": "https://r.example/kubepodcrashlooping/",
        "priority": "critical",
    }
    values.update(kw)
    return blocks.AlertView(**values)


def buttons(payload: dict) -> list[tuple[str, str]]:
    return [
        (e["text"]["text"], e["action_id"])
        for b in payload["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
    ]


@pytest.mark.parametrize(
    ("kw", "expected"),
    [
        ({}, [("Start runbook", blocks.START), ("Acknowledge", blocks.ACKNOWLEDGE)]),
        (
            {"runbook_id": None},
            [("Declare incident", blocks.DECLARE), ("Acknowledge", blocks.ACKNOWLEDGE)],
        ),
        ({"incident_key": "INC-3"}, [("Acknowledge", blocks.ACKNOWLEDGE)]),
        ({"acknowledged_by": "U1", "acknowledged_at": AT}, [("Start runbook", blocks.START)]),
        ({"status": "resolved", "ends_at": AT}, []),
    ],
)
def test_buttons_follow_the_alerts_state(kw: dict, expected: list) -> None:
    payload = blocks.alert_message(view(**kw))
    assert buttons(payload) == expected
    assert validate_blocks(payload["blocks"]) == []


def test_text_has_name_severity_and_runbook() -> None:
    assert blocks.alert_message(view())["text"] == (
        "Alert firing: KubePodCrashLooping (severity: critical) — runbook KubePodCrashLooping"
    )
    text = blocks.alert_message(view(runbook_id=None, severity=None))["text"]
    assert text.endswith("(severity: none) — no runbook found")


def test_huge_annotations_stay_within_block_kit_limits() -> None:
    payload = blocks.alert_message(
        view(name="A" * 500, summary="s" * 10_000, description="d" * 10_000)
    )
    assert validate_blocks(payload["blocks"]) == []
    assert len(payload["text"]) <= 3000


def test_unsafe_links_are_left_out() -> None:
    shown = json.dumps(
        blocks.alert_message(
            view(runbook_url="javascript:alert(1)", generator_url="https://x/|y>")
        )["blocks"]
    )
    assert "javascript:" not in shown and "|y>" not in shown


def test_button_value_round_trips() -> None:
    assert blocks.parse_button_value(blocks.button_value(view())) == (7, "abc")
    assert blocks.parse_button_value("x:abc") is None
    assert blocks.parse_button_value("7") is None


# --- settings -----------------------------------------------------------------------


def test_alert_settings() -> None:
    assert load_settings(alert_webhook_token="", alert_channel="").alert_webhook_token is None
    settings = load_settings(incident_channels="ops,incidents", alert_channel="#alerts")
    assert settings.alerts_channel == "alerts"
    assert load_settings(incident_channels="ops,incidents").alerts_channel == "ops"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"alert_webhook_token": "short"}, "ALERT_WEBHOOK_TOKEN is invalid: use at least 16"),
        ({"alert_webhook_token": "a" * 16 + " b"}, "ALERT_WEBHOOK_TOKEN is invalid"),
        ({"alert_channel": "ops,incidents"}, "ALERT_CHANNEL is invalid: name one channel"),
    ],
)
def test_bad_alert_settings_name_the_variable(values: dict, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(**values)
