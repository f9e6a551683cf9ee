"""``SentMarks`` (bot/slack/sent_marks.py): every mark is written, whenever it comes."""

from __future__ import annotations

import asyncio
from typing import Any

from bot.slack.sent_marks import SentMarks


class _GatedPool:
    """Stands in for the asyncpg pool: each statement waits for ``gate``."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.written: list[Any] = []

    async def execute(self, sql: str, *args: Any) -> None:
        await self.gate.wait()
        ids = args[0]  # one id, or a batch's list of ids
        self.written += ids if isinstance(ids, list) else [ids]


async def test_a_mark_right_after_both_writers_finished_is_written() -> None:
    # Both writers finish in one event-loop turn; the first mark's caller
    # marks again at once, before the finished writers have left the set.
    # That mark found "WRITERS in flight", queued behind none of them, and
    # waited forever (its key's later messages with it).
    marks = SentMarks(None, "postgresql://unused")  # type: ignore[arg-type]
    pool = _GatedPool()
    marks._pool = pool

    async def first_then_next() -> None:
        await marks.mark(1, "1.0")
        await marks.mark(3, "3.0")

    first = asyncio.create_task(first_then_next())
    second = asyncio.create_task(marks.mark(2, "2.0"))
    await asyncio.sleep(0)  # both writers now wait on their statement
    assert len(marks._writers) == SentMarks.WRITERS
    pool.gate.set()
    await asyncio.wait_for(asyncio.gather(first, second), timeout=2)
    assert sorted(pool.written) == [1, 2, 3]
