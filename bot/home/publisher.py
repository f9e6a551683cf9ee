"""Publishing the App Home: when someone opens it, and when incidents change.

Why a table of viewers (``home_viewers``) rather than memory: the tab is
opened in the serving process, the changes happen in whichever process acts
on them, and several workers may share the database. Each viewer row says
which timeline event the view they were last sent reflects. Every
``poll_seconds`` a worker compares that with the newest event id (one
index-only ``MAX``); viewers behind it whose last publish is older than
``HOME_REFRESH_INTERVAL`` are claimed (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL), marked, and sent one freshly rendered view. A viewer published
less than an interval ago waits for the interval to pass and then gets one
view with everything that changed meanwhile: a busy incident costs each
viewer one ``views.publish`` per interval, not one per click.

A publish that fails is not retried until the next change (the tab shows the
last view Slack has; opening it again republishes).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.drills.stats import compute_stats
from bot.drills.stats_render import insight_lines
from bot.home.data import load_home
from bot.home.view import OpenIncident, home_view
from bot.runbook import Library
from bot.store.models import HomeViewer, TimelineEvent, utcnow
from bot.tasks import cancel_and_wait

log = logging.getLogger(__name__)

VIEWER_TTL = timedelta(days=7)  # who has not opened the tab for a week is not refreshed
BATCH = 500
PARALLEL = 8  # views.publish calls in flight at once
INSIGHTS_TTL = 60.0  # seconds an insights section is reused across publishes


class HomePublisher:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        client: AsyncWebClient,
        library: Library,
        *,
        postgres: bool,
        refresh_interval: float,
        validation_interval: float,
        on_call: Callable[[str, bool], None] | None = None,
        insights_days: int = 90,
        poll_seconds: float = 1.0,
    ) -> None:
        self._sessions = sessions
        self._client = client
        self._library = library
        self._postgres = postgres
        self.refresh_interval = refresh_interval
        self._validation_interval = validation_interval
        self._on_call = on_call or (lambda method, ok: None)
        self._insights_days = insights_days
        self._insights: tuple[float, list[str]] | None = None
        self._poll = min(poll_seconds, refresh_interval)
        self._permalinks: dict[tuple[str, str], str] = {}
        self._seen_mark = -1
        self._stale = False  # viewers left behind by the interval at the last round
        self._task: asyncio.Task[None] | None = None
        self.published = 0

    # --- lifecycle -------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                await self.refresh()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("home: refresh round failed; retrying")
            await asyncio.sleep(self._poll)

    # --- publishing ------------------------------------------------------------

    async def opened(self, user_id: str) -> None:
        """``app_home_opened``: remember the viewer, publish their view now."""
        now = utcnow()
        async with self._sessions() as session, session.begin():
            mark = await _newest_event(session)
            insert = postgresql.insert if self._postgres else sqlite.insert
            values = {"opened_at": now, "published_at": now, "published_mark": mark}
            await session.execute(
                insert(HomeViewer)
                .values(user_id=user_id, **values)
                .on_conflict_do_update(index_elements=[HomeViewer.user_id], set_=values)
            )
        await self._publish([user_id], await self.render(now))

    async def refresh(self, now: datetime | None = None) -> int:
        """One round: republish for viewers behind the timeline. Returns how many."""
        async with self._sessions() as session:
            mark = await _newest_event(session)
        if mark <= self._seen_mark and not self._stale:
            return 0
        now = now or utcnow()
        behind = (
            HomeViewer.published_mark < mark,
            HomeViewer.opened_at >= now - VIEWER_TTL,
        )
        ready = or_(
            HomeViewer.published_at.is_(None),
            HomeViewer.published_at <= now - timedelta(seconds=self.refresh_interval),
        )
        query = select(HomeViewer.user_id).where(*behind, ready).limit(BATCH)
        if self._postgres:
            query = query.with_for_update(skip_locked=True)
        async with self._sessions() as session, session.begin():
            users = list((await session.execute(query)).scalars())
            if users:
                await session.execute(
                    update(HomeViewer)
                    .where(HomeViewer.user_id.in_(users))
                    .values(published_at=now, published_mark=mark)
                )
            waiting = (
                await session.execute(select(func.count()).select_from(HomeViewer).where(*behind))
            ).scalar_one()
        self._seen_mark = mark
        self._stale = waiting > 0  # coalesced: they get one view when their interval ends
        if users:
            await self._publish(users, await self.render(now))
        return len(users)

    async def render(self, now: datetime | None = None) -> dict[str, Any]:
        now = now or utcnow()
        async with self._sessions() as session:
            insights = await self._insight_lines(session)
            data = await load_home(
                session,
                self._library,
                interval_seconds=self._validation_interval,
                now=now,
                insights=insights,
                insights_days=self._insights_days,
            )
        incidents = await self._with_permalinks(data.incidents)
        return home_view(replace(data, incidents=incidents))

    async def _publish(self, users: Sequence[str], view: dict[str, Any]) -> None:
        gate = asyncio.Semaphore(PARALLEL)

        async def one(user: str) -> None:
            async with gate:
                try:
                    await self._client.views_publish(user_id=user, view=view)
                    self._on_call("views.publish", True)
                    self.published += 1
                except Exception as exc:
                    self._on_call("views.publish", False)
                    log.warning("views.publish for %s failed: %r", user, exc)

        await asyncio.gather(*(one(u) for u in users))

    # --- parts of the view -------------------------------------------------------

    async def _insight_lines(self, session: AsyncSession) -> list[str]:
        cached = self._insights
        if cached is not None and time.monotonic() - cached[0] < INSIGHTS_TTL:
            return cached[1]
        try:
            stats = await compute_stats(session, self._library, days=self._insights_days)
            lines = insight_lines(stats)
        except Exception:
            log.exception("home: insights failed; shown without them")
            return cached[1] if cached else []
        self._insights = (time.monotonic(), lines)
        return lines

    async def _with_permalinks(self, incidents: Sequence[OpenIncident]) -> list[OpenIncident]:
        """Each thread's link, asked of Slack once per thread (permalinks never change)."""
        wanted = {
            (i.channel_id, i.thread_ts)
            for i in incidents
            if i.thread_ts and (i.channel_id, i.thread_ts) not in self._permalinks
        }

        async def fetch(channel: str, ts: str) -> None:
            try:
                response = await self._client.chat_getPermalink(channel=channel, message_ts=ts)
                self._on_call("chat.getPermalink", True)
                link = response.get("permalink")
                if isinstance(link, str) and link.startswith("https://"):
                    self._permalinks[(channel, ts)] = link
            except Exception as exc:
                self._on_call("chat.getPermalink", False)
                log.info("chat.getPermalink failed: %r", exc)

        if wanted:
            await asyncio.gather(*(fetch(c, t) for c, t in wanted))
        return [
            replace(i, permalink=self._permalinks.get((i.channel_id, i.thread_ts or "")))
            for i in incidents
        ]


async def _newest_event(session: AsyncSession) -> int:
    return int((await session.execute(select(func.max(TimelineEvent.id)))).scalar() or 0)
