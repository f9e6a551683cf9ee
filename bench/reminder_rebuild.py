"""Reminder scheduler rebuild cost with 10,000 open incidents.

Run: .venv/bin/python bench/reminder_rebuild.py [--incidents N] [--repeat R]

Creates a fresh PostgreSQL database (the test server, TEST_DATABASE_ADMIN_URL to
point elsewhere), migrates it, inserts N open incidents whose reminders are due
spread over one STATUS_UPDATE_INTERVAL (30 min), and times:

- ``Reminders.rebuild()`` — what a bot does at start and after every wake: one
  indexed ``MIN(next_reminder_at)`` query and one APScheduler job;
- ``Reminders.start()`` — scheduler start plus the rebuild;
- one claim round (``send_due``) of a 200-incident batch that has come due
  (FOR UPDATE SKIP LOCKED, 200 ``reminder_sent`` events + 200 outbox rows).

Prints a table and, last, ``BENCH reminder_rebuild incidents=... rebuild_ms=...``.
Drops the database at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python bench/x.py` puts bench/ first, not the repo
    sys.path.insert(0, str(ROOT))

from slack_sdk.web.async_client import AsyncWebClient  # noqa: E402
from sqlalchemy import insert, text, update  # noqa: E402

from bot.incidents.reminders import Reminders  # noqa: E402
from bot.slack.delivery import OutboxWorker  # noqa: E402
from bot.store.db import make_engine, make_sessionmaker  # noqa: E402
from bot.store.migrate import upgrade  # noqa: E402
from bot.store.models import Incident, utcnow  # noqa: E402
from tests.rig import create_database, drop_database, ensure_postgres_up  # noqa: E402

INTERVAL = 1800.0
BATCH = 200


def pct(values: list[float], p: float) -> float:
    data = sorted(values)
    k = (len(data) - 1) * p / 100.0
    lo, hi = int(k), min(int(k) + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (k - lo)


def row(name: str, samples: list[float]) -> str:
    ms = [s * 1000 for s in samples]
    return (
        f"{name:<32} {len(ms):>4} {statistics.median(ms):>9.2f} {pct(ms, 95):>9.2f} {max(ms):>9.2f}"
    )


async def seed(url: str, n: int) -> None:
    engine = make_engine(url)
    now = utcnow()
    rows = [
        {
            "channel_id": f"C{i % 50:05d}",
            "title": f"Incident {i}",
            "state": "open",
            "opened_by": "UBENCH",
            "opened_at": now,
            # Due times spread over one interval, all in the future.
            "next_reminder_at": now + timedelta(seconds=60 + (INTERVAL - 60) * i / n),
        }
        for i in range(n)
    ]
    async with engine.begin() as conn:
        for start in range(0, n, 2000):
            await conn.execute(insert(Incident), rows[start : start + 2000])
        await conn.execute(text("ANALYZE incidents"))
    await engine.dispose()


async def measure(url: str, n: int, repeat: int) -> dict[str, float]:
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    client = AsyncWebClient(token="xoxb-bench", base_url="http://127.0.0.1:9/api/")
    outbox = OutboxWorker(sessions, client, postgres=True)  # never started: nothing is sent
    reminders = Reminders(
        sessions, outbox=outbox, interval_seconds=INTERVAL, postgres=True, batch=BATCH
    )
    try:
        starts = []
        for _ in range(max(3, repeat // 10)):
            t0 = time.perf_counter()
            await reminders.start()
            starts.append(time.perf_counter() - t0)
            await reminders.stop()
        await reminders.start()
        for _ in range(5):  # warm the connection pool and the plan cache
            await reminders.rebuild()
        rebuilds = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            earliest = await reminders.rebuild()
            rebuilds.append(time.perf_counter() - t0)
        assert earliest is not None
        async with sessions() as session:
            plan = (
                await session.execute(
                    text("EXPLAIN SELECT min(next_reminder_at) FROM incidents WHERE state = 'open'")
                )
            ).scalars()
            plan_text = " / ".join(line.strip() for line in plan)
        # A batch comes due: one claim round (twice: cold, then warm statement cache).
        claims = []
        for _ in range(2):
            async with sessions() as session, session.begin():
                soonest = (
                    await session.execute(
                        text(
                            "SELECT id FROM incidents WHERE next_reminder_at > now() "
                            "ORDER BY next_reminder_at LIMIT :n"
                        ),
                        {"n": BATCH},
                    )
                ).scalars()
                await session.execute(
                    update(Incident)
                    .where(Incident.id.in_(list(soonest)))
                    .values(next_reminder_at=utcnow() - timedelta(seconds=1))
                )
            t0 = time.perf_counter()
            claimed = await reminders.send_due()
            claims.append(time.perf_counter() - t0)
        await reminders.stop()
    finally:
        await engine.dispose()

    print(f"\nReminder scheduler with {n:,} open incidents (due over {INTERVAL:.0f}s)\n")
    print(f"{'operation':<32} {'n':>4} {'p50 ms':>9} {'p95 ms':>9} {'max ms':>9}")
    print("-" * 67)
    print(row("Reminders.rebuild()", rebuilds))
    print(row("Reminders.start()", starts))
    print(row(f"send_due() claim of {claimed}, cold", claims[:1]))
    print(row(f"send_due() claim of {claimed}, warm", claims[1:]))
    print(f"\nplan: {plan_text}")
    return {
        "rebuild_ms": statistics.median(rebuilds) * 1000,
        "rebuild_p95_ms": pct(rebuilds, 95) * 1000,
        "start_ms": statistics.median(starts) * 1000,
        "claim_ms": claims[1] * 1000,
        "claimed": claimed,
    }


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    await ensure_postgres_up()
    url = await create_database(prefix="runbook_bot_bench")
    try:
        await upgrade(url)
        t0 = time.perf_counter()
        await seed(url, args.incidents)
        print(f"seeded {args.incidents:,} open incidents in {time.perf_counter() - t0:.2f}s")
        result = await measure(url, args.incidents, args.repeat)
    finally:
        await drop_database(url)
    print(
        f"BENCH reminder_rebuild incidents={args.incidents} "
        f"rebuild_ms={result['rebuild_ms']:.3f} rebuild_p95_ms={result['rebuild_p95_ms']:.3f} "
        f"start_ms={result['start_ms']:.3f} claim{result['claimed']}_ms={result['claim_ms']:.1f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
