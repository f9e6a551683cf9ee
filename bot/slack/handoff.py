"""Hand-off: what this process just committed goes to Slack without a claim.

Mixed into ``OutboxWorker`` (``bot/slack/delivery.py``). The intake worker
leases the messages its transaction enqueued to this process before the
commit, and hands them straight to delivery after it: a click's update and
next step need not wait for the next claim round.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.slack import outbox_rows as rows_
from bot.slack.outbox_rows import Claimed
from bot.store.models import utcnow
from bot.store.writes import appended, inserted

if TYPE_CHECKING:
    from bot.slack.health import SlackHealth
    from bot.slack.owner import LeaseOwner

log = logging.getLogger("bot.slack.delivery")


class HandOff:
    # Owned by OutboxWorker.
    _postgres: bool
    _task: asyncio.Task[None] | None
    _owner: LeaseOwner
    _sent_ids: set[int]
    _lease: timedelta
    _handed: set[asyncio.Task[None]]
    _health: SlackHealth
    handed_off: int

    _on_hand_off: Callable[[int], None]

    def notify(self) -> None: ...

    async def _deliver_chain(self, rows: list[Claimed], leased_at: float) -> None: ...

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
        await _inherit_priority(session, blocked, [*rows, *(r for _, r in now_rows)])
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
        if self._health.unusable:
            return  # held like everything else; claimed once Slack works again
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
                    priority=r.get("priority", 4),
                    collapse_key=r.get("collapse_key"),
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


async def _inherit_priority(
    session: AsyncSession, blocked: set[str], rows: list[dict[str, Any]]
) -> None:
    """Priority inheritance: a row queued behind a waiting one of lower
    priority (a run message's progress update waiting for Slack's update
    budget, ahead of the next click's step update) lends it its priority and
    makes it due now — else the click would wait for the slot of what it
    queued behind."""
    lent: dict[str, int] = {}
    for r in rows:
        key = r["ordering_key"]
        if key in blocked:
            lent[key] = min(lent.get(key, 99), int(r.get("priority", 4)))
    if lent:
        keys, priorities = zip(*sorted(lent.items()), strict=True)
        await session.execute(
            rows_.INHERIT, {"keys": list(keys), "priorities": list(priorities), "now": utcnow()}
        )
