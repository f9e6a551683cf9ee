"""Reminder scale: 1,000 and 10,000 open incidents, reminders due over one interval.

    .venv/bin/python bench/reminder_scale.py [--sizes 1000,10000] [--interval 30]

For each size: a fresh PostgreSQL database gets N open incidents whose
``next_reminder_at`` is spread evenly over one ``STATUS_UPDATE_INTERVAL``
(starting a few seconds after the bot is up). Then ``runbook-bot serve`` runs as
a subprocess with that interval, and the Slack stand-in (its own process)
records when each incident's first reminder arrives. Lateness = arrival (wall
clock at the stand-in) − due time. Also reported: the claim lateness the bot
recorded in each ``reminder_sent`` event, the bot's CPU time while reminding
(from /proc, serving process plus its worker child with ``WORKER=process``,
divided by N for the per-incident cost) and peak RSS (VmHWM) of the serving
process and of the worker. ``BENCH_WORKER=embedded`` runs everything in the
serving process. The last line is ``BENCH reminder_scale ...``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from _common import (
    INC_RE,
    StandIn,
    asyncpg_dsn,
    bench_line,
    fresh_database,
    ms,
    percentile,
    pg_version,
    print_header,
    start_bot,
    table,
    worker_mode,
)

LEAD = 6.0  # seconds between the bot being ready and the first due reminder


async def seed(url: str, n: int, first_due: datetime, interval: float) -> dict[int, float]:
    """N open incidents due evenly over one interval; {incident id: due epoch}."""
    opened = first_due - timedelta(seconds=interval)
    records = [
        (
            "C_INC",
            f"Bench incident {i}",
            "open",
            "UBENCH",
            opened,
            first_due + timedelta(seconds=interval * i / n),
        )
        for i in range(n)
    ]
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await conn.copy_records_to_table(
            "incidents",
            records=records,
            columns=["channel_id", "title", "state", "opened_by", "opened_at", "next_reminder_at"],
        )
        rows = await conn.fetch("SELECT id, next_reminder_at FROM incidents")
    finally:
        await conn.close()
    return {int(r["id"]): r["next_reminder_at"].timestamp() for r in rows}


def incident_of(call: Any) -> int | None:
    match = INC_RE.search(str(call.args.get("text", "")))
    if match is None:
        match = INC_RE.search(json.dumps(call.args.get("blocks", [])))
    return int(match.group(1)) if match else None


async def claim_lateness(url: str) -> list[float]:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        rows = await conn.fetch(
            "SELECT (data::jsonb->>'late_seconds')::float AS late FROM timeline_events "
            "WHERE kind = 'reminder_sent'"
        )
    finally:
        await conn.close()
    return [float(r["late"]) for r in rows if r["late"] is not None]


async def one_size(n: int, interval: float) -> dict[str, Any]:
    async with StandIn() as slack, fresh_database() as url:
        # Due times are fixed before the bot starts; the bot is given LEAD
        # seconds plus its start-up time.
        probe = time.time()
        first_due = datetime.now(UTC) + timedelta(seconds=LEAD + 4.0)
        due = await seed(url, n, first_due, interval)
        bot = await start_bot(url, slack.url, STATUS_UPDATE_INTERVAL=str(interval))
        ready = time.time() - probe
        cpu0 = bot.tree_cpu_seconds()
        arrived: dict[int, float] = {}
        deadline = time.monotonic() + LEAD + 4.0 + interval + 90
        try:
            while len(arrived) < n and time.monotonic() < deadline:
                await asyncio.sleep(0.5)
                for call in await slack.refresh():
                    if call.method != "chat.postMessage":
                        continue
                    inc = incident_of(call)
                    if inc is not None and inc in due and inc not in arrived:
                        arrived[inc] = call.wall
            cpu = bot.tree_cpu_seconds() - cpu0
            rss = bot.peak_rss_mb()
            worker_rss = bot.worker_peak_rss_mb()
        finally:
            await bot.stop()
        claims = await claim_lateness(url)
    late = [arrived[i] - due[i] for i in arrived]
    return {
        "n": n,
        "delivered": len(arrived),
        "ready_s": ready,
        "late_p50": percentile(late, 50),
        "late_p99": percentile(late, 99),
        "late_max": max(late) if late else float("nan"),
        "claim_p99": percentile(claims, 99),
        "cpu_s": cpu,
        "cpu_ms_per": ms(cpu / n),
        "rss_mb": rss,
        "worker_rss_mb": worker_rss,
        "invalid": slack.invalid,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--interval", type=float, default=30.0, help="seconds (default 30)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print_header(
        f"reminder scale: {sizes} open incidents, interval {args.interval:g}s, "
        f"WORKER={worker_mode()}"
    )
    results = []
    for n in sizes:
        async with fresh_database(migrate=False) as probe_url:
            if not results:
                print(
                    f"   PostgreSQL {await pg_version(probe_url)}; bot = runbook-bot serve, "
                    "Slack stand-in and this script in separate processes"
                )
        results.append(await one_size(n, args.interval))
        r = results[-1]
        print(f"   {n}: {r['delivered']} reminders, p99 late {ms(r['late_p99']):.0f} ms")
    rows = [
        [
            r["n"],
            r["delivered"],
            ms(r["late_p50"]),
            ms(r["late_p99"]),
            ms(r["late_max"]),
            ms(r["claim_p99"]),
            r["cpu_s"],
            r["cpu_ms_per"],
            r["rss_mb"],
            r["worker_rss_mb"],
        ]
        for r in results
    ]
    print()
    print(
        table(
            [
                "incidents",
                "reminded",
                "late p50 ms",
                "late p99 ms",
                "late max ms",
                "claim p99 ms",
                "bot CPU s",
                "CPU ms/incident",
                "serve RSS MB",
                "worker RSS MB",
            ],
            rows,
        )
    )
    print("\nlate = arrival at the Slack stand-in − due time; claim = when the bot claimed it;")
    print("bot CPU = serving process + worker child; RSS = peak (VmHWM) of each process")
    line: dict[str, Any] = {"interval_s": args.interval, "worker": worker_mode()}
    for r in results:
        k = r["n"]
        line[f"n{k}_delivered"] = r["delivered"]
        line[f"n{k}_late_p50_ms"] = ms(r["late_p50"])
        line[f"n{k}_late_p99_ms"] = ms(r["late_p99"])
        line[f"n{k}_late_max_ms"] = ms(r["late_max"])
        line[f"n{k}_cpu_ms_per_incident"] = r["cpu_ms_per"]
        line[f"n{k}_peak_rss_mb"] = r["rss_mb"]
        line[f"n{k}_worker_peak_rss_mb"] = r["worker_rss_mb"]
    if len(results) >= 2:
        line["cpu_per_incident_ratio"] = results[-1]["cpu_ms_per"] / results[0]["cpu_ms_per"]
    print(bench_line("reminder_scale", line))


if __name__ == "__main__":
    asyncio.run(main())
