"""Timeline export of an incident with 10,000 events (Markdown and JSON).

    .venv/bin/python bench/timeline_export.py [--events 10000] [--repeat 5]

A fresh PostgreSQL database gets one incident and N timeline events of the
usual kinds (bulk-loaded with COPY). Two measurements per format:

- ``export``: ``bot.timeline.export_incident`` in this process — load the rows
  and render — the code behind ``runbook-bot timeline`` and ``/incident
  timeline`` (best and median of ``--repeat`` runs, after one warm-up);
- ``cli``: the whole ``runbook-bot timeline INC-1 --format …`` command as a
  user runs it, interpreter start-up and imports included.

The last line is ``BENCH timeline_export ...``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
from _common import (
    ROOT,
    asyncpg_dsn,
    bench_line,
    fresh_database,
    ms,
    pg_version,
    print_header,
    table,
)

from bot.incidents.timeline import export_incident
from bot.store.db import make_engine, make_sessionmaker

KINDS = [
    (
        "step_approved",
        "U0AAA{:04d}",
        "RB-04 Steps step {}/18: Promote the replica and repoint "
        "the `DATABASE_URL` secret | verify with `SELECT 1`",
    ),
    ("step_skipped", "U0BBB{:04d}", "RB-04 Steps step {}/18: Drain the queue workers <skipped>"),
    (
        "status_update",
        "U0CCC{:04d}",
        "Update {}: error rate back under 1% & latency normal; "
        "watching the canary for another 15 minutes.",
    ),
    ("reminder_sent", None, "Status update reminder ({} min since the last update)"),
    ("note", "U0DDD{:04d}", "Note {}: customer *Acme* reports recovery — ticket #4821"),
]


async def seed(url: str, events: int) -> int:
    start = datetime.now(UTC) - timedelta(hours=12)
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        incident_id = await conn.fetchval(
            "INSERT INTO incidents (channel_id, title, state, opened_by, opened_at) "
            "VALUES ('C_INC', 'Primary database failover | region eu-west-1', 'open', "
            "'U0AAA0001', $1) RETURNING id",
            start,
        )
        records = []
        for i in range(events):
            kind, actor, text = KINDS[i % len(KINDS)]
            records.append(
                (
                    incident_id,
                    kind,
                    actor.format(i % 50) if actor else None,
                    start + timedelta(seconds=4 * i),
                    text.format(i),
                    json.dumps({"step_index": i % 18, "phase": "Steps", "seq": i}),
                )
            )
        await conn.copy_records_to_table(
            "timeline_events",
            records=records,
            columns=["incident_id", "kind", "actor", "at", "text", "data"],
        )
    finally:
        await conn.close()
    return int(incident_id)


def run_cli(url: str, key: str, fmt: str) -> tuple[float, int]:
    script = Path(sys.executable).parent / "runbook-bot"
    argv = [str(script)] if script.exists() else [sys.executable, "-m", "bot.cli"]
    env = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    out = subprocess.run(
        [*argv, "timeline", key, "--format", fmt], env=env, capture_output=True, check=True
    )
    return time.perf_counter() - started, len(out.stdout)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print_header(f"timeline export: one incident with {args.events} events")
    rows = []
    line: dict[str, object] = {"events": args.events}
    async with fresh_database() as url:
        print(f"   PostgreSQL {await pg_version(url)}")
        incident_id = await seed(url, args.events)
        engine = make_engine(url)
        sessions = make_sessionmaker(engine)
        try:
            for fmt in ("markdown", "json"):
                text = await export_incident(sessions, incident_id, fmt)  # warm-up
                assert text is not None
                times = []
                for _ in range(args.repeat):
                    started = time.perf_counter()
                    await export_incident(sessions, incident_id, fmt)
                    times.append(time.perf_counter() - started)
                cli_time, _cli_bytes = await asyncio.to_thread(
                    run_cli, url, f"INC-{incident_id}", fmt
                )
                rows.append(
                    [
                        fmt,
                        ms(min(times)),
                        ms(statistics.median(times)),
                        ms(max(times)),
                        ms(cli_time),
                        f"{len(text.encode()) / 1024:.0f} KiB",
                    ]
                )
                line[f"{fmt}_median_ms"] = ms(statistics.median(times))
                line[f"{fmt}_max_ms"] = ms(max(times))
                line[f"{fmt}_cli_ms"] = ms(cli_time)
        finally:
            await engine.dispose()
    print()
    print(
        table(
            ["format", "export best ms", "median ms", "max ms", "cli total ms", "output"],
            rows,
        )
    )
    worst = max(float(line["markdown_max_ms"]), float(line["json_max_ms"]))  # type: ignore[arg-type]
    line["target_ms"] = 1000
    line["met"] = "yes" if worst < 1000 else "no"
    print(bench_line("timeline_export", line))


if __name__ == "__main__":
    asyncio.run(main())
