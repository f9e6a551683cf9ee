"""The group message's Block Kit (pure): counts, the list of what tells the
alerts apart, its limits, its states."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.alerts import blocks
from tests.rig import validate_blocks

AT = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def lead(**kw: object) -> blocks.AlertView:
    values: dict = {
        "id": 7,
        "fingerprint": "f0",
        "name": "KubePodCrashLooping",
        "status": "firing",
        "severity": "critical",
        "summary": "Pod is crash looping",
        "description": None,
        "starts_at": AT,
        "runbook_id": "KubePodCrashLooping",
        "runbook_title": "Pod crash looping",
        "priority": "critical",
    }
    values.update(kw)
    return blocks.AlertView(**values)


def member(i: int, *, firing: bool = True, name: str = "KubePodCrashLooping", **labels: str):
    shared = {"alertname": name, "namespace": "shop", "severity": "critical", "pod": f"web-{i}"}
    return blocks.Member(
        name=name,
        fingerprint=f"f{i}",
        labels={**shared, **labels},
        firing=firing,
        summary="Pod is crash looping",
    )


def group(members: list[blocks.Member], **kw: object) -> dict[str, Any]:
    return blocks.group_message(blocks.GroupView(lead=lead(**kw), members=members))


def block_text(value: Any) -> int:
    """Characters of text in the blocks (what Slack counts against its limit)."""
    if isinstance(value, dict):
        own = len(value["text"]) if isinstance(value.get("text"), str) else 0
        return own + sum(block_text(v) for k, v in value.items() if k != "text" or own == 0)
    if isinstance(value, list):
        return sum(block_text(v) for v in value)
    return 0


def buttons(payload: dict) -> list[str]:
    return [
        e["text"]["text"]
        for b in payload["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
    ]


def test_a_group_of_one_is_the_single_alert_message() -> None:
    alone = group([member(0)])
    assert alone == blocks.alert_message(lead())


def test_counts_list_and_more() -> None:
    members = [member(i) for i in range(300)] + [member(i, firing=False) for i in range(300, 305)]
    payload = group(members)
    assert validate_blocks(payload["blocks"]) == []
    text = payload["text"]
    assert text == (
        "Alerts firing: KubePodCrashLooping (severity: critical) — runbook KubePodCrashLooping"
        " — 300 firing, 5 resolved"
    )
    shown = json.dumps(payload["blocks"], ensure_ascii=False)
    assert "*300 firing* · 5 resolved" in shown
    assert shown.count("🔥 *KubePodCrashLooping*") == blocks.LIST_LIMIT
    assert "…and 295 more (290 firing, 5 resolved)" in shown
    # Only the pod differs: namespace and severity (shared) are not repeated per line.
    assert "pod=`web-0`" in shown and "namespace=" not in shown
    assert buttons(payload) == ["Start runbook", "Acknowledge"]
    assert payload["metadata"]["event_payload"] == {"alert_id": 7, "fingerprint": "f0"}


def test_firing_alerts_are_listed_before_resolved_ones() -> None:
    members = [member(0, firing=False), member(1), member(2, firing=False), member(3)]
    listed = json.dumps(group(members)["blocks"], ensure_ascii=False)
    assert listed.index("web-1") < listed.index("web-3") < listed.index("web-0")


def test_distinguishing_labels() -> None:
    members = [member(0, zone="a"), member(1, zone="a"), member(2)]
    assert blocks.distinguishing_labels(members) == ["pod", "zone"]  # absent counts as differing
    same = [member(0, pod="x"), member(1, pod="x")]
    assert blocks.distinguishing_labels(same) == []
    shown = json.dumps(group(same)["blocks"])
    assert "fingerprint `f0`" in shown and "fingerprint `f1`" in shown


def test_several_alert_names_are_all_named() -> None:
    members = [member(0), member(1, name="KubePodNotReady"), member(2)]
    payload = group(members)
    assert "KubePodCrashLooping, KubePodNotReady" in payload["text"]
    assert payload["blocks"][0]["text"]["text"] == "🔥 Firing: KubePodCrashLooping, KubePodNotReady"


def test_all_resolved_says_so_and_offers_nothing() -> None:
    members = [member(i, firing=False) for i in range(4)]
    payload = group(members, status="resolved", ends_at=AT, incident_key="INC-3")
    assert validate_blocks(payload["blocks"]) == []
    assert payload["text"].startswith("Alerts resolved: KubePodCrashLooping")
    assert payload["text"].endswith("all 4 resolved")
    shown = json.dumps(payload["blocks"], ensure_ascii=False)
    assert "All 4 alerts of this group resolved" in shown and "<!date^" in shown
    assert "INC-3* opened from these alerts" in shown
    assert buttons(payload) == []


@pytest.mark.parametrize(
    ("kw", "expected"),
    [
        ({"runbook_id": None}, ["Declare incident", "Acknowledge"]),
        ({"incident_key": "INC-3"}, ["Acknowledge"]),
        ({"acknowledged_by": "U1", "acknowledged_at": AT}, ["Start runbook"]),
    ],
)
def test_buttons_follow_the_groups_state(kw: dict, expected: list) -> None:
    payload = group([member(0), member(1)], **kw)
    assert buttons(payload) == expected
    assert validate_blocks(payload["blocks"]) == []


def test_huge_labels_and_names_stay_within_limits() -> None:
    big = "x" * 5000
    members = [
        member(i, name=f"Alert{i}{big}", **{f"label{j}{big}": f"{i}{big}" for j in range(20)})
        for i in range(50)
    ]
    payload = group(members, name=members[0].name, summary=big, runbook_title=big)
    assert validate_blocks(payload["blocks"]) == []
    assert block_text(payload["blocks"]) <= 10_000
    assert len(payload["text"]) <= 4000
