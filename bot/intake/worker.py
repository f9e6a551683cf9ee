"""Intake: commit what Slack asked for before the ack, act on it right after.

Why: Slack waits for the ack, and the rule is that anything the bot
acknowledged is in the database. Deciding a step in full (lock the run, read
its decisions, record the decision and timeline, render and enqueue three or
four Slack messages) costs several milliseconds of CPU and a handful of round
trips; doing that in front of every ack made clicks queue behind each other.
So the ack path writes one small row — group-committed with whatever else
arrives at the same moment — and acks; a worker (``IntakeWorker``, in the
worker process on PostgreSQL) then runs the real flow in one transaction that
also deletes the row. A crash between the two loses nothing: the row waits.
The write itself (group commit, straight to asyncpg) is ``bot/intake/writer.py``.

Items sharing an ordering key (one run, one channel) are acted on one at a
time in arrival order, across processes (``FOR UPDATE SKIP LOCKED`` on the
oldest pending item of each key, ``bot.outbox.claim_heads``), so the first
click wins, as people expect.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import bindparam, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.slack.outbox import claim_heads, enqueue
from bot.slack.pace import Priority
from bot.store.db import is_transient
from bot.store.models import IntakeItem, table_of
from bot.store.people import SeenNames, clean_name, record_name
from bot.store.states import IntakeState
from bot.tasks import cancel_and_wait

log = logging.getLogger(__name__)

AfterCommit = Callable[[], None]


@dataclass(frozen=True, slots=True)
class Item:
    """A claimed intake item (read as columns: no ORM object per click)."""

    id: int
    kind: str
    payload: dict[str, Any]
    received_at: datetime
    ordering_key: str = ""


class NotYet(Exception):  # not an error: "ask me again later"
    """Raised by a handler that cannot judge its item yet (what it needs from
    Slack is not known yet): the item stays pending, its key (its run) waits,
    and the worker tries it again after ``retry_in`` seconds or when
    ``IntakeWorker.retry_deferred`` is called, whichever comes first."""

    def __init__(self, retry_in: float) -> None:
        super().__init__(f"not yet: retry in {retry_in}s")
        self.retry_in = retry_in


# Acts on one item inside the caller's transaction; may return what to do after commit.
Handler = Callable[[AsyncSession, Item], Awaitable[AfterCommit | None]]


class HandOff(Protocol):
    """Delivers the messages an item's transaction enqueued right after its
    commit, without a claim (``OutboxWorker``, ``bot/slack/delivery.py``)."""

    async def prepare_hand_off(self, session: AsyncSession) -> None: ...

    def take_hand_off(self, session: AsyncSession) -> None: ...


_TABLE = table_of(IntakeItem)
_C = _TABLE.c


def _claim_key_statement() -> tuple[Any, Any]:
    """The oldest pending item of one key — its head by definition (built once)."""
    query = (
        select(_C.id, _C.kind, _C.payload, _C.received_at, _C.ordering_key)
        .where(_C.state == IntakeState.PENDING, _C.ordering_key == bindparam("key"))
        .order_by(_C.id)
        .limit(1)
    )
    # No SKIP LOCKED: drain waits for an item another process holds.
    return query, query.with_for_update(of=_TABLE)


_CLAIM_COLUMNS = (_C.id, _C.kind, _C.payload, _C.received_at, _C.ordering_key)
_CLAIM_ANY = claim_heads(_TABLE, _CLAIM_COLUMNS, postgres=False, count_pending=True)
_CLAIM_ANY_PG = claim_heads(_TABLE, _CLAIM_COLUMNS, postgres=True, count_pending=True)


def _claim_skipping(postgres: bool) -> Any:
    """Like ``_CLAIM_ANY``, passing over the keys in ``:deferred`` (waiting on Slack)."""
    statement = claim_heads(
        _TABLE,
        _CLAIM_COLUMNS,
        postgres=postgres,
        count_pending=True,
        due="ordering_key NOT IN :deferred",
    )
    return statement.bindparams(bindparam("deferred", expanding=True))


_CLAIM_SKIPPING = _claim_skipping(False)
_CLAIM_SKIPPING_PG = _claim_skipping(True)
_CLAIM_KEY, _CLAIM_KEY_PG = _claim_key_statement()
_DELETE = delete(_TABLE).where(_C.id == bindparam("item_id"))

FAILED_REPLY = (
    ":warning: The runbook bot received this but could not act on it (an internal error, "
    "logged for the operators). Nothing was recorded — please try again."
)


def sender(channel: str, user: str, name: str | None, **extra: str | None) -> dict[str, str | None]:
    """An item's ``reply_to``: where to answer, and who sent it (with their
    handle when Slack gave one; the intake worker records it)."""
    to: dict[str, str | None] = {"channel": channel, "user": user, **extra}
    if name:
        to["name"] = name
    return to


def reply(session: AsyncSession, item: Item, text: str) -> None:
    """Tell the person who sent ``item`` something (ephemeral), via the outbox."""
    to = item.payload.get("reply_to") or {}
    if not to.get("channel") or not to.get("user"):
        return
    payload: dict[str, Any] = {"channel": to["channel"], "user": to["user"], "text": text}
    if to.get("thread_ts"):
        payload["thread_ts"] = to["thread_ts"]
    # Its own ordering key: a reply never waits behind a run's messages.
    enqueue(session, f"reply:{item.id}", "chat.postEphemeral", payload, priority=Priority.CLICK)


class IntakeWorker:
    """Acts on committed intake items: ``concurrency`` loops, one item per transaction."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        handlers: dict[str, Handler],
        *,
        postgres: bool,
        concurrency: int = 4,
        poll_seconds: float = 1.0,
        on_failed: AfterCommit | None = None,
        hand_off: HandOff | None = None,
    ) -> None:
        self._sessions = sessionmaker
        self._handlers = handlers
        self._postgres = postgres
        # SQLite has one writer at a time anyway.
        self._concurrency = concurrency if postgres else 1
        self._poll = poll_seconds
        self._on_failed = on_failed or (lambda: None)
        self._hand_off = hand_off
        self._idle: list[asyncio.Event] = []
        self._tasks: list[asyncio.Task[None]] = []
        self.processed = 0
        self._notified = 0  # notifications so far (a loop compares before and after a round)
        self._seen_names = SeenNames()
        self._deferred: dict[str, float] = {}  # ordering key → when (monotonic) to try again

    def notify(self) -> None:
        """Items were committed: act now rather than at the next poll.

        Wakes one idle loop; a loop that claims an item while more are pending
        notifies again, so the number of loops at work follows the backlog,
        and one new item costs one claim, not one per loop. Every loop that
        was busy when a notification came looks again when done: the woken
        loop may have found the new item's key held by a busy one (a run's
        items go one at a time), and then only that one can take it next.
        """
        self._notified += 1
        if self._idle:
            self._idle.pop().set()

    def start(self) -> None:
        if self._tasks:
            return
        for n in range(self._concurrency):
            self._tasks.append(asyncio.create_task(self._loop(), name=f"intake-{n}"))

    def retry_deferred(self) -> None:
        """What deferred items waited for may be known now: try them again."""
        if self._deferred:
            self._deferred.clear()
            self.notify()

    def _waiting(self) -> list[str]:
        now = time.monotonic()
        for key in [k for k, at in self._deferred.items() if at <= now]:
            del self._deferred[key]
        return list(self._deferred)

    async def stop(self) -> None:
        for task in self._tasks:
            await cancel_and_wait(task)
        self._tasks, self._idle = [], []

    async def _loop(self) -> None:
        wake = asyncio.Event()
        while True:
            seen = self._notified
            try:
                await self.process_one()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # database down: the item waits; try again soon
                log.warning("intake: round failed (%r); retrying", exc)
                await asyncio.sleep(self._poll)
            if self._notified != seen:
                continue  # something arrived (or more was pending) during the round
            wake.clear()
            self._idle.append(wake)
            try:
                await asyncio.wait_for(wake.wait(), timeout=self._poll)
            except TimeoutError:
                pass
            finally:
                if wake in self._idle:
                    self._idle.remove(wake)

    async def drain(self, ordering_key: str, limit: int = 100) -> None:
        """Act now on this key's pending items, waiting for any another process
        holds: a command that reads their effects (``/incident update`` right
        after ``/runbook start``) then sees them, as the sender expects."""
        for _ in range(limit):
            if not await self.process_one(ordering_key):
                return

    async def drain_channel(self, channel_id: str) -> None:
        """Act now on everything acknowledged in this channel — starts and
        clicks alike, whatever their run — oldest first: ``/incident update``
        typed right after a click lands after that click's decision in the
        timeline, as it happened."""
        async with self._sessions() as session:
            keys = (
                (
                    await session.execute(
                        select(_C.ordering_key)
                        .where(
                            _C.state == IntakeState.PENDING,
                            IntakeItem.payload["reply_to"]["channel"].as_string() == channel_id,
                        )
                        .group_by(_C.ordering_key)
                        .order_by(func.min(_C.id))
                    )
                )
                .scalars()
                .all()
            )
        for key in keys:
            await self.drain(key)

    def _claim(self, ordering_key: str | None) -> tuple[Any, dict[str, Any]]:
        # By key: wait for an item another process holds (drain must see it done).
        if ordering_key is None:
            if waiting := self._waiting():
                skipping = _CLAIM_SKIPPING_PG if self._postgres else _CLAIM_SKIPPING
                return skipping, {"limit": 1, "deferred": waiting}
            return (_CLAIM_ANY_PG if self._postgres else _CLAIM_ANY), {"limit": 1}
        return (_CLAIM_KEY_PG if self._postgres else _CLAIM_KEY), {"key": ordering_key}

    async def process_one(self, ordering_key: str | None = None) -> bool:
        """Act on the oldest item whose key is free (or the oldest of
        ``ordering_key``, waiting for it if another process holds it).
        True if there was one."""
        if ordering_key is not None and ordering_key in self._waiting():
            return False  # its head waits on Slack: nothing to do for it now
        item_id: int | None = None
        try:
            async with self._sessions() as session, session.begin():
                statement, params = self._claim(ordering_key)
                row = (await session.execute(statement, params)).first()
                if row is None:
                    return False
                item = Item(*row[:5])
                item_id = item.id
                if ordering_key is None and row.pending > 1:
                    # More is waiting: an idle loop may take another key now,
                    # and this one looks again when done (this key's next item).
                    self.notify()
                handler = self._handlers.get(item.kind)
                if handler is None:
                    raise LookupError(f"no handler for intake kind {item.kind!r}")
                after = await handler(session, item)
                person = await self._record_sender(session, item)
                await session.execute(_DELETE, {"item_id": item_id})
                if self._hand_off is not None:
                    await self._hand_off.prepare_hand_off(session)
            if self._hand_off is not None:
                self._hand_off.take_hand_off(session)
        except NotYet as wait:
            self._deferred[item.ordering_key] = time.monotonic() + wait.retry_in
            return True
        except Exception as exc:
            if item_id is None or is_transient(exc):
                raise
            log.exception("intake: item %d failed; kept as failed", item_id)
            await self._fail(item_id, exc)
            return True
        self.processed += 1
        if person is not None:
            self._seen_names.remember(*person)
        if after is not None:
            after()
        return True

    async def _record_sender(self, session: AsyncSession, item: Item) -> tuple[str, str] | None:
        """Upsert the sender's handle (``reply_to.name``) unless this process
        already recorded that exact pair; the pair, when written. Last in the
        transaction, so the ``people`` row is locked only until the commit
        and always after the run's and incident's locks (one order)."""
        to = item.payload.get("reply_to") or {}
        user, name = to.get("user"), clean_name(to.get("name"))
        if not user or name is None or not self._seen_names.is_new(user, name):
            return None
        await record_name(session, user, name, at=item.received_at, postgres=self._postgres)
        return user, name

    async def _fail(self, item_id: int, exc: Exception) -> None:
        """A bug, not an outage: keep the item for the operator, tell the sender."""
        async with self._sessions() as session, session.begin():
            row = await session.get(IntakeItem, item_id)
            if row is None:
                return
            row.state, row.last_error = IntakeState.FAILED, repr(exc)[:2000]
            reply(session, Item(row.id, row.kind, row.payload, row.received_at), FAILED_REPLY)
        self._on_failed()

    async def pending_count(self) -> int:
        async with self._sessions() as session:
            query = select(func.count(IntakeItem.id)).where(IntakeItem.state == IntakeState.PENDING)
            return int((await session.execute(query)).scalar() or 0)
