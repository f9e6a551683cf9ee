"""What a button carries in its ``value`` (a string Slack hands back on the
click), one frozen dataclass per kind: ``to_json`` writes it, ``from_json``
reads it back (``ValueError`` when it is not one). Pure."""

from __future__ import annotations

from dataclasses import dataclass


def _two(value: str) -> tuple[str, str]:
    first, sep, second = value.partition(":")
    if not sep:
        raise ValueError(f"not two parts: {value!r}")
    return first, second


@dataclass(frozen=True, slots=True)
class StepButton:
    """Approve / Skip on a step: ``<run id>:<step index>``."""

    run_id: int
    step_index: int

    def to_json(self) -> str:
        return f"{self.run_id}:{self.step_index}"

    @classmethod
    def from_json(cls, value: str) -> StepButton:
        run, index = _two(value)
        return cls(int(run), int(index))


@dataclass(frozen=True, slots=True)
class AbortButton:
    """Abort on a run message: ``<run id>``."""

    run_id: int

    def to_json(self) -> str:
        return str(self.run_id)

    @classmethod
    def from_json(cls, value: str) -> AbortButton:
        return cls(int(value))


@dataclass(frozen=True, slots=True)
class SnoozeButton:
    """A reminder's Snooze choice: ``<incident id>:<minutes>``."""

    incident_id: int
    minutes: int

    def to_json(self) -> str:
        return f"{self.incident_id}:{self.minutes}"

    @classmethod
    def from_json(cls, value: str) -> SnoozeButton:
        incident, minutes = _two(value)
        return cls(int(incident), int(minutes))


@dataclass(frozen=True, slots=True)
class AlertButton:
    """An alert message's buttons: ``<alert id>:<fingerprint>`` (the click is
    ordered with the alert's notifications)."""

    alert_id: int
    fingerprint: str

    def to_json(self) -> str:
        return f"{self.alert_id}:{self.fingerprint}"

    @classmethod
    def from_json(cls, value: str) -> AlertButton:
        raw_id, fingerprint = _two(value)
        if not raw_id.isdigit() or not fingerprint:
            raise ValueError(f"not an alert button: {value!r}")
        return cls(int(raw_id), fingerprint)
