"""Slack's rate budgets (``bot/slack/budget.py``): GCRA per bucket, bursts kept
for clicks, 429s honoured — and on PostgreSQL one budget for every process."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from bot.slack.budget import LocalBudgets, SharedBudgets, slots
from bot.slack.pace import Priority, bucket_of, rate_of


def test_slots_follow_the_steady_pace_and_the_tolerance() -> None:
    assert slots(ahead=0.0, blocked=0.0, n=10, interval=1.0, tolerance=2.0) == 3
    assert slots(ahead=-5.0, blocked=0.0, n=10, interval=1.0, tolerance=0.0) == 1
    assert slots(ahead=2.5, blocked=0.0, n=10, interval=1.0, tolerance=2.0) == 0
    assert slots(ahead=0.0, blocked=1.0, n=10, interval=1.0, tolerance=2.0) == 0  # after a 429


def test_buckets_and_rates() -> None:
    assert bucket_of("chat.postMessage", "C1") == "post:C1"
    assert bucket_of("chat.update", "C1") == "method:chat.update"
    post, update = rate_of("post:C1"), rate_of("method:chat.update")
    assert 1.0 < post.interval < 1.1  # a little under Slack's one a second
    assert 60 / update.interval < 50  # under Tier 3
    # A click may use the whole burst; a reminder a third of it at most.
    assert post.tolerance(Priority.CLICK) > post.tolerance(Priority.REMINDER)
    assert update.tolerance(Priority.CLICK) > update.tolerance(Priority.OTHER)


async def test_clicks_keep_their_burst_when_reminders_are_waiting() -> None:
    budgets = LocalBudgets()
    bucket = "post:C1"
    assert await budgets.take(bucket, Priority.REMINDER) == 0.0
    assert await budgets.take(bucket, Priority.REMINDER) > 0  # at the steady pace now
    assert await budgets.take(bucket, Priority.CLICK) == 0.0  # a click still goes
    await budgets.refused(bucket, 30.0)
    assert await budgets.take(bucket, Priority.CLICK) >= 29.0  # nobody before Retry-After


async def test_two_processes_share_one_budget(pg_url: str) -> None:
    engines = [create_async_engine(pg_url) for _ in range(2)]
    try:
        a, b = (SharedBudgets(async_sessionmaker(e, expire_on_commit=False)) for e in engines)
        bucket = "method:views.publish"  # Tier 4: a burst of 20 for clicks
        first = await a.take_many(bucket, 15, Priority.CLICK)
        second = await b.take_many(bucket, 15, Priority.CLICK)
        assert first == 15 and 0 < second < 15  # counted together, not 30
        assert await a.take(bucket, Priority.OTHER) > 0
        await b.refused("post:C9", 5.0)
        assert await a.take("post:C9", Priority.CLICK) >= 4.0
    finally:
        for engine in engines:
            await engine.dispose()
