"""A drill run's validation result (SPEC §8): pure, no I/O.

``pass`` = the run completed, no step was skipped, and it finished within the
runbook's RTO when it has one. Anything else is ``fail`` with every reason
that applies, so the log says what to fix.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.drills.views import DueRunbook
from bot.timefmt import format_duration

PASS = "pass"
FAIL = "fail"


@dataclass(frozen=True, slots=True)
class SkippedStep:
    phase: str
    number: int
    text: str

    def label(self) -> str:
        first = self.text.strip().split("\n", 1)[0].replace("*", "").replace("`", "")
        short = first if len(first) <= 60 else first[:59] + "…"
        return f"{self.phase} {self.number} ({short})" if short else f"{self.phase} {self.number}"


@dataclass(frozen=True, slots=True)
class Verdict:
    result: str  # pass | fail
    reason: str | None

    @property
    def passed(self) -> bool:
        return self.result == PASS


def evaluate(
    *,
    completed: bool,
    decided: int,
    total: int,
    skipped: Sequence[SkippedStep],
    duration_s: float,
    rto_s: float | None,
) -> Verdict:
    reasons: list[str] = []
    if not completed:
        reasons.append(f"aborted after {decided} of {total} steps")
    if skipped:
        reasons.append(f"skipped {len(skipped)}: " + ", ".join(s.label() for s in skipped))
    if rto_s is not None and duration_s > rto_s:
        took, rto = format_duration(timedelta(seconds=duration_s)), human(rto_s)
        reasons.append(f"RTO missed: took {took}, RTO {rto}")
    if reasons:
        return Verdict(FAIL, "; ".join(reasons))
    return Verdict(PASS, None)


def human(seconds: float) -> str:
    """``3600`` → ``1h``, ``5400`` → ``1h 30m``, ``90`` → ``1m 30s``: a duration as written."""
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{v}{u}" for v, u in ((days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")) if v]
    return " ".join(parts) or "0s"


def due_from(
    runbooks: Iterable[tuple[str, str]],
    last: dict[str, tuple[datetime | None, str | None]],
    *,
    interval_seconds: float,
    now: datetime,
) -> list[DueRunbook]:
    """Runbooks (id, title) whose last pass is older than the interval, or none."""
    cutoff = now - timedelta(seconds=interval_seconds)
    due: list[DueRunbook] = []
    for runbook_id, title in runbooks:
        last_pass, last_result = last.get(runbook_id.lower(), (None, None))
        if last_pass is None or last_pass < cutoff:
            due.append(DueRunbook(runbook_id, title, last_pass, last_result))
    return due
