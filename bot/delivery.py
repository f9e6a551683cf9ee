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
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import bindparam, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.models import Incident, OutboxMessage, Run, utcnow
from bot.outbox import claim_heads
from bot.tasks import cancel_and_wait
from bot.writes import WRITTEN, appended, mark_returning

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


@dataclass(frozen=True, slots=True)
class _Claimed:
    """A leased row, read by the claim itself (no second SELECT per row)."""

    id: int
    ordering_key: str
    method: str
    payload: dict[str, Any]
    thread_from: int | None
    on_delivered: str | None


def _claim_statements() -> tuple[Any, Any]:
    """What is due, oldest first — built once (bound parameters ``now``, ``limit``;
    on PostgreSQL also ``until``, the lease, taken by the same statement)."""
    table = OutboxMessage.__table__
    c = table.c
    columns = (c.id, c.ordering_key, c.method, c.payload, c.thread_from, c.on_delivered)
    # A head in backoff or leased to a worker blocks its key (order across processes).
    due = "next_attempt_at <= :now AND (locked_until IS NULL OR locked_until < :now)"
    due_columns = ("next_attempt_at", "locked_until")
    sqlite_claim = claim_heads(table, columns, postgres=False, due=due, due_columns=due_columns)
    # PostgreSQL: lock, lease and read in one statement (one round trip, not two).
    heads = claim_heads(table, (c.id,), postgres=True, due=due, due_columns=due_columns)
    pg_claim = text(
        f"UPDATE {table.name} SET locked_until = :until WHERE id IN ({heads.element.text}) "
        f"RETURNING {', '.join(col.name for col in columns)}"
    ).columns(*columns)
    pg_claim = pg_claim.bindparams(
        bindparam("now", type_=c.created_at.type), bindparam("until", type_=c.created_at.type)
    )
    return sqlite_claim, pg_claim


