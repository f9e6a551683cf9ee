"""Resolving an incident ends its runs still going — one path for
``/incident resolve`` and the incident's Resolve button: each run is aborted
without a rollback (its pending step's buttons removed, its messages saying
the resolve ended it), then the incident is resolved with a summary naming
where each run stopped, and the incident's other run messages lose their
buttons."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.incidents import flows
from bot.incidents.flows import Action, Outcome
from bot.incidents.priority import PriorityPolicy
from bot.runs.flows import abort_run
from bot.runs.messaging import refresh_run_messages
from bot.runs.queries import running_runs_of
from bot.store.models import Incident


def resolve(user: str, *, policy: PriorityPolicy, postmortem_due: float | None = None) -> Action:
    """The resolve as an :data:`Action` on the locked, open incident."""

    async def act(session: AsyncSession, incident: Incident) -> Outcome:
        ended: list[str] = []
        ended_ids: list[int] = []
        for run in await running_runs_of(session, incident.id):
            result = await abort_run(session, run_id=run.id, user_id=user, resolving=True)
            if result.aborted is None:
                continue
            ended_ids.append(run.id)
            step = result.pending
            where = f" at step {step.position} of {step.total}" if step is not None else ""
            ended.append(f"{run.runbook_id} ended{where} when the incident was resolved")
        resolved = flows.resolve(user, policy=policy, postmortem_due=postmortem_due, ended=ended)
        outcome = await resolved(session, incident)
        await refresh_run_messages(session, incident, skip=ended_ids)
        return outcome

    return act
