"""Insights (``runbook-bot stats``) over 10,000 incidents and 100,000 timeline events.

    .venv/bin/python bench/stats_bench.py [--incidents 10000] [--repeat 5] [--sqlite]

A fresh PostgreSQL database is bulk-loaded with COPY: N incidents over the
last 90 days (one in ten a drill, which the figures leave out; four priority
levels), each with one runbook run and eleven timeline events (opened, run
started, acknowledged, six step decisions — some skipped —, a status update,
completed or aborted, resolved; 110,000 for 10,000 incidents), the step
decisions and the runs. Two measurements:

- ``compute``: ``bot.drills.stats.compute_stats`` in this process (best and
  median of ``--repeat`` runs after one warm-up);
- ``cli``: the whole ``runbook-bot stats`` command as a user runs it,
  interpreter start-up and imports included (median and best of three). It
  runs the same statements straight over asyncpg, without SQLAlchemy
  (``bot/store/direct.py``).

``--sqlite`` runs ``compute`` against a SQLite copy of the same rows too.
The last line is ``BENCH stats ...``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
from _common import ROOT, asyncpg_dsn, bench_line, fresh_database, ms, pg_version, print_header

from bot.drills.stats import compute_stats
from bot.runbook import load_library
from bot.store.db import make_engine, make_sessionmaker

PRIORITIES = ("critical", "high", "medium", "low")
RUNBOOKS = [f"RB-{n:02d}" for n in range(1, 13)]
STEPS = 6


def rows(incidents: int, *, seed: int = 7) -> dict[str, list[tuple]]:
    rnd = random.Random(seed)
    now = datetime.now(UTC)
    out: dict[str, list[tuple]] = {"incidents": [], "runs": [], "step_decisions": [], "events": []}
    decision_id = event_id = 0
    for i in range(1, incidents + 1):
        opened = now - timedelta(seconds=rnd.uniform(0, 89 * 86400))
        drill = i % 10 == 0
        priority = PRIORITIES[i % len(PRIORITIES)]
        ack = opened + timedelta(seconds=rnd.expovariate(1 / 600))
        end = ack + timedelta(seconds=rnd.expovariate(1 / 2400))
        resolved = end + timedelta(seconds=rnd.uniform(60, 1800))
        aborted = rnd.random() < 0.1
        out["incidents"].append(
            (i, "C_INC", f"Incident {i}", "resolved", "U1", opened, "U1", resolved, None, None,
             None, drill, "staging" if drill else None, priority, ack, "U2")
        )  # fmt: skip
        runbook = RUNBOOKS[i % len(RUNBOOKS)]
        snapshot = json.dumps({"steps": [{}] * STEPS, "meta": {"rto_seconds": 3600}})
        out["runs"].append(
            (i, i, runbook, runbook, "0" * 64, snapshot, "C_INC", None, "U1", opened, end,
             "aborted" if aborted else "completed", "none")
        )  # fmt: skip
        events = [
            ("incident_opened", opened, "{}"),
            ("runbook_started", opened, "{}"),
            ("incident_acknowledged", ack, "{}"),
        ]
        span = (end - ack) / STEPS
        for k in range(STEPS):
            skipped = rnd.random() < (0.3 if k == 2 else 0.05)
            at = ack + span * k
            decision_id += 1
            out["step_decisions"].append(
                (decision_id, i, k, "skipped" if skipped else "approved", "U2", at)
            )
            kind = "step_skipped" if skipped else "step_approved"
            events.append((kind, at, json.dumps({"step_index": k})))
        events.append(("status_update", ack + span, "{}"))
        events.append(("runbook_aborted" if aborted else "runbook_completed", end, "{}"))
        events.append(("incident_resolved", resolved, "{}"))
        for kind, at, data in events:
            event_id += 1
            out["events"].append((event_id, i, i, kind, "U1", at, kind, data))
    return out


COLUMNS = {
    "incidents": (
        "id", "channel_id", "title", "state", "opened_by", "opened_at", "resolved_by",
        "resolved_at", "last_update_at", "next_reminder_at", "thread_ts", "drill",
        "drill_environment", "priority", "acknowledged_at", "acknowledged_by",
    ),
    "runs": (
        "id", "incident_id", "runbook_id", "runbook_title", "content_hash", "snapshot",
        "channel_id", "message_ts", "started_by", "started_at", "ended_at", "state",
        "rollback_state",
    ),
    "step_decisions": ("id", "run_id", "step_index", "decision", "decided_by", "decided_at"),
    "timeline_events": ("id", "incident_id", "run_id", "kind", "actor", "at", "text", "data"),
}  # fmt: skip


async def seed_postgres(url: str, data: dict[str, list[tuple]]) -> float:
    started = time.perf_counter()
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        for table, key in (
            ("incidents", "incidents"),
            ("runs", "runs"),
            ("step_decisions", "step_decisions"),
            ("timeline_events", "events"),
        ):
            columns = COLUMNS[table]
            records = data[key]
            await conn.copy_records_to_table(table, records=records, columns=list(columns))
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    return time.perf_counter() - started


async def seed_sqlite(url: str, data: dict[str, list[tuple]]) -> None:
    """The same rows through SQLAlchemy Core (multi-row INSERTs)."""
    from sqlalchemy import insert

    from bot.store.migrate import upgrade
    from bot.store.models import Incident, Run, StepDecision, TimelineEvent

    await upgrade(url)
    engine = make_engine(url)
    tables = {
        "incidents": Incident.__table__,
        "runs": Run.__table__,
        "step_decisions": StepDecision.__table__,
        "timeline_events": TimelineEvent.__table__,
    }
    try:
        async with engine.begin() as conn:
            for table, key in (
                ("incidents", "incidents"),
                ("runs", "runs"),
                ("step_decisions", "step_decisions"),
                ("timeline_events", "events"),
            ):
                columns = [c for c in COLUMNS[table] if c in tables[table].c]
                values = []
                for record in data[key]:
                    row = dict(zip(COLUMNS[table], record, strict=True))
                    for name in ("snapshot", "data"):
                        if name in row:
                            row[name] = json.loads(row[name])
                    values.append({c: row[c] for c in columns})
                for start in range(0, len(values), 5000):
                    await conn.execute(insert(tables[table]), values[start : start + 5000])
    finally:
        await engine.dispose()


async def time_compute(url: str, repeat: int) -> list[float]:
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    library = load_library(ROOT / "runbooks")
    timings = []
    try:
        for i in range(repeat + 1):
            started = time.perf_counter()
            async with sessions() as session:
                stats = await compute_stats(session, library, days=90)
            if i:  # the first is a warm-up
                timings.append(time.perf_counter() - started)
    finally:
        await engine.dispose()
    assert sum(p.incidents for p in stats.priorities) > 0
    return timings


def run_cli(url: str) -> tuple[float, str]:
    env = {**os.environ, "DATABASE_URL": url}
    binary = Path(sys.executable).with_name("runbook-bot")
    started = time.perf_counter()
    proc = subprocess.run(
        [str(binary), "stats"], env=env, capture_output=True, text=True, timeout=120
    )
    elapsed = time.perf_counter() - started
    assert proc.returncode == 0, proc.stderr
    return elapsed, proc.stdout


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--incidents", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--sqlite", action="store_true")
    args = parser.parse_args()
    data = rows(args.incidents)
    events = len(data["events"])
    async with fresh_database() as url:
        print_header(f"stats over {args.incidents:,} incidents, {events:,} timeline events")
        print(f"PostgreSQL {await pg_version(url)}")
        seeded = await seed_postgres(url, data)
        print(f"seeded with COPY in {seeded:.2f} s")
        compute = await time_compute(url, args.repeat)
        # The command as a user runs it, three times (one sample is at the
        # mercy of whatever else the machine is doing): the median counts.
        runs = [run_cli(url) for _ in range(3)]
        cli, output = statistics.median(t for t, _ in runs), runs[-1][1]
        print(output)
        line: dict[str, object] = {
            "incidents": args.incidents,
            "events": events,
            "compute_best_ms": ms(min(compute)),
            "compute_median_ms": ms(statistics.median(compute)),
            "compute_max_ms": ms(max(compute)),
            "cli_s": cli,
            "cli_best_s": min(t for t, _ in runs),
            "under_1s": "yes" if max(compute) < 1.0 and cli < 1.0 else "no",
        }
    if args.sqlite:
        with tempfile.TemporaryDirectory() as tmp:
            sqlite_url = f"sqlite+aiosqlite:///{tmp}/stats.db"
            await seed_sqlite(sqlite_url, data)
            lite = await time_compute(sqlite_url, args.repeat)
            line["sqlite_median_ms"] = ms(statistics.median(lite))
    print(bench_line("stats", line))


if __name__ == "__main__":
    asyncio.run(main())
