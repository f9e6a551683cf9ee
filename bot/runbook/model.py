"""The runbook model: immutable, typed, plain data.

Everything the bot knows about a runbook file ends up here. The parser builds
it, lint inspects it, the run engine snapshots it into the database, and the
Block Kit renderer reads it. Text fields hold *Markdown source* (as written in
the file); conversion to Slack mrkdwn happens at rendering time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from bot.timefmt import parse_duration


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
class Approval:
    """Who must decide a step: every listed requirement applies."""

    roles: tuple[str, ...] = ()  # lowercased role names, e.g. ("commander",)
    groups: tuple[str, ...] = ()  # user-group handles (lowercased, no "@") or S… IDs
    users: tuple[str, ...] = ()  # Slack user IDs, U…/W…
    people: int = 1  # distinct approvers needed ("2 people" → 2)
    source: str = ""  # the tag's inner text as written, for display


@dataclass(frozen=True, slots=True)
class Step:
    """One actionable item: an ordered list item or a task item.

    Or, for runbooks as written (SPEC §11), a whole action phase that has no
    steps, or one ``###`` subsection of it: ``whole_phase`` is True, ``text`` is
    the phase's (or subsection's) heading and ``context`` holds its content.
    """

    number: int  # 1-based position within its phase
    text: str  # the item's own first paragraph, Markdown source
    context: tuple[str, ...] = ()  # blocks attached to the step (nested lists, code, ...)
    line: int = 0  # 1-based source line of the item
    label: str | None = None  # nearest ###+ heading above the step inside the phase
    checked: bool = False  # a `- [x]` task item
    approval: Approval | None = None  # from a trailing `[approval: …]` tag (removed from text)
    whole_phase: bool = False  # made from a whole phase or ### subsection, not a list item
    action: str | None = None  # from a trailing `[run: <action id>]` tag (removed from text)


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
    def rto_seconds(self) -> float | None:
        """``rto`` in seconds; None when there is none or it is not a duration."""
        if self.rto is None:
            return None
        try:
            return parse_duration(self.rto)
        except ValueError:
            return None

    @property
    def steps(self) -> tuple[tuple[Phase, Step], ...]:
        """Every step of the normal flow with its phase, in run order."""
        return tuple((phase, step) for phase in self.phases for step in phase.steps)

    @property
    def step_count(self) -> int:
        return sum(len(phase.steps) for phase in self.phases)
