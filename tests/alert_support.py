"""Helpers for the alert tests: Alertmanager-shaped payloads, a runbook folder
keyed the way public alert runbooks are, and the webhook called as
Alertmanager calls it (aiohttp, bearer token, JSON body)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bot.store.models import Alert, Incident, IntakeItem, OutboxMessage, TimelineEvent
from tests.rig import Call, SlackStandIn
from tests.rig.botserver import BotServer

TOKEN = "alertmanager-test-token-0123456789"
CHANNEL = "C_ALERTS"
STARTS = "2026-12-01T10:00:00.123456789Z"
NOT_YET = "0001-01-01T00:00:00Z"  # Go's zero time: a firing alert's endsAt

CRASHLOOP = """\
# KubePodCrashLooping

## Meaning
A pod keeps restarting.

## Mitigation
1. Read the pod's last logs: `kubectl logs --previous <pod>`
2. Roll back the last deploy if it started then.
"""

DISK = """\
---
id: RB-21
title: Node filesystem filling up
---
# Node filesystem filling up

## Steps
1. Find the biggest directories: `du -xh / | sort -h | tail`
2. Rotate or delete old logs.
3. Confirm free space is above 20 %.
"""


def runbooks(tmp_path: Path) -> Path:
    """KubePodCrashLooping.md (id = stem, found by alert name or URL slug) and
    RB-21 in node-filesystem-space-filling-up.md (found by its file stem only)."""
    root = tmp_path / "runbooks"
    (root / "kubernetes").mkdir(parents=True)
    (root / "kubernetes" / "KubePodCrashLooping.md").write_text(CRASHLOOP)
    (root / "node").mkdir()
    (root / "node" / "node-filesystem-space-filling-up.md").write_text(DISK)
    return root


def alert(
    name: str = "KubePodCrashLooping",
    *,
    fingerprint: str = "a1b2c3d4e5f60718",
    status: str = "firing",
    severity: str | None = "critical",
    runbook_url: str | None = None,
    summary: str = "Pod web-1 is crash looping",
    starts: str = STARTS,
    ends: str = NOT_YET,
) -> dict[str, Any]:
    labels = {"alertname": name, "namespace": "shop", "pod": "web-1"}
    if severity is not None:
        labels["severity"] = severity
    annotations = {"summary": summary, "description": f"{summary} (5 restarts in 10 minutes)"}
    if runbook_url is not None:
        annotations["runbook_url"] = runbook_url
    return {
        "status": status,
        "labels": labels,
        "annotations": annotations,
        "startsAt": starts,
        "endsAt": ends,
        "generatorURL": "http://prometheus.example:9090/graph?g0.expr=up",
        "fingerprint": fingerprint,
    }


GROUP = '{}:{alertname="KubePodCrashLooping"}'


def notification(*alerts: dict[str, Any], group: str = GROUP) -> dict[str, Any]:
    firing = any(a.get("status") == "firing" for a in alerts)
    first = alerts[0].get("labels")
    first = first if isinstance(first, dict) else {}
    # As Alertmanager computes them (labels every alert shares), for well-formed alerts.
    common = {k: v for k, v in first.items() if isinstance(v, str)} if len(alerts) == 1 else {}
    return {
        "version": "4",
        "groupKey": group,
        "truncatedAlerts": 0,
        "status": "firing" if firing else "resolved",
        "receiver": "runbook-bot",
        "groupLabels": {"alertname": str(first.get("alertname", ""))},
        "commonLabels": common,
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.example:9093",
        "alerts": list(alerts),
    }


async def deliver(
    bot: BotServer, body: dict[str, Any] | bytes, *, token: str | None = TOKEN
) -> tuple[int, Any]:
    """POST as Alertmanager does; (status, parsed JSON body)."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "Alertmanager/0.27.0"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    async with bot.http.post(bot.url + "/alerts/alertmanager", data=data, headers=headers) as resp:
        return resp.status, await resp.json(content_type=None)


def is_alert_message(call: Call) -> bool:
    return (
        call.method == "chat.postMessage"
        and (call.args.get("metadata") or {}).get("event_type") == "runbook_bot_alert"
    )


def alert_posts(slack: SlackStandIn) -> list[Call]:
    return [c for c in slack.calls if is_alert_message(c)]


def labels_of(message: dict[str, Any]) -> list[str]:
    return [
        e["text"]["text"]
        for b in message.get("blocks", [])
        if b.get("type") == "actions"
        for e in b["elements"]
    ]


async def counts(bot: BotServer) -> dict[str, int]:
    """Rows that a refused request must not have added."""
    out = {}
    async with bot.ctx.sessions() as session:
        for name, table in (
            ("alerts", Alert),
            ("intake", IntakeItem),
            ("outbox", OutboxMessage),
            ("incidents", Incident),
            ("events", TimelineEvent),
        ):
            out[name] = int(
                (await session.execute(select(func.count()).select_from(table))).scalar() or 0
            )
    return out


async def kinds(bot: BotServer, incident_id: int) -> list[str]:
    async with bot.ctx.sessions() as session:
        rows = await session.execute(
            select(TimelineEvent.kind)
            .where(TimelineEvent.incident_id == incident_id)
            .order_by(TimelineEvent.id)
        )
        return list(rows.scalars())


def member(i: int, *, status: str = "firing", name: str = "KubePodCrashLooping") -> dict[str, Any]:
    """Alert ``i`` of a storm: its own fingerprint and pod, the rest shared."""
    ends = "2026-12-01T10:42:00Z" if status == "resolved" else NOT_YET
    body = alert(name, fingerprint=f"{i:016x}", status=status, ends=ends)
    body["labels"] = {**body["labels"], "pod": f"web-{i}"}
    return body


async def storm(
    bot: BotServer, alerts: list[dict[str, Any]], *, per_call: int = 10, group: str = GROUP
) -> None:
    """The alerts delivered ``per_call`` at a time, one call after another (as
    Alertmanager notifies a group)."""
    for at in range(0, len(alerts), per_call):
        status, body = await deliver(bot, notification(*alerts[at : at + per_call], group=group))
        assert status == 200, body


async def until(condition: Callable[[], Awaitable[bool]], timeout: float = 20.0) -> None:
    """Wait for what the bot does after answering (the intake acts on it)."""
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, "condition never held"
        await asyncio.sleep(0.02)


async def alert_count(bot: BotServer) -> int:
    async with bot.ctx.sessions() as session:
        return int((await session.execute(select(func.count(Alert.id)))).scalar() or 0)


def message_text(slack: SlackStandIn, ts: str) -> str:
    """What a reader sees of a message now: its text and its blocks."""
    message = slack.message(CHANNEL, ts)
    return message.get("text", "") + json.dumps(message.get("blocks", []), ensure_ascii=False)
