"""One APScheduler job that wakes at the earliest due time the database holds.

Shared by status-update reminders (``reminders.py``) and deadlines
(``deadlines.py``): the database is the source of truth, the process only keeps
one wake-up planned. At each wake the subclass *claims* what is due
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL) and acts on it in the same
transaction, so several processes act on each due row once; then the next wake
is planned from one indexed ``MIN`` query. The wake also happens at least every
``max_sleep`` seconds, and ``nudge`` moves it earlier when this process (or a
LISTEN/NOTIFY from another one) learns of an earlier due time.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.store.models import utcnow

log = logging.getLogger(__name__)

RETRY_SOON = 0.05  # seconds
MAX_OVERLAP = 8


class DueJob:
    """Subclasses say what is earliest (``earliest``) and act on what is due
    (``send_due``, returning how many rows it handled, at most ``batch``)."""

    job_id = "due"
    name = "due"

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        postgres: bool,
        max_sleep: float = 30.0,
        batch: int = 200,
    ) -> None:
        self._sessions = sessions
        self._postgres = postgres
        self._max_sleep = max_sleep
        self._batch = batch
        self._scheduler: AsyncIOScheduler | None = None

    async def earliest(self, session: AsyncSession) -> datetime | None:
        raise NotImplementedError

    async def send_due(self, now: datetime | None = None) -> int:
        raise NotImplementedError

    # --- lifecycle -------------------------------------------------------------

    async def start(self) -> None:
        self._scheduler = AsyncIOScheduler(timezone=UTC)
        self._scheduler.start()
        try:
            await self.rebuild()
        except Exception:  # database down at start: the wake retries later
            log.exception("%s: could not read due times; retrying", self.name)
            self._schedule(utcnow() + timedelta(seconds=min(self._max_sleep, 5.0)))

    async def stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None

    async def rebuild(self) -> datetime | None:
        """Schedule the next wake from the earliest due time in the database."""
        async with self._sessions() as session:
            earliest = await self.earliest(session)
        if earliest is not None and earliest.tzinfo is None:
            earliest = earliest.replace(tzinfo=UTC)
        now = utcnow()
        at = now + timedelta(seconds=self._max_sleep)
        if earliest is not None:
            # Due already but not claimed here: another process holds it; look
            # again shortly rather than spinning.
            at = max(min(earliest, at), now + timedelta(seconds=RETRY_SOON))
        planned = self.next_wake()
        if planned is not None and planned <= at:
            # E.g. a nudge during this round already asked for an earlier wake.
            return earliest
        self._schedule(at)
        return earliest

    def nudge(self, due: datetime | None) -> None:
        """A due time changed: wake earlier if needed."""
        planned = self.next_wake()
        if due is not None and (planned is None or due < planned):
            self._schedule(due)

    def next_wake(self) -> datetime | None:
        """When the scheduler will wake next (None: no wake planned)."""
        job = self._scheduler.get_job(self.job_id) if self._scheduler is not None else None
        return job.next_run_time if job is not None else None

    def _schedule(self, at: datetime) -> None:
        if self._scheduler is None:
            return
        self._scheduler.add_job(
            self._wake,
            "date",
            run_date=at,
            id=self.job_id,
            replace_existing=True,
            misfire_grace_time=None,  # late is better than never
            coalesce=True,
            # The next wake is often scheduled from inside the running one (and
            # may be due at once): a second instance must run, not be skipped —
            # a skipped date job is gone and the clock would stop.
            max_instances=MAX_OVERLAP,
        )

    async def _wake(self) -> None:
        try:
            while await self.send_due() >= self._batch:
                pass  # a full batch: more may be due
            await self.rebuild()
        except Exception:
            log.exception("%s: round failed (database unavailable?); retrying", self.name)
            self._schedule(utcnow() + timedelta(seconds=min(self._max_sleep, 2.0)))
