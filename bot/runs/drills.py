"""A drill's run ended (completed or aborted): judge it and record its
validation in the same transaction (``bot/drills/log.py``); the one line the
completion or abort summary shows about it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.drills.log import record_validation
from bot.drills.validation import SkippedStep, Verdict
from bot.runs import engine
from bot.runs.blocks import RunInfo
from bot.runs.engine import Decision
from bot.slack.mrkdwn import escape
from bot.store.models import Run
from bot.timefmt import parse_duration


async def validate_drill(
    session: AsyncSession,
    run: Run,
    info: RunInfo,
    state: engine.RunState,
    now: datetime,
    *,
    completed: bool,
) -> Verdict:
    """The drill's run just ended: record its validation (SPEC §8)."""
    normal = state.steps[: state.normal_count]
    records = sorted(
        (state.decisions[s.index] for s in normal if s.index in state.decisions),
        key=lambda r: r.at,
    )
    skipped = [
        SkippedStep(s.phase, s.number, s.text)
        for s in normal
        if s.index in state.decisions and state.decisions[s.index].decision is Decision.SKIPPED
    ]
    try:
        rto_s = parse_duration(info.rto) if info.rto else None
    except ValueError:
        rto_s = None  # lint reports an unreadable rto; the drill is judged without it
    return await record_validation(
        session,
        run_id=run.id,
        runbook_id=run.runbook_id,
        incident_id=run.incident_id,
        environment=info.drill_environment or "staging",
        started_at=run.started_at,
        ended_at=now,
        completed=completed,
        decided=len(records),
        total=state.normal_count,
        skipped=skipped,
        validators=[r.by for r in records],
        rto_s=rto_s,
    )


def verdict_line(verdict: Verdict | None) -> str | None:
    if verdict is None:
        return None
    if verdict.passed:
        return "🧪 Validation: ✅ *pass* — recorded in the validation log."
    reason = escape(verdict.reason or "")
    return f"🧪 Validation: ❌ *fail* — {reason}. Recorded in the validation log."
