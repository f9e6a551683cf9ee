"""Run flows: start, decide, abort — each one database transaction that records
the decision, appends the timeline and enqueues the Slack messages it owes
(``messaging.py``); a run's end, completed or aborted, is ``ending.py``'s.

Start and decide (``decide.py``) run in the worker, on requests the listener committed to the
intake before acknowledging (``bot/intake/worker.py``); abort (``aborting.py``) runs in the
listener before its ack. The outbox worker does the Slack calls after the commit.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.incidents.clocks import WARN_AT, arm_rto
from bot.incidents.priority import PriorityPolicy
from bot.incidents.service import add_event, claim_request, create_incident
from bot.runbook import Runbook
from bot.runs import engine, messaging
from bot.runs.decide import DecideResult, decide_step
from bot.runs.ending import end_run
from bot.runs.queries import load_state, lock_incident_then_run, run_info
from bot.store.models import Incident, Run, utcnow
from bot.store.states import EventKind, IncidentState, RollbackStatus, RunStatus

__all__ = [
    "AbortResult",
    "DecideResult",
    "DuplicateRequest",
    "FlowError",
    "Started",
    "abort_run",
    "cannot_attach",
    "decide_step",
    "start_run",
]

# What a run's messages say when resolving its incident ended it.
RESOLVED_NOTE = "Run ended: incident resolved"

DRILL_ON_INCIDENT = (
    "A drill is never attached to a real incident: `/runbook drill <ID> [environment] "
    "[summary]` opens its own."
)


class FlowError(Exception):
    """Bad input discovered inside a flow: shown to the user, nothing stored."""


class DuplicateRequest(FlowError):
    """Slack retried a request already handled: answer quietly, change nothing."""


def cannot_attach(incident: Incident | None, incident_id: int, channel_id: str) -> str | None:
    """Why a run cannot be attached to ``INC-<incident_id>`` here (None: it can)."""
    if incident is None or incident.state != IncidentState.OPEN:
        return f"INC-{incident_id} is not an open incident."
    if incident.channel_id != channel_id:
        return f"INC-{incident_id} belongs to another channel (<#{incident.channel_id}>)."
    return None


@dataclass(frozen=True, slots=True)
class Started:
    incident: Incident
    run: Run
    created_incident: bool
    deadline: datetime | None = None  # the RTO warning's due time, if the runbook has an RTO


async def start_run(
    session: AsyncSession,
    *,
    runbook: Runbook,
    channel_id: str,
    user_id: str,
    summary: str | None,
    incident_id: int | None,
    policy: PriorityPolicy,
    priority: str | None = None,
    request_key: str | None = None,
    at: datetime | None = None,
    drill_environment: str | None = None,
    actions: engine.Actions | None = None,
) -> Started:
    """Open (or attach to) an incident, record the run, enqueue run message + step 1,
    start the RTO clock when the runbook has one.

    ``priority``: the level of a new incident (default: the runbook's
    ``severity`` when it names a level, else ``DEFAULT_PRIORITY``).
    ``at``: when the request was received (defaults to now).
    ``drill_environment``: a drill (``/runbook drill``) in that environment — it
    always opens its own incident, marked as a drill.
    ``actions``: the actions file's, by id (the run keeps those its steps run).
    """
    now = at or utcnow()
    if drill_environment is not None and incident_id is not None:
        raise FlowError(DRILL_ON_INCIDENT)
    if request_key and not await claim_request(session, request_key):
        raise DuplicateRequest("This command was already handled.")
    if incident_id is None:
        title = summary or f"{runbook.id} {runbook.title}"
        if drill_environment is not None and not summary:
            title = f"Drill of {runbook.id} {runbook.title} in {drill_environment}"
        incident = await create_incident(
            session,
            channel_id=channel_id,
            title=title,
            user_id=user_id,
            at=now,
            policy=policy,
            priority=priority or policy.for_runbook(runbook.severity),
            drill_environment=drill_environment,
        )
    else:
        incident = await _attach(session, incident_id, channel_id)
    run = await _record_run(
        session, runbook, incident, user_id, summary, now, drill_environment, actions
    )
    warning = None
    if runbook.rto_seconds:
        warning = now + timedelta(seconds=WARN_AT * runbook.rto_seconds)
    # A run just created has no decisions yet: no need to query them.
    state = engine.state_from_snapshot(
        run.snapshot, status=run.state, rollback_status=run.rollback_state
    )
    await messaging.run_started(session, run, run_info(run, incident), state, incident.roles)
    return Started(incident, run, incident_id is None, warning)


async def _attach(session: AsyncSession, incident_id: int, channel_id: str) -> Incident:
    found = await session.get(Incident, incident_id)
    refusal = cannot_attach(found, incident_id, channel_id)
    if refusal is not None:
        raise FlowError(refusal)
    assert found is not None  # cannot_attach refuses a missing incident
    return found


async def _record_run(
    session: AsyncSession,
    runbook: Runbook,
    incident: Incident,
    user_id: str,
    summary: str | None,
    now: datetime,
    drill_environment: str | None,
    actions: engine.Actions | None = None,
) -> Run:
    """The run's row (the runbook as it was: its snapshot), its RTO clock armed,
    its timeline event."""
    snapshot = engine.snapshot_runbook(runbook, actions)
    snapshot["meta"] = {
        "summary": summary,
        "owner": runbook.owner,
        "severity": runbook.severity,
        "rto": runbook.rto,
        "rto_seconds": runbook.rto_seconds,
        "path": runbook.path,
        "drill": drill_environment,
    }
    run = Run(
        incident_id=incident.id,
        runbook_id=runbook.id,
        runbook_title=runbook.title,
        content_hash=runbook.content_hash,
        snapshot=snapshot,
        channel_id=incident.channel_id,
        started_by=user_id,
        started_at=now,
        state=RunStatus.RUNNING,
        rollback_state=RollbackStatus.NONE,
    )
    session.add(run)
    await session.flush()
    if runbook.rto_seconds:
        arm_rto(session, incident.id, run.id, now, runbook.rto_seconds)
    add_event(
        session,
        incident.id,
        EventKind.RUNBOOK_STARTED,
        user_id,
        f"Runbook {runbook.id} {runbook.title} started ({runbook.step_count} steps)",
        run_id=run.id,
        at=now,
        data={
            "runbook_id": runbook.id,
            "content_hash": runbook.content_hash,
            "summary": summary,
            **({"drill": True} if drill_environment is not None else {}),
        },
    )
    return run


@dataclass(frozen=True, slots=True)
class AbortResult:
    aborted: engine.Aborted | None
    refused: engine.Refused | None
    run: Run | None
    incident_key: str = ""
    problem: str | None = None  # why nothing was aborted (which run was not clear)
    pending: engine.FlowStep | None = None  # the step it stopped at


async def abort_run(
    session: AsyncSession, *, run_id: int, user_id: str, resolving: bool = False
) -> AbortResult:
    """``resolving``: the incident is being resolved, so no rollback is
    offered and the run's messages say the resolve ended it."""
    now = utcnow()
    locked = await lock_incident_then_run(session, run_id)
    if locked is None:
        return AbortResult(None, engine.Refused(engine.Refusal.UNKNOWN_STEP), None)
    incident, run = locked
    state = await load_state(session, run)
    outcome = engine.abort(state)
    if isinstance(outcome, engine.Refused):
        return AbortResult(None, outcome, run)
    pending = state.current()
    state, first = outcome.state, outcome.first_rollback_step
    info = run_info(run, incident)
    if resolving:
        state, first = replace(state, rollback_status=RollbackStatus.NONE), None
        info = replace(info, ended_note=RESOLVED_NOTE, incident_open=False)
    await end_run(
        session,
        run,
        incident,
        info,
        state,
        now,
        completed=False,
        user_id=user_id,
        first_rollback_step=first,
        pending_step=pending,
    )
    return AbortResult(outcome, None, run, incident.key, pending=pending)
