"""Status-update reminders: the database is the source of truth.

Each open incident stores ``next_reminder_at``. One APScheduler job wakes the
process at the earliest due time (rebuilt from the database at start: one
indexed ``MIN`` query, whatever the number of incidents). At each wake the due
incidents are *claimed* in the database — ``FOR UPDATE SKIP LOCKED`` on
PostgreSQL — and in the same transaction get their ``reminder_sent`` event, the
reminder message in the outbox, and their next due time. So several bot
processes sharing a database post each reminder once, and a bot that was down
past a due time posts one catch-up reminder, then resumes the normal rhythm.

The wake also happens at least every ``max_sleep`` seconds, so incidents opened
or updated by another process are picked up without cross-process signalling.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.incidents import blocks as incident_blocks
from bot.incidents.service import add_event, incident_view
from bot.slack.delivery import OutboxWorker
from bot.slack.outbox import enqueue
from bot.store.models import Incident, utcnow

if TYPE_CHECKING:
    from bot.metrics import Metrics

log = logging.getLogger(__name__)

JOB_ID = "status-update-reminders"
RETRY_SOON = 0.05  # seconds
MAX_OVERLAP = 8


class Reminders:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        outbox: OutboxWorker,
        interval_seconds: float,
        postgres: bool,
        metrics: Metrics | None = None,
        max_sleep: float | None = None,
        batch: int = 200,
    ) -> None:
        self._sessions = sessions
        self._outbox = outbox
        self.interval = interval_seconds
        self._postgres = postgres
        self._metrics = metrics
        # Poll for other processes' incidents at least this often.
        self._max_sleep = max_sleep if max_sleep is not None else min(30.0, interval_seconds)
        self._batch = batch
        self._scheduler: AsyncIOScheduler | None = None
        self.sent = 0

    # --- lifecycle -------------------------------------------------------------

    async def start(self) -> None:
        self._scheduler = AsyncIOScheduler(timezone=UTC)
        self._scheduler.start()
        try:
            await self.rebuild()
        except Exception:  # database down at start: the wake retries later
            log.exception("reminders: could not read due times; retrying")
            self._schedule(utcnow() + timedelta(seconds=min(self._max_sleep, 5.0)))

    async def stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None

    async def rebuild(self) -> datetime | None:
        """Schedule the next wake from the earliest due time in the database."""
        async with self._sessions() as session:
            earliest = (
                await session.execute(
                    select(func.min(Incident.next_reminder_at)).where(Incident.state == "open")
                )
            ).scalar()
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
        """A due time changed in this process: wake earlier if needed."""
        planned = self.next_wake()
        if due is not None and (planned is None or due < planned):
            self._schedule(due)

    def next_wake(self) -> datetime | None:
        """When the scheduler will wake next (None: no wake planned)."""
        job = self._scheduler.get_job(JOB_ID) if self._scheduler is not None else None
        return job.next_run_time if job is not None else None

    def _schedule(self, at: datetime) -> None:
        if self._scheduler is None:
            return
        self._scheduler.add_job(
            self._wake,
            "date",
            run_date=at,
            id=JOB_ID,
            replace_existing=True,
            misfire_grace_time=None,  # late is better than never
            coalesce=True,
            # The next wake is often scheduled from inside the running one (and
            # may be due at once): a second instance must run, not be skipped —
            # a skipped date job is gone and the reminders would stop.
            max_instances=MAX_OVERLAP,
        )

    async def _wake(self) -> None:
        try:
            while await self.send_due() >= self._batch:
                pass  # a full batch: more may be due
            await self.rebuild()
        except Exception:
            log.exception("reminders: round failed (database unavailable?); retrying")
            self._schedule(utcnow() + timedelta(seconds=min(self._max_sleep, 2.0)))

    # --- the claim ---------------------------------------------------------------

    async def send_due(self, now: datetime | None = None) -> int:
        """Claim and post every due reminder (up to one batch). Returns how many."""
        now = now or utcnow()
        query = (
            select(Incident)
            .where(Incident.state == "open", Incident.next_reminder_at <= now)
            .order_by(Incident.next_reminder_at)
            .limit(self._batch)
        )
        if self._postgres:
            query = query.with_for_update(skip_locked=True)
        async with self._sessions() as session, session.begin():
            due = list((await session.execute(query)).scalars())
            for incident in due:
                self._remind(session, incident, now)
        if due:
            self._outbox.notify()
            self.sent += len(due)
            if self._metrics is not None:
                self._metrics.reminders.inc(len(due))
        return len(due)

    def _remind(self, session: AsyncSession, incident: Incident, now: datetime) -> None:
        since = incident.last_update_at or incident.opened_at
        due = incident.next_reminder_at
        late = max(0.0, (now - due).total_seconds()) if due else 0.0
        # A bot that was down sends one catch-up reminder; it still counts every
        # window that passed without an update (for the resolve summary).
        windows = 1 + int(late // self.interval) if self.interval > 0 else 1
        add_event(
            session,
            incident.id,
            "reminder_sent",
            None,
            f"Status update reminder ({incident_blocks.ago(now - since)} since the last update)",
            at=now,
            data={
                "due_at": due.isoformat() if due else None,
                "late_seconds": round(late, 3),
                "windows": windows,
            },
        )
        enqueue(
            session,
            f"incident:{incident.id}",
            "chat.postMessage",
            {
                "channel": incident.channel_id,
                **incident_blocks.reminder_message(incident_view(incident), now),
            },
        )
        # From now, not from the old due time: one catch-up, never a burst.
        incident.next_reminder_at = now + timedelta(seconds=self.interval)
