"""Status-update reminders: the database is the source of truth.

Each open incident stores ``next_reminder_at``. One APScheduler job
(``bot/incidents/due.py``, shared with deadlines) wakes the process at the
earliest due time (one indexed ``MIN`` query, whatever the number of
incidents). At each wake the due incidents are *claimed* in the database —
``FOR UPDATE SKIP LOCKED`` on PostgreSQL — and in the same transaction get
their ``reminder_sent`` event, the reminder message in the outbox, and their
next due time. So several bot processes sharing a database post each reminder
once, and a bot that was down past a due time posts one catch-up reminder,
then resumes the normal rhythm. A new reminder collapses the one before it
(its buttons removed, one line left): an incident has one live reminder. A
reminder still waiting for Slack's pace when the next one comes due is not
joined by another: the waiting one takes
the newer text and stands for both windows: ``reminder_sent`` is recorded
once per message owed, ``reminder_joined`` for a window that joined one.
The interval is the incident's priority level's, or
``STATUS_UPDATE_INTERVAL`` (SPEC §7).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.incidents import blocks as incident_blocks
from bot.incidents.due import DueJob
from bot.incidents.messages import collapse_last_reminder
from bot.incidents.service import add_event, incident_view
from bot.slack.delivery import OutboxWorker
from bot.slack.health import recent_cutoff
from bot.slack.outbox import enqueue, enqueue_collapsing
from bot.slack.pace import Priority
from bot.store.models import Incident, OutboxMessage, SlackProblem, utcnow
from bot.store.states import EventKind, IncidentState, OutboxState, incident_key, reminder_key

if TYPE_CHECKING:
    from bot.metrics import Metrics

log = logging.getLogger(__name__)

JOB_ID = "status-update-reminders"
# A reminder came due while the previous one still waited to be posted.
REMINDER_JOINED = EventKind.REMINDER_JOINED


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
        query = select(func.min(Incident.next_reminder_at)).where(
            Incident.state == IncidentState.OPEN
        )
        return (await session.execute(query)).scalar()

    # --- the claim ---------------------------------------------------------------

    async def send_due(self, now: datetime | None = None) -> int:
        """Claim and post every due reminder (up to one batch). Returns how many."""
        now = now or utcnow()
        query = (
            select(Incident)
            .where(Incident.state == IncidentState.OPEN, Incident.next_reminder_at <= now)
            .order_by(Incident.next_reminder_at)
            .limit(self._batch)
        )
        if self._postgres:
            query = query.with_for_update(skip_locked=True)
        async with self._sessions() as session, session.begin():
            due = list((await session.execute(query)).scalars())
            gone = await unreachable_channels(session) if due else set()
            for incident in (i for i in due if i.channel_id in gone):
                # Slack will not take messages there (archived, bot removed): the
                # reminder pauses — no call, no event — and tries again next interval.
                interval = self._interval_for(incident.priority)
                incident.next_reminder_at = now + timedelta(seconds=interval)
            due = [i for i in due if i.channel_id not in gone]
            waiting = await _waiting(session, [i.id for i in due]) if due else set()
            owed = [await self._remind(session, i, now, reminder_key(i.id) in waiting) for i in due]
        sent = sum(owed)
        if sent:
            self._outbox.notify()
            self.sent += sent
            if self._metrics is not None:
                self._metrics.reminders.inc(sent)
        return len(due)

    async def _remind(
        self, session: AsyncSession, incident: Incident, now: datetime, waiting: bool
    ) -> bool:
        """The incident's reminder, and its next due time. True: a new message
        is owed; False: it joined the reminder still waiting (``waiting``)."""
        since = incident.last_update_at or incident.opened_at
        interval = self._interval_for(incident.priority)
        data = _window_data(incident.next_reminder_at, now, interval)
        payload = {
            "channel": incident.channel_id,
            **incident_blocks.reminder_message(incident_view(incident), now),
        }
        key, collapse = incident_key(incident.id), reminder_key(incident.id)
        # From now, not from the old due time: one catch-up, never a burst.
        incident.next_reminder_at = now + timedelta(seconds=interval)
        text = f"{incident_blocks.ago(now - since)} since the last update"
        if waiting and await enqueue_collapsing(
            session,
            key,
            "chat.postMessage",
            payload,
            collapse=collapse,
            priority=Priority.REMINDER,
        ):
            # No message of its own, so no reminder_sent; the window still counts
            # (the resolve summary's missed windows read both kinds).
            add_event(
                session,
                incident.id,
                REMINDER_JOINED,
                None,
                f"Status update reminder due ({text}); the reminder still waiting for "
                "Slack stands for it",
                at=now,
                data=data,
            )
            return False
        # The previous reminder collapses to one line: one live reminder per incident.
        await collapse_last_reminder(session, incident)
        if not waiting:
            enqueue(
                session,
                key,
                "chat.postMessage",
                payload,
                priority=Priority.REMINDER,
                collapse=collapse,
            )
        add_event(
            session,
            incident.id,
            EventKind.REMINDER_SENT,
            None,
            f"Status update reminder ({text})",
            at=now,
            data=data,
        )
        return True


def _window_data(due: datetime | None, now: datetime, interval: float) -> dict[str, Any]:
    """A reminder's event data: when it was due, how late, how many windows."""
    late = max(0.0, (now - due).total_seconds()) if due else 0.0
    # A bot that was down sends one catch-up reminder; it still counts every
    # window that passed without an update (for the resolve summary).
    windows = 1 + int(late // interval) if interval > 0 else 1
    return {
        "due_at": due.isoformat() if due else None,
        "late_seconds": round(late, 3),
        "windows": windows,
    }


async def unreachable_channels(session: AsyncSession) -> set[str]:
    """Channels Slack refuses the bot's messages in (``bot/slack/health.py``)."""
    since = func.coalesce(SlackProblem.checked_at, SlackProblem.since)
    query = select(SlackProblem.scope).where(since > recent_cutoff())
    scopes = (await session.execute(query)).scalars()
    return {s.removeprefix("channel:") for s in scopes if s.startswith("channel:")}


async def _waiting(session: AsyncSession, incident_ids: list[int]) -> set[str]:
    """The collapse keys of reminders still waiting for Slack (no worker holds them)."""
    keys = [reminder_key(i) for i in incident_ids]
    query = select(OutboxMessage.collapse_key).where(
        OutboxMessage.collapse_key.in_(keys),
        OutboxMessage.state == OutboxState.PENDING,
        OutboxMessage.lease_owner.is_(None),
    )
    return {k for k in (await session.execute(query)).scalars() if k}
