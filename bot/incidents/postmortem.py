"""A postmortem draft from the database: one query per part (the incident, its
timeline, its runs, its follow-ups, the people's handles) and two per runbook
with a step skipped here (its recent runs, their skips by step), rendered by
``bot/incidents/postmortem_render.py``.

``runbook-bot postmortem`` of a 5,000-event incident must print in well under
a second (``bench/postmortem.py``): so no query per event, and the events'
JSON ``data`` is read only where the draft uses it (a skipped step's index).
"""

from __future__ import annotations

from sqlalchemy import JSON, case, func, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.incidents.followup_text import view_of  # not .followups: its flows are not needed here
from bot.incidents.postmortem_render import Draft, Feedback, Head, RunRow, skip_reason, step_text
from bot.incidents.priority import PriorityPolicy
from bot.incidents.timeline import EventRow
from bot.store.models import Followup, Incident, Run, StepDecision, TimelineEvent
from bot.store.people import names_of
from bot.store.states import EventKind

RECENT_RUNS = 20  # "recent": a runbook's last runs, drills excluded


async def load_draft(
    sessions: async_sessionmaker[AsyncSession], incident_id: int, policy: PriorityPolicy
) -> Draft | None:
    async with sessions() as session:
        incident = await session.get(Incident, incident_id)
        if incident is None:
            return None
        head = Head(
            key=incident.key,
            title=incident.title,
            priority=incident.priority,
            drill=bool(incident.drill),
            roles=dict(incident.roles or {}),
            opened_at=incident.opened_at,
            opened_by=incident.opened_by,
            acknowledged_at=incident.acknowledged_at,
            acknowledged_by=incident.acknowledged_by,
            resolved_at=incident.resolved_at,
            resolved_by=incident.resolved_by,
            target_seconds=policy.target_for(incident.priority),
        )
        events = await _events(session, incident_id)
        runs = await _runs(session, incident_id)
        rows = (
            await session.execute(
                select(Followup).where(Followup.incident_id == incident_id).order_by(Followup.id)
            )
        ).scalars()
        followups = [view_of(row) for row in rows]
        feedback = await _feedback(session, events, runs)
        people = {e.actor for e in events if e.actor} | set(head.roles.values())
        people |= {f.owner for f in followups if f.owner}
        people |= {u for u in (head.opened_by, head.resolved_by, head.acknowledged_by) if u}
        handles = await names_of(session, people)
    return Draft(head, events, runs, followups, feedback, handles)


async def _events(session: AsyncSession, incident_id: int) -> list[EventRow]:
    result = await session.execute(
        select(
            TimelineEvent.at,
            TimelineEvent.kind,
            TimelineEvent.actor,
            TimelineEvent.text,
            TimelineEvent.run_id,
            # Decoding every event's JSON was a third of the load time; only a
            # skipped step's is read (its index, for the runbook feedback).
            type_coerce(
                case((TimelineEvent.kind == EventKind.STEP_SKIPPED, TimelineEvent.data)), JSON
            ).label("data"),
        )
        .where(TimelineEvent.incident_id == incident_id)
        .order_by(TimelineEvent.at, TimelineEvent.id)
    )
    return [EventRow(*row) for row in result.all()]


async def _runs(session: AsyncSession, incident_id: int) -> list[RunRow]:
    result = await session.execute(
        select(
            Run.id,
            Run.runbook_id,
            Run.runbook_title,
            Run.state,
            Run.started_by,
            Run.started_at,
            Run.ended_at,
            Run.snapshot[("meta", "rto_seconds")].as_float(),
        )
        .where(Run.incident_id == incident_id)
        .order_by(Run.started_at, Run.id)
    )
    return [RunRow(*row) for row in result.all()]


async def _feedback(
    session: AsyncSession, events: list[EventRow], runs: list[RunRow]
) -> list[Feedback]:
    """Each step skipped here, with how many of its runbook's recent runs skipped it."""
    runbook_of = {r.id: r.runbook_id for r in runs}
    skipped = [e for e in events if e.kind == EventKind.STEP_SKIPPED and e.run_id in runbook_of]
    wanted: dict[str, set[int]] = {}
    for e in skipped:
        wanted.setdefault(runbook_of[e.run_id], set()).add(_step_index(e))  # type: ignore[index]
    counted = {rb: await _recent_skips(session, rb, steps) for rb, steps in wanted.items()}
    out = []
    for e in skipped:
        runbook_id = runbook_of[e.run_id]  # type: ignore[index]
        index = _step_index(e)
        of_runs, skips = counted[runbook_id]
        step = step_text(e).split(": ", 1)[-1]
        reason = skip_reason(e)
        out.append(Feedback(runbook_id, index, step, e.actor, skips.get(index, 0), of_runs, reason))
    return out


def _step_index(e: EventRow) -> int:
    return int((e.data or {}).get("step_index", -1))


async def _recent_skips(
    session: AsyncSession, runbook_id: str, steps: set[int]
) -> tuple[int, dict[int, int]]:
    """How many recent runs ``runbook_id`` has, and how many of them skipped each step."""
    recent = (
        select(Run.id)
        .join(Incident, Incident.id == Run.incident_id)
        .where(Run.runbook_id == runbook_id, Incident.drill.is_(False))
        .order_by(Run.started_at.desc())
        .limit(RECENT_RUNS)
        .subquery()
    )
    of_runs = (await session.execute(select(func.count()).select_from(recent))).scalar() or 0
    rows = await session.execute(
        select(StepDecision.step_index, func.count(StepDecision.id))
        .where(
            StepDecision.run_id.in_(select(recent.c.id)),
            StepDecision.step_index.in_(sorted(steps)),
            StepDecision.decision == "skipped",
        )
        .group_by(StepDecision.step_index)
    )
    return int(of_runs), {int(index): int(count) for index, count in rows.all()}
