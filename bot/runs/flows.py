"""Run flows: start, decide, abort — each one database transaction that records
the decision, appends the timeline and enqueues the Slack messages it owes.

Start and decide (``decide.py``) run in the worker, on requests the listener committed to the
intake before acknowledging (``bot/intake/worker.py``); abort runs in the listener
before its ack. The outbox worker does the Slack calls after the commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.drills.validation import Verdict
from bot.incidents.clocks import RTO_KINDS, WARN_AT, arm_rto, disarm
from bot.incidents.priority import PriorityPolicy
from bot.incidents.service import add_event, claim_request, create_incident
from bot.runbook import Runbook
from bot.runs import blocks, engine
from bot.runs.decide import DecideResult, decide_step
from bot.runs.drills import validate_drill, verdict_line
from bot.runs.engine import Decision
from bot.runs.queries import (
    enqueue_run_update,
    enqueue_step,
    load_state,
    lock_run,
    run_info,
    run_key,
    run_message_ref,
)
from bot.slack.outbox import enqueue, enqueue_now
from bot.slack.pace import Priority
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
) -> Started:
    """Open (or attach to) an incident, record the run, enqueue run message + step 1,
    start the RTO clock when the runbook has one.

    ``priority``: the level of a new incident (default: the runbook's
    ``severity`` when it names a level, else ``DEFAULT_PRIORITY``).
    ``at``: when the request was received (defaults to now).
    ``drill_environment``: a drill (``/runbook drill``) in that environment — it
    always opens its own incident, marked as a drill.
    """
    now = at or utcnow()
    if drill_environment is not None and incident_id is not None:
        raise FlowError(DRILL_ON_INCIDENT)
    if request_key and not await claim_request(session, request_key):
        raise DuplicateRequest("This command was already handled.")
    created = incident_id is None
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
        found = await session.get(Incident, incident_id)
        refusal = cannot_attach(found, incident_id, channel_id)
        if refusal is not None:
            raise FlowError(refusal)
        assert found is not None  # cannot_attach refuses a missing incident
        incident = found
    snapshot = engine.snapshot_runbook(runbook)
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
        channel_id=channel_id,
        started_by=user_id,
        started_at=now,
        state=RunStatus.RUNNING,
        rollback_state=RollbackStatus.NONE,
    )
    session.add(run)
    await session.flush()
    warning = None
    if runbook.rto_seconds:
        arm_rto(session, incident.id, run.id, now, runbook.rto_seconds)
        warning = now + timedelta(seconds=WARN_AT * runbook.rto_seconds)
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
    # A run just created has no decisions yet: no need to query them.
    state = engine.state_from_snapshot(
        run.snapshot, status=run.state, rollback_status=run.rollback_state
    )
    info = run_info(run, incident)
    # Inserted at once: the first step threads under it by its id.
    run_msg = await enqueue_now(
        session,
        run_key(run.id),
        "chat.postMessage",
        {"channel": channel_id, **blocks.run_message(info, state)},
        on_delivered=run_key(run.id),
        priority=Priority.CLICK,
    )
    first = state.current()
    if first is not None:
        thread = {"channel": channel_id}
        enqueue_step(
            session,
            run.id,
            first,
            info,
            incident.roles,
            thread,
            thread_from=run_msg,
            priority=Priority.CLICK,
        )
    return Started(incident, run, created, warning)


@dataclass(frozen=True, slots=True)
class AbortResult:
    aborted: engine.Aborted | None
    refused: engine.Refused | None
    run: Run | None
    incident_key: str = ""


async def abort_run(
    session: AsyncSession, *, run_id: int, user_id: str, postgres: bool
) -> AbortResult:
    now = utcnow()
    run = await lock_run(session, run_id, postgres)
    if run is None:
        return AbortResult(None, engine.Refused(engine.Refusal.UNKNOWN_STEP), None)
    state = await load_state(session, run)
    outcome = engine.abort(state)
    if isinstance(outcome, engine.Refused):
        return AbortResult(None, outcome, run)
    incident = await session.get(Incident, run.incident_id)
    assert incident is not None
    await disarm(session, incident.id, RTO_KINDS, run.id)  # the run is no longer going
    run.state = outcome.state.status.value
    run.rollback_state = outcome.state.rollback_status.value
    run.ended_at = now
    counts = outcome.state.counts()
    add_event(
        session,
        incident.id,
        EventKind.RUNBOOK_ABORTED,
        user_id,
        f"Runbook {run.runbook_id} aborted after {counts[Decision.APPROVED]} approved, "
        f"{counts[Decision.SKIPPED]} skipped",
        run_id=run.id,
        at=now,
        data={"rollback_steps": len(outcome.state.rollback_steps)},
    )
    key = run_key(run.id)
    info = run_info(run, incident)
    verdict: Verdict | None = None
    if info.drill:
        verdict = await validate_drill(session, run, info, outcome.state, now, completed=False)
    thread, run_row = await run_message_ref(session, run)
    enqueue_run_update(session, run, info, outcome.state, run_row)
    aborted = blocks.aborted_message(
        info, outcome.state, user_id, now, verdict=verdict_line(verdict)
    )
    enqueue(
        session,
        key,
        "chat.postMessage",
        {**thread, **aborted},
        thread_from=run_row,
        priority=Priority.CLICK,
    )
    if outcome.first_rollback_step is not None:
        step = outcome.first_rollback_step
        enqueue_step(session, run.id, step, info, incident.roles, thread, thread_from=run_row)
    return AbortResult(outcome, None, run, incident.key)
