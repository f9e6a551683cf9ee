"""Delivering the Slack outbox.

The worker delivers pending rows oldest first, one at a time per ordering key
(a run or an incident) so Slack sees a run's messages in order; different keys
go in parallel. Rows are claimed with a lease (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL), so several bot processes deliver each row once. The Web API client
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

from bot.slack import outbox_rows as rows_
from bot.slack.outbox_rows import Claimed
from bot.store.models import OutboxMessage, utcnow
from bot.store.writes import appended, inserted
from bot.tasks import cancel_and_wait

log = logging.getLogger(__name__)

# Errors that retrying cannot fix: the payload or the target is wrong.
PERMANENT_ERRORS = {
    "channel_not_found",
    "not_in_channel",
    "is_archived",
    "invalid_blocks",
    "invalid_blocks_format",
    "msg_too_long",
    "no_text",
    "message_not_found",
    "cant_update_message",
    "edit_window_closed",
    "invalid_auth",
    "account_inactive",
    "user_not_in_channel",
    "invalid_arguments",
}


# Longest a claim round waits for hand-offs in flight (seconds).
HAND_OFF_WAIT = 0.05


def _pooled_client(client: AsyncWebClient, session: aiohttp.ClientSession) -> AsyncWebClient:
    """The same client configuration over one keep-alive HTTP session.

    Without a session the SDK opens (and closes) a new connection per call,
    which was the largest single cost of delivering a message.
    """
    return AsyncWebClient(
        token=client.token,
        base_url=client.base_url,
        timeout=client.timeout,
        ssl=client.ssl,
        proxy=client.proxy,
        session=session,
        headers=dict(client.headers),
        retry_handlers=list(client.retry_handlers),
        logger=client._logger,
    )


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
        self.delivered = 0
        self._http: aiohttp.ClientSession | None = None
        self._delivered_ts: OrderedDict[int, str] = OrderedDict()
        self._sent: list[dict[str, Any]] = []
        # Ids in _sent until their "sent" commits: delivered, only unrecorded.
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
                self._client = _pooled_client(self._base_client, self._http)
            self._task = asyncio.create_task(self._loop(), name="slack-outbox")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None
        if self._handed:
            # Let deliveries in flight finish (a cut one would go again later).
            _, late = await asyncio.wait(list(self._handed), timeout=5)
            for task in late:
                await cancel_and_wait(task)
        try:
            await self._flush_sent()  # deliveries made: record them, or they go again
        except Exception as exc:
            log.warning("outbox: could not record %d deliveries at stop: %r", len(self._sent), exc)
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
                # deliveries finish (bounded), so that one claim records them
                # all instead of an empty claim now and another afterwards.
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
        now = utcnow()
        batch: list[dict[str, Any]] = []
        try:
            async with self._sessions() as session, session.begin():
                batch = await self._record_sent(session)
                rows = await rows_.claim(
                    session, now=now, until=now + self._lease, limit=limit, postgres=self._postgres
                )
        except BaseException:
            self._sent[:0] = batch  # not recorded: the next transaction retries them
            raise
        self._recorded(batch)
        return rows

    # --- hand-off: what this process just committed, delivered without a claim ---

    async def prepare_hand_off(self, session: AsyncSession) -> None:
        """Before the commit of a transaction that enqueued messages: lease them
        to this process, so that right after the commit they go to Slack
        directly (``take_hand_off``) instead of waiting for a claim.

        Only the messages of keys whose every pending row has already been
        delivered by this process (its "sent" not yet recorded): anything
        else pending — in flight here or elsewhere, in backoff, committed by
        another process — goes first, so those keys take the claim path,
        which keeps each key's order. PostgreSQL only, and only where this
        process delivers.
        """
        if not self._postgres or self._task is None:
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
            await session.execute(rows_.LEASE, {"ids": [i for i, _ in handed_now], "until": until})
            for _, r in handed_now:
                r["locked_until"] = until  # as written: take_hand_off picks leased rows
        for r in rows:  # every row gets the column: one executemany
            r["locked_until"] = None if r["ordering_key"] in blocked else until

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
            # As in a claimed round: the lease runs out and the row goes again.
            log.error("outbox: handed-off delivery failed: %r", task.exception())
        self.notify()  # the loop records "sent" with its next claim

    async def _deliver_chain(self, rows: list[Claimed], leased_at: float) -> None:
        """One key's leased rows, in order. (A claim leases one row per key; a
        hand-off leases all the rows its transaction added.)"""
        for i, row in enumerate(rows):
            try:
                done = await self._deliver_one(row, leased_at)
            except BaseException:
                await rows_.release(self._sessions, rows[i + 1 :])
                raise
            if done is None:
                return  # our lease ran out and another process took over
            if not done:
                # This one goes again later: the rest wait behind it, claimed
                # in order once it is through (not at their lease's end).
                await rows_.release(self._sessions, rows[i + 1 :])
                return

    def _remember_ts(self, row_id: int, ts: str) -> None:
        self._delivered_ts[row_id] = ts
        if len(self._delivered_ts) > self._TS_CACHE:
            self._delivered_ts.popitem(last=False)

    def _mark_sent(self, row_id: int, ts: str | None) -> None:
        """Note a delivery; the next claim's transaction records it.

        The loop claims again as soon as a round is delivered, so "sent"
        commits a few milliseconds after Slack answered, together with every
        other delivery of the round and the next claim — one transaction
        instead of one per message. (A crash in between means the message is
        sent again: the outbox is at-least-once, see docs/operations.md.)
        """
        self._sent.append({"b_id": row_id, "b_ts": ts, "b_at": utcnow()})
        self._sent_ids.add(row_id)

    def _recorded(self, batch: list[dict[str, Any]]) -> None:
        self._sent_ids.difference_update(m["b_id"] for m in batch)

    async def _record_sent(self, session: AsyncSession) -> list[dict[str, Any]]:
        """Write the noted deliveries in ``session``'s transaction (before any
        claim: a key's next message becomes its head once this one is sent)."""
        batch, self._sent = self._sent, []
        if batch:
            alerts = [m for m in batch if "a_id" in m]
            if alerts:  # an alert message's ts and channel ID ride along
                sent = [{k: m[k] for k in ("b_id", "b_ts", "b_at")} for m in batch]
                await session.execute(rows_.MARK_SENT, sent)
                await session.execute(
                    rows_.MARK_ALERT,
                    [{k: m[k] for k in ("a_id", "a_ts", "a_channel")} for m in alerts],
                )
            else:
                await session.execute(rows_.MARK_SENT, batch)
        return batch

    async def _flush_sent(self) -> None:
        if self._sent:
            async with self._sessions() as session, session.begin():
                batch = await self._record_sent(session)
            self._recorded(batch)

    async def _deliver_one(self, row: Claimed, leased_at: float) -> bool | None:
        """Deliver one leased row. True: done (sent, or failed for good) — its
        key's next row may go. False: it will be retried later — the rest of
        its key must wait. None: another process owns it now."""
        # The claim read the row under its lease a moment ago; re-read it only
        # if the lease may have run out (another process may own it now).
        if time.monotonic() - leased_at > self._lease.total_seconds() / 2:
            if not await rows_.still_pending(self._sessions, row.id):
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
            await self._retry_later(row.id, f"{row.method}: {exc!r}")
            return False
        raw_ts = response.get("ts") or response.get("message_ts")
        ts = str(raw_ts) if raw_ts else None
        alert_id = rows_.alert_target(row.on_delivered)
        if alert_id is not None and ts:
            channel = response.get("channel")
            self._mark_sent(row.id, ts)
            self._sent[-1].update(
                {"a_id": alert_id, "a_ts": ts, "a_channel": str(channel) if channel else None}
            )
        elif row.on_delivered and ts:
            await rows_.mark_delivered_with_ts(self._sessions, row.id, row.on_delivered, ts)
        else:
            self._mark_sent(row.id, ts)
        if ts:
            self._remember_ts(row.id, ts)
        self.delivered += 1
        return True

    async def _retry_later(self, row_id: int, error: str, delay: float | None = None) -> None:
        await rows_.settle(self._sessions, row_id, rows_.reschedule, error, delay)

    async def _give_up(self, row_id: int, error: str) -> None:
        await rows_.settle(self._sessions, row_id, rows_.fail, error)

    async def pending_count(self) -> int:
        async with self._sessions() as session:
            query = select(func.count(OutboxMessage.id)).where(OutboxMessage.state == "pending")
            return int((await session.execute(query)).scalar() or 0)
