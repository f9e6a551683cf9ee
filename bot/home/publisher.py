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

Insights are computed off the publish path by each process that publishes
(serving: on open; worker: on changes), each with its own cache: just after
start-up (stale at once: the first view shows them and has them recomputed),
then in the background when older than ``INSIGHTS_TTL``. A view sent
without them (none yet) leaves its viewer *owed* one more, sent once they are
there and the interval has passed (claimed like a refresh).

Only recent viewers are refreshed (opened the tab within
``HOME_RECENT_WINDOW``, 15 minutes by default): everyone else gets a fresh
view when they open it. The refresh rounds keep within ``views.publish``'s
tier (``PUBLISH_PER_MINUTE``, counting the publishes on open too): when more
viewers are behind than that allows, the oldest views go first and the rest
in the next rounds. A publish that fails is not counted as published: the
viewer is behind again and retried after the interval.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.drills.stats import compute_stats
from bot.drills.stats_render import insight_lines
from bot.home.data import followups_of, load_home
from bot.home.permalinks import Permalinks
from bot.home.view import home_view, with_followups
from bot.runbook import Library
from bot.slack.bucket import Bucket
from bot.slack.budget import Budgets, LocalBudgets
from bot.slack.pace import Priority
from bot.store.models import HomeViewer, TimelineEvent, utcnow
from bot.tasks import cancel_and_wait

log = logging.getLogger(__name__)

