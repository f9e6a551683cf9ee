"""What an intake row's ``payload`` holds, one frozen dataclass per kind:
``to_json`` writes the JSON the row stores, ``from_json`` reads it back.

Intake rows outlive deploys (a row written just before a restart is acted on
by the next release), so ``from_json`` reads what earlier releases wrote too:
optional keys may be missing, and it never requires one a release added.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.runs.engine import Decision
from bot.store.states import run_key


@dataclass(frozen=True, slots=True)
class ReplyTo:
    """Where to answer a request, and who sent it (with their handle when
    Slack gave one: the intake worker records it)."""

    channel: str
    user: str
    name: str | None = None
    thread_ts: str | None = None

    def to_json(self, *, thread: bool = False) -> dict[str, str | None]:
        """``thread``: a click's (its ``thread_ts`` key is written even when None)."""
        out: dict[str, str | None] = {"channel": self.channel, "user": self.user}
        if thread:
            out["thread_ts"] = self.thread_ts
        if self.name:
            out["name"] = self.name
        return out

    @classmethod
    def from_json(cls, raw: dict[str, Any] | None) -> ReplyTo:
        raw = raw or {}
        return cls(
            str(raw.get("channel") or ""),
            str(raw.get("user") or ""),
            raw.get("name") or None,
            raw.get("thread_ts") or None,
        )


@dataclass(frozen=True, slots=True)
class Message:
    """A clicked message: its channel and ts."""

    channel: str
    ts: str

    def to_json(self) -> dict[str, str]:
        return {"channel": self.channel, "ts": self.ts}

    @classmethod
    def from_json(cls, raw: dict[str, Any] | None) -> Message:
        raw = raw or {}
        return cls(str(raw.get("channel") or ""), str(raw.get("ts") or ""))


@dataclass(frozen=True, slots=True)
class DecideRequest:
    """Approve / Skip clicked on a step."""

    KIND = "decide"

    run_id: int
    step_index: int
    decision: Decision
    message: Message
    reply_to: ReplyTo
    reason: str | None = None  # why skipped, as typed in Skip's modal
    request_key: str | None = None  # "view:<id>": a modal submitted twice decides once

    @property
    def ordering_key(self) -> str:
        return run_key(self.run_id)

    def to_json(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "run_id": self.run_id,
            "step_index": self.step_index,
            "decision": self.decision.value,
            "message": self.message.to_json(),
            "reply_to": self.reply_to.to_json(thread=True),
        }
        if self.reason is not None:
            payload["reason"] = self.reason
        if self.request_key is not None:
            payload["request_key"] = self.request_key
        return payload

    @classmethod
    def from_json(cls, p: dict[str, Any]) -> DecideRequest:
        return cls(
            int(p["run_id"]),
            int(p["step_index"]),
            Decision(p["decision"]),
            Message.from_json(p.get("message")),
            ReplyTo.from_json(p.get("reply_to")),
            reason=p.get("reason") or None,
            request_key=p.get("request_key") or None,
        )


@dataclass(frozen=True, slots=True)
class RunRequest:
    """Run clicked on a step with an action (ordered with its run's other clicks)."""

    KIND = "run_action"

    run_id: int
    step_index: int
    message: Message
    reply_to: ReplyTo

    @property
    def ordering_key(self) -> str:
        return run_key(self.run_id)

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "step_index": self.step_index,
            "message": self.message.to_json(),
            "reply_to": self.reply_to.to_json(thread=True),
        }

    @classmethod
    def from_json(cls, p: dict[str, Any]) -> RunRequest:
        return cls(
            int(p["run_id"]),
            int(p["step_index"]),
            Message.from_json(p.get("message")),
            ReplyTo.from_json(p.get("reply_to")),
        )


@dataclass(frozen=True, slots=True)
class StartRequest:
    """``/runbook start`` (and ``drill``)."""

    KIND = "start"

    runbook_id: str
    reply_to: ReplyTo
    summary: str | None = None
    incident_id: int | None = None
    priority: str | None = None
    trigger_id: str | None = None
    drill_environment: str | None = None

    @property
    def ordering_key(self) -> str:
        return channel_key(self.reply_to.channel)

    def to_json(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "runbook_id": self.runbook_id,
            "summary": self.summary,
            "incident_id": self.incident_id,
            "priority": self.priority,
            "trigger_id": self.trigger_id,
            "reply_to": self.reply_to.to_json(),
        }
        if self.drill_environment is not None:
            payload["drill_environment"] = self.drill_environment
        return payload

    @classmethod
    def from_json(cls, p: dict[str, Any]) -> StartRequest:
        incident_id = p.get("incident_id")
        return cls(
            str(p["runbook_id"]),
            ReplyTo.from_json(p.get("reply_to")),
            summary=p.get("summary"),
            incident_id=int(incident_id) if incident_id is not None else None,
            priority=p.get("priority"),
            trigger_id=p.get("trigger_id"),
            drill_environment=p.get("drill_environment"),
        )


@dataclass(frozen=True, slots=True)
class AlertClickRequest:
    """A button on an alert message (Start runbook, Acknowledge, Declare):
    ``kind`` is the button's, the payload the same for all three."""

    alert_id: int
    fingerprint: str
    message: Message
    reply_to: ReplyTo
    trigger_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "alert_id": self.alert_id,
            "fingerprint": self.fingerprint,
            "trigger_id": self.trigger_id,
            "message": self.message.to_json(),
            "reply_to": self.reply_to.to_json(thread=True),
        }

    @classmethod
    def from_json(cls, p: dict[str, Any]) -> AlertClickRequest:
        return cls(
            int(p["alert_id"]),
            str(p["fingerprint"]),
            Message.from_json(p.get("message")),
            ReplyTo.from_json(p.get("reply_to")),
            p.get("trigger_id"),
        )


def channel_key(channel: str) -> str:
    return f"channel:{channel}"
