"""What listeners and flows are handed: the app's parts, built by the app factory.

Listeners (``commands/``) and the worker take an :class:`AppContext`; nothing
here builds anything, so importing it never starts a service or reads a
setting. ``bot/app.py`` builds one per app (tests build their own).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.home.channel import ChannelResolver
from bot.home.publisher import HomePublisher
from bot.incidents.deadlines import Deadlines
from bot.incidents.reminders import Reminders
from bot.intake.wakeup import WakeListener
from bot.intake.worker import IntakeWorker
from bot.intake.writer import Intake
from bot.metrics import Metrics
from bot.runbook import Library
from bot.runs.action_runner import ActionRunner
from bot.settings import Settings
from bot.slack.approvers import Approvers
from bot.slack.delivery import OutboxWorker
from bot.store.retention import Retention
from bot.store.urls import is_sqlite

log = logging.getLogger("runbook_bot")


class Background:
    """Fire-and-forget work after an ack (ephemeral replies, modals), kept
    referenced so it is not garbage-collected and awaited at shutdown."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task failed", exc_info=task.exception())

    async def drain(self, timeout: float = 5.0) -> None:
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout)


@dataclass
class AppContext:
    """Everything a listener needs, passed down explicitly."""

    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    library: Library
    client: AsyncWebClient
    metrics: Metrics
    outbox: OutboxWorker
    reminders: Reminders
    approvers: Approvers
    intake: Intake
    intake_worker: IntakeWorker
    home: HomePublisher
    declare_channel: ChannelResolver
    deadlines: Deadlines
    background: Background = field(default_factory=Background)
    listener: WakeListener | None = None
    retention: Retention | None = None
    runner: ActionRunner | None = None  # runs the actions of Run clicks (in the worker)

    @property
    def postgres(self) -> bool:
        return not is_sqlite(self.settings.database_url)