BATCH = 500
FAILED = -1  # published_mark of a viewer whose last publish failed: behind any view
PARALLEL = 8  # views.publish calls in flight at once
INSIGHTS_TTL = 60.0  # seconds an insights section is reused across publishes
INSIGHTS_SHOWN = 600.0  # older than this (nobody looked meanwhile): not shown, recomputed
START_UP_DELAY = 1.5  # start-up insights wait: catch-up reminders and deadlines go first
# The view is the same for everyone: tabs opened while nothing changed share
# one render for this long (ages in it are then up to this much stale).
RENDER_REUSE = 5.0


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
        levels: Sequence[str] = (),
        poll_seconds: float = 1.0,
        recent_seconds: float = 900.0,
        budgets: Budgets | None = None,
    ) -> None:
        self._sessions = sessions
        self._client = client
        self._library = library
        self._postgres = postgres
        self.refresh_interval = refresh_interval
        self._validation_interval = validation_interval
        self._on_call = on_call or (lambda method, ok: None)
        self._insights_days = insights_days
        self._levels = tuple(levels)
        self._insights: tuple[float, list[str]] | None = None
        self._insights_from = datetime.min.replace(tzinfo=UTC)  # the data they were computed over
        self._insights_task: asyncio.Task[None] | None = None
        self._poll = min(poll_seconds, refresh_interval)
        self._recent = timedelta(seconds=recent_seconds)
        # views.publish is Tier 4 (100 a minute), shared by every process's refresh.
        self._bucket = Bucket(budgets or LocalBudgets(), "views.publish")
        self._permalinks = Permalinks(client, self._on_call)
        # (mark, when, the view and whether it has the insights)
        self._rendered: tuple[int, float, asyncio.Future[tuple[dict[str, Any], bool]]] | None = None
        self._owed: dict[str, float] = {}  # viewer → when (monotonic) their full view is due
        self._owed_task: asyncio.Task[None] | None = None
        self._seen_mark = -1
        self._stale = False  # viewers left behind by the interval at the last round
        self._task: asyncio.Task[None] | None = None
        self.published = 0

    # --- lifecycle -------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop())
            self._insights_soon(start_up=True)  # this process's first refresh shows them

    async def stop(self) -> None:
        for task in (self._task, self._insights_task, self._owed_task):
            if task is not None:
                await cancel_and_wait(task)
        self._task = self._insights_task = self._owed_task = None

    async def warm(self) -> None:
        """At start-up: the insights, and one render, so the first tab opened
        finds them ready, the statements compiled and the thread links cached."""
        try:
            await self.render(utcnow(), insights=False)
            await asyncio.shield(self._insights_soon(start_up=True))
        except Exception:
            log.warning("home: warm-up render failed (database down?)", exc_info=True)

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
        # Counted like any publish; published at once all the same (they are looking).
        await self._bucket.take_up_to(1, Priority.CLICK)
        await self._send([user_id], mark, now)

    async def _send(self, users: Sequence[str], mark: int, now: datetime) -> None:
        """Publish the view at ``mark``; owe a full one to whoever it lacked
        insights for; whoever it failed for is behind again (retried)."""
        view, complete = await self._view_for(mark, now)
        failed = await self._publish(users, view)
        if failed:
            async with self._sessions() as session, session.begin():
                await session.execute(
                    update(HomeViewer)
                    .where(HomeViewer.user_id.in_(failed))
                    .values(published_mark=FAILED)
                )
            self._stale = True
        if not complete:
            self._owe([u for u in users if u not in failed])

    async def _view_for(self, mark: int, now: datetime) -> tuple[dict[str, Any], bool]:
        """A view reflecting timeline event ``mark``: shared with concurrent opens."""
        cached = self._rendered
        if cached is not None and cached[0] >= mark and time.monotonic() - cached[1] < RENDER_REUSE:
            return await asyncio.shield(cached[2])
        loop = asyncio.get_running_loop()
        future: asyncio.Future[tuple[dict[str, Any], bool]] = loop.create_future()
        self._rendered = (mark, time.monotonic(), future)
        try:
            rendered = await self._render(now)
        except BaseException as exc:
            self._rendered = None
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning for the others
            raise
        future.set_result(rendered)
        return rendered

    async def refresh(self, now: datetime | None = None) -> int:
        """One round: republish for viewers behind the timeline. Returns how many."""
        async with self._sessions() as session:
            mark = await _newest_event(session)
        if mark <= self._seen_mark and not self._stale:
            return 0
        now = now or utcnow()
        behind = (
            HomeViewer.published_mark < mark,
            HomeViewer.opened_at >= now - self._recent,
        )
        ready = or_(
            HomeViewer.published_at.is_(None),
            HomeViewer.published_at <= now - timedelta(seconds=self.refresh_interval),
        )
        oldest_first = HomeViewer.published_at.asc().nulls_first()
        query = select(HomeViewer.user_id).where(*behind, ready).order_by(oldest_first)
        query = query.limit(BATCH)
        if self._postgres:
            query = query.with_for_update(skip_locked=True)
        async with self._sessions() as session, session.begin():
            users = list((await session.execute(query)).scalars())
            # As many as views.publish's tier allows now (oldest view first);
            # the rest stay behind and go in the next rounds.
            users = users[: await self._bucket.take_up_to(len(users))] if users else users
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
            await self._send(users, mark, now)
        return len(users)

    async def render(self, now: datetime | None = None, *, insights: bool = True) -> dict[str, Any]:
        return (await self._render(now, insights=insights))[0]

    async def _render(
        self, now: datetime | None = None, *, insights: bool = True
    ) -> tuple[dict[str, Any], bool]:
        """The view, and whether it has the insights (False: not computed yet)."""
        now = now or utcnow()
        async with self._sessions() as session:
            lines = await self._insight_lines(session) if insights else []
            since = self._insights_from
            data = await load_home(
                session,
                self._library,
                interval_seconds=self._validation_interval,
                now=now,
                insights=lines,
                insights_days=self._insights_days,
                levels=self._levels,
            )
        if any(r.started_at > since and not r.drill for r in data.runs):
            # Insights older than a run listed beside them would contradict it:
            # shown once recomputed (the viewer is owed that view).
            lines = []
            self._insights_soon()
        incidents = await self._permalinks.attach(data.incidents)
        return home_view(replace(data, incidents=incidents, insights=lines)), bool(lines)

    async def _publish(self, users: Sequence[str], view: dict[str, Any]) -> list[str]:
        """Who it failed for."""
        gate = asyncio.Semaphore(PARALLEL)
        failed: list[str] = []
        async with self._sessions() as session:
            owed = await followups_of(session, users)  # each viewer's own, added to the view

        async def one(user: str) -> None:
            async with gate:
                try:
                    mine = with_followups(view, owed.get(user, []), utcnow())
                    await self._client.views_publish(user_id=user, view=mine)
                    self._on_call("views.publish", True)
                    self.published += 1
                except Exception as exc:
                    self._on_call("views.publish", False)
                    log.warning("views.publish for %s failed: %r", user, exc)
                    failed.append(user)

        await asyncio.gather(*(one(u) for u in users))
        return failed

    # --- parts of the view -------------------------------------------------------

    async def _insight_lines(self, session: AsyncSession) -> list[str]:
        """Insights change slowly and cost a few grouped queries over the whole
        period: a view shows the last ones computed, recomputed in the background
        once older than ``INSIGHTS_TTL`` — never in front of a publish (the very
        first views go without them until they are ready)."""
        cached = self._insights
        age = time.monotonic() - cached[0] if cached is not None else math.inf
        if age >= INSIGHTS_TTL:
            self._insights_soon()
        return cached[1] if cached is not None and age < INSIGHTS_SHOWN else []

    def _showable(self) -> bool:
        cached = self._insights
        return cached is not None and time.monotonic() - cached[0] < INSIGHTS_SHOWN

    def _insights_soon(self, *, start_up: bool = False) -> asyncio.Task[None]:
        """Start computing the insights in the background unless that is under way."""
        if self._insights_task is None:
            self._insights_task = asyncio.create_task(self._recompute_insights(start_up))
        return self._insights_task

    async def _recompute_insights(self, start_up: bool = False) -> None:
        try:
            if start_up:
                await asyncio.sleep(START_UP_DELAY)
            async with self._sessions() as session:
                await self._compute_insights(session, start_up=start_up)
        finally:
            self._insights_task = None

    async def _compute_insights(
        self, session: AsyncSession, *, start_up: bool = False
    ) -> list[str]:
        started = utcnow()
        try:
            stats = await compute_stats(
                session, self._library, days=self._insights_days, levels=self._levels
            )
        except Exception:
            log.exception("home: insights failed; shown without them")
            return self._insights[1] if self._insights else []
        lines = insight_lines(stats)
        self._insights_from = started
        # Computed at start-up, over whatever data there was then: stale at once.
        self._insights = (time.monotonic() - (INSIGHTS_TTL if start_up else 0.0), lines)
        self._rendered = None  # the next view shows them
        return lines

    # --- views owed: sent before the insights were ready ------------------------

    def _owe(self, users: Sequence[str]) -> None:
        due = time.monotonic() + self.refresh_interval  # one publish per interval, still
        for user in users:
            self._owed.setdefault(user, due)
        if self._owed_task is None:
            self._owed_task = asyncio.create_task(self._pay_owed())

    async def _pay_owed(self) -> None:
        try:
            while self._owed:
                wait = min(self._owed.values()) - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                    continue
                if not self._showable():  # still computing, or it failed: try again
                    await asyncio.wait([self._insights_soon()])  # a cancel leaves it running
                    if not self._showable():
                        await asyncio.sleep(max(self.refresh_interval, 5.0))
                    continue
                due = [u for u, at in self._owed.items() if at <= time.monotonic()]
                for user in due:
                    del self._owed[user]
                try:
                    await self._republish(due)
                except Exception:
                    log.exception("home: publishing owed views failed")
        finally:
            self._owed_task = None

    async def _republish(self, users: Sequence[str]) -> None:
        """Claimed like a refresh: who was sent a view within the interval (by
        either process) is not sent another now."""
        now = utcnow()
        async with self._sessions() as session, session.begin():
            mark = await _newest_event(session)
            claimed = list(
                (
                    await session.execute(
                        update(HomeViewer)
                        .where(
                            HomeViewer.user_id.in_(users),
                            or_(
                                HomeViewer.published_at.is_(None),
                                HomeViewer.published_at
                                <= now - timedelta(seconds=self.refresh_interval * 0.9),
                            ),
                        )
                        .values(published_at=now, published_mark=mark)
                        .returning(HomeViewer.user_id)
                    )
                ).scalars()
            )
        if claimed:
            await self._send(claimed, mark, now)


async def _newest_event(session: AsyncSession) -> int:
    return int((await session.execute(select(func.max(TimelineEvent.id)))).scalar() or 0)
