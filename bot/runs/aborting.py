"""The one way a run is aborted on request: the run's Abort button or
``/runbook abort [INC-<n>]``. Clicks acknowledged before the abort are decided
first (the intake is drained), then one transaction ends the run
(``flows.abort_run`` → ``ending.end_run``)."""

from __future__ import annotations

from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.incidents.service import open_incidents
from bot.runs.flows import AbortResult, abort_run
from bot.runs.queries import current_run_in_channel
from bot.store.states import run_key

NOTHING_RUNNING = "No runbook is running here. Nothing was aborted."


class Drains(Protocol):
    """What acts now on the requests acknowledged before this one (the intake worker)."""

    async def drain(self, ordering_key: str, limit: int = 100) -> None: ...

    async def drain_channel(self, channel_id: str) -> None: ...


async def abort(
    sessions: async_sessionmaker[AsyncSession],
    intake: Drains,
    *,
    user_id: str,
    run_id: int | None = None,
    channel_id: str = "",
    incident_id: int | None = None,
) -> AbortResult:
    """Abort ``run_id`` (the button), or the run going on in ``channel_id``
    (of ``incident_id`` if given). ``problem`` says why nothing was aborted
    when the channel's run is not clear."""
    if run_id is not None:
        await intake.drain(run_key(run_id))
    else:
        await intake.drain_channel(channel_id)
    async with sessions() as session, session.begin():
        if run_id is None:
            runs = await current_run_in_channel(session, channel_id, incident_id)
            if not runs:
                return AbortResult(None, None, None, problem=NOTHING_RUNNING)
            if len(runs) > 1:
                return AbortResult(None, None, None, problem=await _several(session, channel_id))
            run_id = runs[0].id
        return await abort_run(session, run_id=run_id, user_id=user_id)


async def _several(session: AsyncSession, channel_id: str) -> str:
    incidents = await open_incidents(session, channel_id)
    keys = ", ".join(i.key for i in incidents)
    return (
        f"Several runs are going on here: say which, e.g. `/runbook abort INC-<n>` (open: {keys})."
    )
