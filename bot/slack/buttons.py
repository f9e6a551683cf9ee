"""What a button carries in its ``value`` (a string Slack hands back on the
click), one frozen dataclass per kind: ``to_json`` writes it, ``from_json``
reads it back (``ValueError`` when it is not one). Pure."""

from __future__ import annotations

from dataclasses import dataclass

# A database id (BIGINT) has at most 19 digits; a longer "id" in a forged button
# would only make keys longer than their columns.
_MAX_DIGITS = 18


def _id(text: str) -> int:
    """Digits only, as the bot writes them (``int`` would take " 1_0", "+1")."""
    if not (text.isascii() and text.isdigit() and len(text) <= _MAX_DIGITS):
        raise ValueError(f"not an id: {text[:40]!r}")
    return int(text)


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
        return cls(_id(run), _id(index))


@dataclass(frozen=True, slots=True)
class AbortButton:
    """Abort on a run message: ``<run id>``."""

    run_id: int

    def to_json(self) -> str:
        return str(self.run_id)

    @classmethod
    def from_json(cls, value: str) -> AbortButton:
        return cls(_id(value))


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
        return cls(_id(incident), _id(minutes))


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
        return cls(_id(raw_id), fingerprint)
