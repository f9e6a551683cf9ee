"""Delivering the Slack outbox.

The worker delivers pending rows oldest first, one at a time per ordering key
(a run or an incident) so Slack sees a run's messages in order; different keys
go in parallel. Rows are claimed with a lease (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL) that names its owner (``bot/slack/owner.py``), so several bot
processes deliver each row once, and a dead process's rows are taken over at
once. "Sent" is committed as soon as Slack answers, before the key's next
message; a message whose delivery is in doubt after a crash is looked up at
Slack before it is posted again (``bot/slack/lookup.py``).

Slack's pace: every call first takes its slot from the shared budget of its
bucket (a channel's posts, a method's tier: ``bot/slack/budget.py``); no slot
yet means the row waits in the database until one is free, never a blind
sleep. What goes first (``Priority``) is claimed first and may use the
budget's burst. Slack's answer is classified (``bot/slack/errors.py``): a 429
holds the whole bucket for ``Retry-After``; 5xx and ``fatal_error`` are
retried, a post looked up first (the client itself never re-POSTs); a revoked
token holds everything (``bot/slack/health.py``); a channel the bot cannot
reach fails at once; a message Slack will not take is replaced by a short one
with its buttons. Only a message that will go again holds up its key.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict, defaultdict
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import aiohttp
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.slack import lookup
from bot.slack import outbox_rows as rows_
from bot.slack.budget import Budgets, LocalBudgets, SharedBudgets
from bot.slack.errors import classify
from bot.slack.handoff import HandOff
from bot.slack.health import SlackHealth
from bot.slack.outbox_rows import Claimed
from bot.slack.owner import LeaseOwner
from bot.slack.pace import Priority, bucket_of, rate_of
from bot.slack.refusals import Refusals
from bot.slack.sent_marks import SentMarks
from bot.slack.webapi import pooled_client
from bot.store.models import OutboxMessage, utcnow
from bot.store.states import OutboxState
from bot.tasks import cancel_and_wait

log = logging.getLogger(__name__)

# Longest a claim round waits for hand-offs in flight (seconds).
HAND_OFF_WAIT = 0.05

# Longest a leased row waits here for its slot; longer, and it waits in the
# database (unleased) instead. What goes first may wait longer: the slot comes.
MAX_SLOT_WAIT = {Priority.CLICK: 3.0, Priority.ESCALATION: 1.0}
DEFAULT_SLOT_WAIT = 0.25


class OutboxWorker(Refusals, HandOff):
    # Delivered rows' ts, so a chain's later rows need not read their parent back.
    _TS_CACHE = 10_000

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        client: AsyncWebClient,
        *,
        postgres: bool,
        lease_seconds: float = 15.0,
        poll_seconds: float = 1.0,
        on_call: Callable[[str, bool], None] | None = None,
        on_hand_off: Callable[[int], None] | None = None,
        on_lookup: Callable[[str], None] | None = None,
        owner: LeaseOwner | None = None,
        marks: SentMarks | None = None,
        budgets: Budgets | None = None,
        health: SlackHealth | None = None,
        on_wait: Callable[[str, str], None] | None = None,
    ) -> None:
        self._sessions = sessionmaker
        self._base_client = client
        # Never re-POSTs behind our back: a post whose outcome is unknown is
        # looked up first, and a 429 holds the whole bucket (not one request).
        self._client = pooled_client(client, None)
        self._postgres = postgres
        self._lease = timedelta(seconds=lease_seconds)
        self._poll = poll_seconds
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._on_call = on_call or (lambda method, ok: None)
        self._on_hand_off = on_hand_off or (lambda count: None)
        self._on_lookup = on_lookup or (lambda result: None)
        # SQLite (one process) when not given; bot/app.py passes the PostgreSQL one.
        self._owner = owner or LeaseOwner(None)
        self._marks = marks or SentMarks(sessionmaker, None)
        # Rows being delivered here now: never claimed back, even past their lease.
        self._busy: set[int] = set()
        self.delivered = 0
        self._http: aiohttp.ClientSession | None = None
        self._delivered_ts: OrderedDict[int, str] = OrderedDict()
        # Ids answered by Slack whose "sent" is being committed.
        self._sent_ids: set[int] = set()
        self._handed: set[asyncio.Task[None]] = set()
        self.handed_off = 0
        self._budgets: Budgets = budgets or (
            SharedBudgets(sessionmaker) if postgres else LocalBudgets()
        )
        self._health = health or SlackHealth(sessionmaker)
        # (bucket kind, why): "post"/"method", "paced"/"rate_limited"
        self._on_wait = on_wait or (lambda kind, why: None)
        self._next_due: float | None = None  # monotonic: the soonest deferred row
        self._told_scopes: set[str] = set()
        # Rows of each bucket sent to wait in the database this round.
        self._queued: dict[str, tuple[int, float]] = {}

    @property
    def health(self) -> SlackHealth:
        return self._health

    def notify(self) -> None:
        """Something was committed: deliver now rather than at the next poll."""
        self._wake.set()

    def start(self) -> None:
        if self._task is None:
            if self._base_client.session is None and self._http is None:
                self._http = aiohttp.ClientSession()
                self._client = pooled_client(self._base_client, self._http)
            self._task = asyncio.create_task(self._loop(), name="slack-outbox")
            self._marks.start()

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None
        if self._handed:
            # Let deliveries in flight finish (a cut one would go again later).
            _, late = await asyncio.wait(list(self._handed), timeout=5)
            for task in late:
                await cancel_and_wait(task)
        await self._marks.close()
        await self._owner.close()  # the lock goes: another worker may take over now
        if self._http is not None:
            await self._http.close()
            self._http = None
            # Started again later: a new session, not this closed one (with a
            # closed session the SDK opens a connection per call).
            self._client = pooled_client(self._base_client, None)

    async def _loop(self) -> None:
        while True:
            if self._handed:
                # Woken by a commit whose messages were handed off: let those
                # deliveries finish (bounded) rather than claim now (they hold
                # their keys) and again afterwards.
                await asyncio.wait(list(self._handed), timeout=HAND_OFF_WAIT)
            self._wake.clear()
            try:
                busy = await self._round()
            except asyncio.CancelledError:
                raise
            except Exception:  # database down: log, back off, try again
                log.exception("outbox: delivery round failed; retrying")
                busy = False
                await asyncio.sleep(self._poll)
            if busy:
                continue
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self._idle_wait())
            except TimeoutError:
                pass

    async def _round(self) -> bool:
        """One round, unless Slack is unusable: then only its probe (whose
        turn it is across processes), and nothing is claimed."""
        await self._health.refresh()
        if self._health.unusable and not await self._health.probe(self._client):
            return False
        return await self.deliver_due()

    def _idle_wait(self) -> float:
        """Until the next poll, or sooner when a deferred row is due sooner."""
        if self._next_due is None:
            return self._poll
        wait = self._next_due - time.monotonic()
        if wait <= 0:
            self._next_due = None
            return 0.0
        return min(self._poll, wait)

    async def deliver_due(self, limit: int = 100) -> bool:
        """One round: claim what is due, deliver it. True if anything was claimed."""
        claimed = await self._claim(limit)
        if not claimed:
            return False
        leased_at = time.monotonic()
        by_key: dict[str, list[Claimed]] = defaultdict(list)
        for row in claimed:
            by_key[row.ordering_key].append(row)
        await asyncio.gather(*(self._deliver_chain(rows, leased_at) for rows in by_key.values()))
        return True

    async def _claim(self, limit: int) -> list[Claimed]:
        owner = await self._owner.ensure()
        if owner is None:
            return []
        now = utcnow()
        async with self._sessions() as session, session.begin():
            rows = await rows_.claim(
                session,
                now=now,
                until=now + self._lease,
                limit=limit,
                postgres=self._postgres,
                owner=owner,
                busy=sorted(self._busy),
            )
        return rows

    async def _deliver_chain(self, rows: list[Claimed], leased_at: float) -> None:
        """One key's leased rows, in order. (A claim leases one row per key; a
        hand-off leases all the rows its transaction added.)"""
        ids = {row.id for row in rows}
        self._busy |= ids
        try:
            for i, row in enumerate(rows):
                try:
                    done = await self._deliver_one(row, leased_at)
                except BaseException:
                    await rows_.release(self._sessions, rows[i + 1 :])
                    raise
                if done is None:
                    return  # another process owns it now (our lock was lost)
                if not done:
                    # This one goes again later: the rest wait behind it, claimed
                    # in order once it is through (not at their lease's end).
                    await rows_.release(self._sessions, rows[i + 1 :])
                    return
        finally:
            self._busy -= ids

    def _remember_ts(self, row_id: int, ts: str) -> None:
        self._delivered_ts[row_id] = ts
        if len(self._delivered_ts) > self._TS_CACHE:
            self._delivered_ts.popitem(last=False)

    async def _mark_sent(self, row: Claimed, ts: str | None, channel: str | None) -> None:
        """Commit "sent" now, before the key's next message goes: a crash
        leaves at most this one in doubt (and it is looked up, not re-posted).
        If the database will not take it, the key stops here."""
        self._sent_ids.add(row.id)
        try:
            alert_id = rows_.alert_target(row.on_delivered)
            if alert_id is not None and ts:
                await self._marks.mark(row.id, ts, (alert_id, channel))
            elif row.on_delivered and ts:
                await rows_.mark_delivered_with_ts(self._sessions, row.id, row.on_delivered, ts)
            else:
                await self._marks.mark(row.id, ts)
        except Exception as exc:
            # Still leased here, unsettled: once its lease ends it is claimed
            # back in doubt and looked up (found: recorded then).
            log.warning("outbox: could not record message %d as sent (%r)", row.id, exc)
            raise
        finally:
            self._sent_ids.discard(row.id)

    async def _deliver_one(self, row: Claimed, leased_at: float) -> bool | None:
        """Deliver one leased row. True: done (sent, or failed for good) — its
        key's next row may go. False: it goes again later — the rest of its
        key must wait. None: another process owns it now."""
        # The claim read the row under its lease a moment ago; re-read it only
        # after a while (if our owner lock was lost, another may own it now).
        if time.monotonic() - leased_at > self._lease.total_seconds() / 2:
            if not await rows_.still_ours(self._sessions, row.id, self._owner.current()):
                return None
        if (
            row.collapse_key
            and row.method == "chat.update"
            and await rows_.supersede_if_newer(self._sessions, row)
        ):
            return True  # a newer version of this message is queued: it goes instead
        payload = await self._payload(row)
        if isinstance(payload, bool):
            return payload
        channel = str(payload.get("channel") or "")
        if channel in self._health.gone:
            await self._give_up(row.id, f"{row.method}: {self._health.gone[channel]} (held)")
            return True
        if row.method == "chat.postMessage":
            payload = lookup.with_metadata(payload, row.id)  # what a lookup finds it by
            if row.in_doubt:
                answered, found_ts = await self._look_up(row, payload)
                if not answered:
                    return False
                if found_ts:
                    await self._delivered(row, found_ts, payload.get("channel"))
                    return True
        bucket = bucket_of(row.method, channel)
        if not await self._slot(row, bucket):
            return False
        try:
            response = await self._client.api_call(row.method, json=payload)
        except Exception as exc:
            self._on_call(row.method, False)
            return await self._failed(row, payload, bucket, classify(exc))
        self._on_call(row.method, True)
        await self._health.channel_ok(channel)  # only a recorded problem costs a statement
        raw_ts = response.get("ts") or response.get("message_ts")
        await self._delivered(row, str(raw_ts) if raw_ts else None, response.get("channel"))
        return True

    async def _payload(self, row: Claimed) -> dict[str, Any] | bool:
        """The call's arguments, with the ts of the message it threads under
        or updates — or True/False as ``_deliver_one`` answers when it cannot go."""
        payload = dict(row.payload)
        if row.thread_from is None:
            return payload
        ts = self._delivered_ts.get(row.thread_from)
        if ts is None:
            found = await rows_.parent(self._sessions, row.thread_from)
            ts = found[1] if found is not None else None
            if ts is None and found is not None and found[0] == "pending":
                # Parent not delivered yet (other key, or waiting for Slack): soon.
                await self._defer(row, 0.2)
                return False
        if ts is not None:
            payload["ts" if row.method == "chat.update" else "thread_ts"] = ts
        elif row.method == "chat.update":
            await self._give_up(row.id, "parent message was never delivered")
            return True
        return payload

    async def _slot(self, row: Claimed, bucket: str) -> bool:
        """Take this call's slot in its bucket's shared budget, waiting here a
        little for it; else the row waits in the database until its slot."""
        priority = Priority(row.priority)
        longest = MAX_SLOT_WAIT.get(priority, DEFAULT_SLOT_WAIT)
        waited = 0.0
        while True:
            wait = await self._budgets.take(bucket, priority)
            if wait <= 0:
                return True
            if waited + wait > longest:
                break
            await asyncio.sleep(wait)  # the slot's known time, not a blind sleep
            waited += wait
        self._on_wait(bucket.split(":", 1)[0], "paced")
        # Rows refused together come due one slot apart, not all at once.
        # (Refusals more than a second apart start again: a stagger, not a history.)
        count, since = self._queued.get(bucket, (0, 0.0))
        now = time.monotonic()
        queued = count + 1 if now - since < 1.0 else 1
        self._queued[bucket] = (queued, since if queued > 1 else now)
        await self._defer(row, wait + (queued - 1) * rate_of(bucket).interval)
        return False

    async def _defer(self, row: Claimed, seconds: float) -> None:
        await rows_.defer(self._sessions, row.id, utcnow() + timedelta(seconds=seconds))
        due = time.monotonic() + seconds
        if self._next_due is None or due < self._next_due:
            self._next_due = due
            self._wake.set()  # the loop may be asleep for longer: plan its wake again

    async def _delivered(self, row: Claimed, ts: str | None, channel: Any = None) -> None:
        await self._mark_sent(row, ts, str(channel) if channel else None)
        if ts:
            self._remember_ts(row.id, ts)
        self.delivered += 1

    async def _retry_later(
        self, row_id: int, error: str, delay: float | None = None, *, doubt: bool = False
    ) -> None:
        await rows_.settle(self._sessions, row_id, rows_.reschedule, error, delay, doubt)

    async def _give_up(self, row_id: int, error: str) -> None:
        await rows_.settle(self._sessions, row_id, rows_.fail, error)

    async def pending_count(self) -> int:
        async with self._sessions() as session:
            query = select(func.count(OutboxMessage.id)).where(
                OutboxMessage.state == OutboxState.PENDING
            )
            return int((await session.execute(query)).scalar() or 0)
