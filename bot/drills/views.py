"""What the drills renderers take: plain rows, no ORM objects (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class ValidationRow:
    """One validation as the renderers take it (no ORM objects)."""

    runbook_id: str
    incident_key: str
    at: datetime
    validators: tuple[str, ...]
    environment: str
    result: str
    reason: str | None
    duration_s: float
    notes: tuple[str, ...]
    # Each validator's Slack handle, same order as ``validators``; the id
    # itself for anyone the bot never saw a name for.
    validator_names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DueRunbook:
    runbook_id: str
    title: str
    last_pass: datetime | None  # None: never passed
    last_result: str | None  # the newest validation's result, if any


@dataclass(frozen=True, slots=True)
class RunRow:
    """One run as the history and App Home show it."""

    run_id: int
    runbook_id: str
    incident_key: str
    started_at: datetime
    ended_at: datetime | None
    state: str  # running | completed | aborted
    drill: bool
    environment: str | None
    validation: str | None  # pass | fail for a drill that ended
    reason: str | None
    started_by: str
    deciders: tuple[str, ...]
    skipped: int

    @property
    def kind(self) -> str:
        return "drill" if self.drill else "run"

    @property
    def duration_s(self) -> float | None:
        if self.ended_at is None:
            return None
        return max(0.0, (self.ended_at - self.started_at).total_seconds())
