"""Status-update reminders: the database is the source of truth.

Each open incident stores ``next_reminder_at``. One APScheduler job
(``bot/incidents/due.py``, shared with deadlines) wakes the process at the
earliest due time (one indexed ``MIN`` query, whatever the number of
incidents). At each wake the due incidents are *claimed* in the database —
``FOR UPDATE SKIP LOCKED`` on PostgreSQL — and in the same transaction get
their ``reminder_sent`` event, the reminder message in the outbox, and their
next due time. So several bot processes sharing a database post each reminder
once, and a bot that was down past a due time posts one catch-up reminder,
then resumes the normal rhythm. The interval is the incident's priority
level's, or ``STATUS_UPDATE_INTERVAL`` (SPEC §7).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.incidents import blocks as incident_blocks
from bot.incidents.due import DueJob
from bot.incidents.service import add_event, incident_view
from bot.slack.delivery import OutboxWorker
from bot.slack.outbox import enqueue
from bot.slack.pace import Priority
from bot.store.models import Incident, utcnow

if TYPE_CHECKING:
    from bot.metrics import Metrics

log = logging.getLogger(__name__)

JOB_ID = "status-update-reminders"


class Reminders(DueJob):
    job_id = JOB_ID
    name = "reminders"

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
        interval_for: Callable[[str | None], float] | None = None,
    ) -> None:
        # Poll for other processes' incidents at least this often.
        super().__init__(
            sessions,
            postgres=postgres,
            max_sleep=max_sleep if max_sleep is not None else min(30.0, interval_seconds),
            batch=batch,
        )
        self._outbox = outbox
        self.interval = interval_seconds
        self._interval_for = interval_for or (lambda _level: interval_seconds)
        self._metrics = metrics
        self.sent = 0

    async def earliest(self, session: AsyncSession) -> datetime | None:
        query = select(func.min(Incident.next_reminder_at)).where(Incident.state == "open")
        return (await session.execute(query)).scalar()

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
        interval = self._interval_for(incident.priority)
        # A bot that was down sends one catch-up reminder; it still counts every
        # window that passed without an update (for the resolve summary).
        windows = 1 + int(late // interval) if interval > 0 else 1
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
            priority=Priority.REMINDER,
        )
        # From now, not from the old due time: one catch-up, never a burst.
        incident.next_reminder_at = now + timedelta(seconds=interval)