_CLAIM, _CLAIM_PG = _claim_statements()
_OUTBOX = OutboxMessage.__table__
# Longest a claim round waits for hand-offs in flight (seconds).
HAND_OFF_WAIT = 0.05
_PENDING_OF_KEYS = text(
    "SELECT id, ordering_key FROM slack_outbox WHERE state = 'pending' "
    "AND ordering_key = ANY(:keys)"
)


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
        by_key: dict[str, list[_Claimed]] = defaultdict(list)
        for row in claimed:
            by_key[row.ordering_key].append(row)
        await asyncio.gather(*(self._deliver_chain(rows, leased_at) for rows in by_key.values()))
        return True

    async def _claim(self, limit: int) -> list[_Claimed]:
        now = utcnow()
        until = now + self._lease
        batch: list[dict[str, Any]] = []
        try:
            async with self._sessions() as session, session.begin():
                batch = await self._record_sent(session)
                if self._postgres:
                    result = await session.execute(
                        _CLAIM_PG, {"now": now, "until": until, "limit": limit}
                    )
                    # RETURNING has no order: oldest first, as claimed.
                    rows = sorted((_Claimed(*r) for r in result.all()), key=lambda r: r.id)
                else:
                    result = await session.execute(_CLAIM, {"now": now, "limit": limit})
                    rows = [_Claimed(*r) for r in result.all()]
                    if rows:
                        await session.execute(
                            update(OutboxMessage)
                            .where(OutboxMessage.id.in_([r.id for r in rows]))
                            .values(locked_until=until)
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
        rows = appended(session, _OUTBOX)
        if not rows:
            return
        keys = sorted({r["ordering_key"] for r in rows})
        pending = (await session.execute(_PENDING_OF_KEYS, {"keys": keys})).all()
        blocked = {key for row_id, key in pending if row_id not in self._sent_ids}
        if len(blocked) == len(keys):
            return
        until = utcnow() + self._lease
        for r in rows:  # every row gets the column: one executemany
            r["locked_until"] = None if r["ordering_key"] in blocked else until
        mark_returning(session)

    def take_hand_off(self, session: AsyncSession) -> None:
        """After that commit: deliver the leased messages, each key's in order."""
        written = session.info.pop(WRITTEN, None)
        if not written:
            return
        chains: dict[str, list[_Claimed]] = defaultdict(list)
        for row_id, r in written:
            if r.get("locked_until") is not None:
                chains[r["ordering_key"]].append(
                    _Claimed(
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

    def _handed_done(self, task: asyncio.Task[None]) -> None:
        self._handed.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # As in a claimed round: the lease runs out and the row goes again.
            log.error("outbox: handed-off delivery failed: %r", task.exception())
        self.notify()  # the loop records "sent" with its next claim

    async def _deliver_chain(self, rows: list[_Claimed], leased_at: float) -> None:
        """One key's leased rows, in order. (A claim leases one row per key; a
        hand-off leases all the rows its transaction added.)"""
        for i, row in enumerate(rows):
            try:
                done = await self._deliver_one(row, leased_at)
            except BaseException:
                await self._release(rows[i + 1 :])
                raise
            if done is None:
                return  # our lease ran out and another process took over
            if not done:
                # This one goes again later: the rest wait behind it, claimed
                # in order once it is through (not at their lease's end).
                await self._release(rows[i + 1 :])
                return

    async def _release(self, rows: list[_Claimed]) -> None:
        if not rows:
            return
        try:
            async with self._sessions() as session, session.begin():
                await session.execute(
                    update(OutboxMessage)
                    .where(
                        OutboxMessage.id.in_([r.id for r in rows]),
                        OutboxMessage.state == "pending",
                    )
                    .values(locked_until=None)
                )
        except Exception as exc:  # their leases run out by themselves
            log.warning("outbox: could not release %d leased rows: %r", len(rows), exc)

    def _remember_ts(self, row_id: int, ts: str) -> None:
        self._delivered_ts[row_id] = ts
        if len(self._delivered_ts) > self._TS_CACHE:
            self._delivered_ts.popitem(last=False)

    # One statement, run with many parameter sets (asyncpg pipelines them).
    _MARK_SENT = (
        update(OutboxMessage.__table__)
        .where(OutboxMessage.__table__.c.id == bindparam("b_id"))
        .values(
            state="sent", sent_at=bindparam("b_at"), result_ts=bindparam("b_ts"), locked_until=None
        )
    )

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
            await session.execute(self._MARK_SENT, batch)
        return batch

    async def _flush_sent(self) -> None:
        if self._sent:
            async with self._sessions() as session, session.begin():
                batch = await self._record_sent(session)
            self._recorded(batch)

    async def _still_pending(self, row_id: int) -> bool:
        async with self._sessions() as session:
            state = (
                await session.execute(select(OutboxMessage.state).where(OutboxMessage.id == row_id))
            ).scalar()
        return state == "pending"

    async def _deliver_one(self, row: _Claimed, leased_at: float) -> bool | None:
        """Deliver one leased row. True: done (sent, or failed for good) — its
        key's next row may go. False: it will be retried later — the rest of
        its key must wait. None: another process owns it now."""
        # The claim read the row under its lease a moment ago; re-read it only
        # if the lease may have run out (another process may own it now).
        if time.monotonic() - leased_at > self._lease.total_seconds() / 2:
            if not await self._still_pending(row.id):
                return None
        payload = dict(row.payload)
        if row.thread_from is not None:
            ts = self._delivered_ts.get(row.thread_from)
            if ts is None:
                async with self._sessions() as session:
                    parent = (
                        await session.execute(
                            select(OutboxMessage.state, OutboxMessage.result_ts).where(
                                OutboxMessage.id == row.thread_from
                            )
                        )
                    ).first()
                ts = parent.result_ts if parent is not None else None
                if ts is None and parent is not None and parent.state == "pending":
                    # Parent not delivered yet (other key or retry): try again soon.
                    await self._settle(row.id, self._reschedule, "waiting for parent message", 0.2)
                    return False
            if ts is not None:
                payload["ts" if row.method == "chat.update" else "thread_ts"] = ts
            elif row.method == "chat.update":
                await self._settle(row.id, self._fail, "parent message was never delivered")
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
                await self._settle(row.id, self._fail, f"{row.method}: {error}")
                return True
            await self._settle(row.id, self._reschedule, f"{row.method}: {error or exc}")
            return False
        except Exception as exc:  # connection refused, timeout, 5xx after retries
            self._on_call(row.method, False)
            await self._settle(row.id, self._reschedule, f"{row.method}: {exc!r}")
            return False
        raw_ts = response.get("ts") or response.get("message_ts")
        ts = str(raw_ts) if raw_ts else None
        if row.on_delivered and ts:
            # The run message's ts and its sent mark commit together.
            async with self._sessions() as session, session.begin():
                await session.execute(
                    self._MARK_SENT, [{"b_id": row.id, "b_ts": ts, "b_at": utcnow()}]
                )
                await self._record_ts(session, row.on_delivered, ts)
        else:
            self._mark_sent(row.id, ts)
        if ts:
            self._remember_ts(row.id, ts)
        self.delivered += 1
        return True

    async def _settle(self, row_id: int, outcome: Callable[..., Any], *args: Any) -> None:
        """Record a failed attempt (rare path: the ORM row is loaded for it)."""
        async with self._sessions() as session:
            row = await session.get(OutboxMessage, row_id)
            if row is None or row.state != "pending":
                return
            await outcome(session, row, *args)

    async def _record_ts(self, session: AsyncSession, target: str, ts: str) -> None:
        kind, _, raw_id = target.partition(":")
        if kind == "run":
            run_id = int(raw_id)
            await session.execute(update(Run).where(Run.id == run_id).values(message_ts=ts))
            incident_id = select(Run.incident_id).where(Run.id == run_id).scalar_subquery()
            await session.execute(
                update(Incident)
                .where(Incident.id == incident_id, Incident.thread_ts.is_(None))
                .values(thread_ts=ts)
            )
        elif kind == "incident":
            await session.execute(
                update(Incident)
                .where(Incident.id == int(raw_id), Incident.thread_ts.is_(None))
                .values(thread_ts=ts)
            )

    async def _reschedule(
        self, session: AsyncSession, row: OutboxMessage, error: str, delay: float | None = None
    ) -> None:
        row.attempts += 1
        row.last_error = error[:2000]
        backoff = delay if delay is not None else min(60.0, 0.5 * 2 ** min(row.attempts, 7))
        row.next_attempt_at = utcnow() + timedelta(seconds=backoff)
        row.locked_until = None
        await session.commit()
        if delay is None:
            log.warning(
                "outbox: %s failed (attempt %d), retry in %.1fs", error, row.attempts, backoff
            )

    async def _fail(self, session: AsyncSession, row: OutboxMessage, error: str) -> None:
        row.state = "failed"
        row.attempts += 1
        row.last_error = error[:2000]
        row.locked_until = None
        await session.commit()
        log.error("outbox: giving up on message %d: %s", row.id, error)

    async def pending_count(self) -> int:
        async with self._sessions() as session:
            query = select(func.count(OutboxMessage.id)).where(OutboxMessage.state == "pending")
            return int((await session.execute(query)).scalar() or 0)
