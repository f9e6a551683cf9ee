"""The runbook model: immutable, typed, plain data.

Everything the bot knows about a runbook file ends up here. The parser builds
it, lint inspects it, the run engine snapshots it into the database, and the
Block Kit renderer reads it. Text fields hold *Markdown source* (as written in
the file); conversion to Slack mrkdwn happens at rendering time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Problem:
    """One lint finding, printed as ``path:line: message``."""

    path: str
    line: int
    message: str
    severity: Severity = Severity.ERROR

    def __str__(self) -> str:
        prefix = "warning: " if self.severity is Severity.WARNING else ""
        return f"{self.path}:{self.line}: {prefix}{self.message}"


@dataclass(frozen=True, slots=True)
class Step:
    """One actionable item: an ordered list item or a task item."""

    number: int  # 1-based position within its phase
    text: str  # the item's own first paragraph, Markdown source
    context: tuple[str, ...] = ()  # blocks attached to the step (nested lists, code, ...)
    line: int = 0  # 1-based source line of the item
    label: str | None = None  # nearest ###+ heading above the step inside the phase
    checked: bool = False  # a `- [x]` task item


@dataclass(frozen=True, slots=True)
class Phase:
    """A ``##`` section (or ``#`` in single-level documents)."""

    name: str
    intro: tuple[str, ...] = ()  # context before the first step
    steps: tuple[Step, ...] = ()
    line: int = 0

    @property
    def is_rollback(self) -> bool:
        lowered = self.name.strip().lower()
        return lowered.startswith("rollback") or lowered.startswith("roll back")


@dataclass(frozen=True, slots=True)
class Runbook:
    id: str
    title: str
    path: str
    content_hash: str  # sha256 hex of the file bytes: which revision a run used
    phases: tuple[Phase, ...] = ()  # normal flow, in document order (rollback excluded)
    rollback: Phase | None = None
    intro: tuple[str, ...] = ()  # text between the title and the first phase
    owner: str | None = None
    severity: str | None = None
    rto: str | None = None
    tags: tuple[str, ...] = ()
    extra: dict[str, object] = field(default_factory=dict, hash=False, compare=False)

    @property
    def steps(self) -> tuple[tuple[Phase, Step], ...]:
        """Every step of the normal flow with its phase, in run order."""
        return tuple((phase, step) for phase in self.phases for step in phase.steps)

    @property
    def step_count(self) -> int:
        return sum(len(phase.steps) for phase in self.phases)
