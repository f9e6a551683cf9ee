"""Delivering the Slack outbox.

The worker delivers pending rows oldest first, one at a time per ordering key
(a run or an incident) so Slack sees a run's messages in order; different keys
go in parallel. Rows are claimed with a lease (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL) that names its owner (``bot/slack/owner.py``), so several bot
processes deliver each row once, and a dead process's rows are taken over at
once. "Sent" is committed as soon as Slack answers, before the key's next
message; a message whose delivery is in doubt after a crash is looked up at
Slack before it is posted again (``bot/slack/lookup.py``). The Web API client
itself retries 429 (honouring Retry-After), 5xx and connection errors; what
still fails is retried later with backoff, and permanent errors are logged and
marked ``failed`` so they do not block the run's later messages.
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
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.slack import lookup
from bot.slack import outbox_rows as rows_
from bot.slack.outbox_rows import Claimed
from bot.slack.owner import LeaseOwner
from bot.slack.sent_marks import SentMarks
from bot.slack.webapi import PERMANENT_ERRORS, pooled_client
from bot.store.models import OutboxMessage, utcnow
from bot.store.writes import appended, inserted
from bot.tasks import cancel_and_wait

log = logging.getLogger(__name__)

# Longest a claim round waits for hand-offs in flight (seconds).
HAND_OFF_WAIT = 0.05


class OutboxWorker:
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
    ) -> None:
        self._sessions = sessionmaker
        self._base_client = client
        self._client = client
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
            self._client = self._base_client

    async def _loop(self) -> None:
        while True:
            if self._handed:
                # Woken by a commit whose messages were handed off: let those
                # deliveries finish (bounded) rather than claim now (they hold
                # their keys) and again afterwards.
                await asyncio.wait(list(self._handed), timeout=HAND_OFF_WAIT)
            self._wake.clear()
            try:
                busy = await self.deliver_due()
            except asyncio.CancelledError:
                raise
            except Exception:  # database down: log, back off, try again
                log.exception("outbox: delivery round failed; retrying")
                busy = False
                await asyncio.sleep(self._poll)
            if busy:
                continue
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self._poll)
            except TimeoutError:
                pass

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

    # --- hand-off: what this process just committed, delivered without a claim ---

    async def prepare_hand_off(self, session: AsyncSession) -> None:
        """Before the commit of a transaction that enqueued messages: lease them
        to this process, so that right after the commit they go to Slack
        directly (``take_hand_off``) instead of waiting for a claim.

        Only the messages of keys whose every pending row has already been
        delivered by this process (Slack answered, "sent" committing): anything
        else pending — in flight here or elsewhere, in backoff, committed by
        another process — goes first, so those keys take the claim path,
        which keeps each key's order. PostgreSQL only, and only where this
        process delivers.
        """
        if not self._postgres or self._task is None:
            return
        owner = self._owner.current()
        if owner is None:
            return
        rows = appended(session, rows_.OUTBOX)
        now_rows = inserted(session)  # e.g. a start's run message, inserted at once
        if not rows and not now_rows:
            return
        keys = {r["ordering_key"] for r in rows} | {r["ordering_key"] for _, r in now_rows}
        pending = (await session.execute(rows_.PENDING_OF_KEYS, {"keys": sorted(keys)})).all()
        present = {row_id for row_id, _ in pending}
        ours = {row_id for row_id, _ in now_rows}
        blocked = {
            key for row_id, key in pending if row_id not in self._sent_ids and row_id not in ours
        }
        # One rolled back with a savepoint: leave that key alone.
        blocked |= {r["ordering_key"] for row_id, r in now_rows if row_id not in present}
        if blocked >= keys:
            return
        until = utcnow() + self._lease
        handed_now = [(i, r) for i, r in now_rows if r["ordering_key"] not in blocked]
        if handed_now:
            ids = [i for i, _ in handed_now]
            await session.execute(rows_.LEASE, {"ids": ids, "until": until, "owner": owner})
            for _, r in handed_now:
                r["locked_until"] = until  # as written: take_hand_off picks leased rows
        for r in rows:  # every row gets the columns: one executemany
            mine = r["ordering_key"] not in blocked
            r["locked_until"] = until if mine else None
            r["lease_owner"] = owner if mine else None

    def take_hand_off(self, session: AsyncSession) -> None:
        """After that commit: deliver the leased messages, each key's in order."""
        handed = [(i, r) for i, r in inserted(session) if r.get("locked_until")]
        if not handed:
            return
        chains: dict[str, list[Claimed]] = defaultdict(list)
        for row_id, r in sorted(handed, key=lambda pair: pair[0]):
            chains[r["ordering_key"]].append(
                Claimed(
                    row_id,
                    r["ordering_key"],
                    r["method"],
                    r["payload"],
                    r["thread_from"],
                    r["on_delivered"],
                )
            )
        leased_at = time.monotonic()
        for rows in chains.values():
            task = asyncio.create_task(self._deliver_chain(rows, leased_at))
            self._handed.add(task)
            task.add_done_callback(self._handed_done)
            self.handed_off += len(rows)
            self._on_hand_off(len(rows))

    def _handed_done(self, task: asyncio.Task[None]) -> None:
        self._handed.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # As in a claimed round: once its lease ends it is claimed back (in doubt).
            log.error("outbox: handed-off delivery failed: %r", task.exception())
        self.notify()  # rows of its keys queued behind it go now

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
        key's next row may go. False: it will be retried later — the rest of
        its key must wait. None: another process owns it now."""
        # The claim read the row under its lease a moment ago; re-read it only
        # after a while (if our owner lock was lost, another may own it now).
        if time.monotonic() - leased_at > self._lease.total_seconds() / 2:
            if not await rows_.still_ours(self._sessions, row.id, self._owner.current()):
                return None
        payload = dict(row.payload)
        if row.thread_from is not None:
            ts = self._delivered_ts.get(row.thread_from)
            if ts is None:
                found = await rows_.parent(self._sessions, row.thread_from)
                ts = found[1] if found is not None else None
                if ts is None and found is not None and found[0] == "pending":
                    # Parent not delivered yet (other key or retry): try again soon.
                    await self._retry_later(row.id, "waiting for parent message", 0.2)
                    return False
            if ts is not None:
                payload["ts" if row.method == "chat.update" else "thread_ts"] = ts
            elif row.method == "chat.update":
                await self._give_up(row.id, "parent message was never delivered")
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
        try:
            response = await self._client.api_call(row.method, json=payload)
            self._on_call(row.method, True)
        except SlackApiError as exc:
            self._on_call(row.method, False)
            # A 5xx from Slack's edge has a plain-text body, not JSON.
            data = exc.response.data if exc.response is not None else None
            error = str(data.get("error", "")) if isinstance(data, dict) else ""
            if error in PERMANENT_ERRORS:
                await self._give_up(row.id, f"{row.method}: {error}")
                return True
            await self._retry_later(row.id, f"{row.method}: {error or exc}")
            return False
        except Exception as exc:  # connection refused, timeout, 5xx after retries
            self._on_call(row.method, False)
            # A timeout may come after Slack posted it: look before posting again.
            await self._retry_later(row.id, f"{row.method}: {exc!r}", doubt=True)
            return False
        raw_ts = response.get("ts") or response.get("message_ts")
        channel = response.get("channel")
        await self._delivered(row, str(raw_ts) if raw_ts else None, channel)
        return True

    async def _delivered(self, row: Claimed, ts: str | None, channel: Any = None) -> None:
        await self._mark_sent(row, ts, str(channel) if channel else None)
        if ts:
            self._remember_ts(row.id, ts)
        self.delivered += 1

    async def _look_up(self, row: Claimed, payload: dict[str, Any]) -> tuple[bool, str | None]:
        """A message in doubt: (True, its ts) if Slack has it, (True, None) if
        not, (False, None) if Slack would not say — then the lookup is retried
        later, never posted blind."""
        verdict = await lookup.check_in_doubt(self._client, payload, row.id, row.created_at)
        self._on_lookup(verdict.result)
        if verdict.result == "failed":
            await self._retry_later(row.id, f"lookup: {verdict.error}")
            return False, None
        return True, verdict.ts

    async def _retry_later(
        self, row_id: int, error: str, delay: float | None = None, *, doubt: bool = False
    ) -> None:
        await rows_.settle(self._sessions, row_id, rows_.reschedule, error, delay, doubt)

    async def _give_up(self, row_id: int, error: str) -> None:
        await rows_.settle(self._sessions, row_id, rows_.fail, error)

    async def pending_count(self) -> int:
        async with self._sessions() as session:
            query = select(func.count(OutboxMessage.id)).where(OutboxMessage.state == "pending")
            return int((await session.execute(query)).scalar() or 0)
