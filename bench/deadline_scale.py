"""Deadline scale: 1,000 and 10,000 open incidents, each with a pending response
target and a running RTO clock, all due within the same 30 s (SPEC §7).

    .venv/bin/python bench/deadline_scale.py [--sizes 1000,10000] [--window 30]
        [--per-channel 10]

For each size a fresh PostgreSQL database gets N open, unacknowledged
incidents, each with one running run of a runbook with a 15 s RTO, and its
``deadlines`` rows: the response target (due at d_i) and the RTO breach
(d_i + 3 s), with d_i spread evenly over ``--window`` − 3 seconds starting a
few seconds after the bot is up — 2 × N clocks in the window. The RTO's 80 %
warning has fired before the window; ``--warnings`` makes it due at d_i too
(3 × N clocks). The incidents are spread round robin over channels of
``--per-channel`` incidents each (default 10: 1,000 channels at 10,000), as
in a real workspace: Slack posts about one message a second per channel
(the stand-in enforces it), so 20,000 messages in 30 s in one channel would
take over five hours whatever the bot did. ``--per-channel 0`` puts them all
in one channel. Then ``runbook-bot serve`` runs as a subprocess
(``WORKER=process`` by default: the clocks fire in its worker child) and the
Slack stand-in (its own process) records when each message arrives.

Reported: how many of the 3 × N fired (each must fire exactly once: a message
seen twice counts as a double), fire lateness (``fired_at − due_at`` from the
database), delivery lateness (arrival at the stand-in − due), the bot's CPU
while firing (serving process + worker child, from /proc) per incident and
per clock, peak RSS. The last line is ``BENCH deadline_scale ...``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import Counter
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

LEAD = 6.0  # seconds between the bot being ready and the first due clock
RTO = 15.0  # seconds; the warning is due at 80 % (12 s after the run started)
BREACH_AFTER = 3.0  # the breach is due this long after the target and warning
KINDS = ("response_target", "rto_warning", "rto_breach")


def channel_of(i: int, channels: int) -> str:
    """Incident ``i``'s channel: round robin, so each channel's clocks spread
    over the whole window like everyone's."""
    return "C_INC" if channels <= 1 else f"C{i % channels:05d}"


async def seed(
    url: str, n: int, first_due: datetime, window: float, warnings: bool, channels: int
) -> dict[tuple[int, str], float]:
    """N incidents + runs + their clocks; {(incident id, kind): due epoch}.
    Without ``warnings`` the 80 % warning has fired already (before the window)."""
    spread = window - BREACH_AFTER
    dues = [first_due + timedelta(seconds=spread * i / n) for i in range(n)]
    far = first_due + timedelta(days=1)  # no status-update reminder in the way
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await conn.copy_records_to_table(
            "incidents",
            records=[
                (
                    channel_of(i, channels),
                    f"Bench incident {i}",
                    "open",
                    "UBENCH",
                    due - timedelta(minutes=15),
                    far,
                    "critical",
                    "{}",
                )
                for i, due in enumerate(dues)
            ],
            columns=[
                "channel_id",
                "title",
                "state",
                "opened_by",
                "opened_at",
                "next_reminder_at",
                "priority",
                "roles",
            ],
        )
        ids = [r["id"] for r in await conn.fetch("SELECT id FROM incidents ORDER BY id")]
        snapshot = json.dumps({"steps": [], "rollback": [], "meta": {"rto_seconds": RTO}})
        await conn.copy_records_to_table(
            "runs",
            records=[
                (
                    inc,
                    "RB-B",
                    "Bench",
                    "0" * 64,
                    snapshot,
                    channel,
                    f"1700000000.{inc:06d}",
                    "UBENCH",
                    due + timedelta(seconds=BREACH_AFTER - RTO),
                    "running",
                    "none",
                )
                for inc, due, channel in zip(
                    ids, dues, [channel_of(i, channels) for i in range(n)], strict=True
                )
            ],
            columns=[
                "incident_id",
                "runbook_id",
                "runbook_title",
                "content_hash",
                "snapshot",
                "channel_id",
                "message_ts",
                "started_by",
                "started_at",
                "state",
                "rollback_state",
            ],
        )
        runs = {
            r["incident_id"]: r["id"] for r in await conn.fetch("SELECT id, incident_id FROM runs")
        }
        records = []
        due_at: dict[tuple[int, str], float] = {}
        for inc, due in zip(ids, dues, strict=True):
            breach = due + timedelta(seconds=BREACH_AFTER)
            for kind, at, run in (
                ("response_target", due, None),
                ("rto_warning", due, runs[inc]),
                ("rto_breach", breach, runs[inc]),
            ):
                fired = None if warnings or kind != "rto_warning" else at - timedelta(minutes=1)
                records.append((kind, inc, run, at, fired))
                if fired is None:
                    due_at[(inc, kind)] = at.timestamp()
        await conn.copy_records_to_table(
            "deadlines",
            records=records,
            columns=["kind", "incident_id", "run_id", "due_at", "fired_at"],
        )
    finally:
        await conn.close()
    return due_at


def clock_of(call: Any) -> tuple[int, str] | None:
    """(incident, kind) of a clock's message, or None for any other call."""
    if call.method != "chat.postMessage":
        return None
    text = str(call.args.get("text", ""))
    kind, match = kind_of(text), INC_RE.search(text)
    return (int(match.group(1)), kind) if kind is not None and match is not None else None


def kind_of(text: str) -> str | None:
    if "response target" in text:
        return "response_target"
    if "RTO warning" in text:
        return "rto_warning"
    if "RTO breached" in text:
        return "rto_breach"
    return None


async def fire_lateness(url: str) -> tuple[list[float], int, int]:
    """(fired_at − due_at of every fired clock, fired, still pending) from the database."""
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        rows = await conn.fetch(
            "SELECT extract(epoch FROM fired_at - due_at)::float AS late FROM deadlines "
            "WHERE fired_at >= due_at"
        )
        pending = await conn.fetchval("SELECT count(*) FROM deadlines WHERE fired_at IS NULL")
        # (Warnings seeded as fired before the window have fired_at < due_at.)
    finally:
        await conn.close()
    return [float(r["late"]) for r in rows], len(rows), int(pending)


async def one_size(n: int, window: float, warnings: bool, per_channel: int) -> dict[str, Any]:
    channels = -(-n // per_channel) if per_channel > 0 else 1
    async with StandIn() as slack, fresh_database() as url:
        first_due = datetime.now(UTC) + timedelta(seconds=LEAD + 4.0)
        due = await seed(url, n, first_due, window, warnings, channels)
        bot = await start_bot(
            url, slack.url, PRIORITY_LEVELS="critical=15m,low=1d", DEFAULT_PRIORITY="low"
        )
        cpu0 = bot.tree_cpu_seconds()
        arrived: dict[tuple[int, str], float] = {}
        deadline = time.monotonic() + LEAD + 4.0 + window + 120
        try:
            while len(arrived) < len(due) and time.monotonic() < deadline:
                await asyncio.sleep(0.5)
                for call in await slack.refresh():
                    key = clock_of(call)
                    if key is not None:
                        arrived.setdefault(key, call.wall)
            cpu = bot.tree_cpu_seconds() - cpu0
            await slack.quiesce(quiet=1.0)  # anything doubled would have arrived by now
            seen = Counter(k for k in map(clock_of, slack.calls) if k is not None)
            rss = bot.peak_rss_mb()
            worker_rss = bot.worker_peak_rss_mb()
        finally:
            await bot.stop()
        fired_late, fired, pending = await fire_lateness(url)
    late = [arrived[k] - due[k] for k in arrived]
    return {
        "n": n,
        "clocks": len(due),
        "fired": fired,
        "pending": pending,
        "delivered": len(arrived),
        "doubled": sum(1 for c in seen.values() if c > 1),
        "fire_p50": percentile(fired_late, 50),
        "fire_p99": percentile(fired_late, 99),
        "late_p50": percentile(late, 50),
        "late_p99": percentile(late, 99),
        "late_max": max(late) if late else float("nan"),
        "cpu_s": cpu,
        "cpu_ms_per": ms(cpu / n),
        "cpu_ms_per_clock": ms(cpu / len(due)),
        "rss_mb": rss,
        "worker_rss_mb": worker_rss,
        "invalid": slack.invalid,
        "channels": channels,
        "share_429": slack.refused_share(),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--window", type=float, default=30.0, help="seconds (default 30)")
    parser.add_argument(
        "--warnings",
        action="store_true",
        help="the RTO 80%% warnings fall due in the window too (3 clocks per incident, not 2)",
    )
    parser.add_argument(
        "--per-channel",
        type=int,
        default=10,
        help="incidents per channel (default 10; 0: all in one channel)",
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    clocks = (
        "response target, RTO warning, RTO breach"
        if args.warnings
        else ("response target, RTO breach")
    )
    print_header(
        f"deadline scale: {sizes} open incidents × ({clocks}), "
        f"due within {args.window:g}s, WORKER={worker_mode()}"
    )
    results = []
    for n in sizes:
        async with fresh_database(migrate=False) as probe_url:
            if not results:
                print(f"   PostgreSQL {await pg_version(probe_url)}")
        results.append(await one_size(n, args.window, args.warnings, args.per_channel))
        r = results[-1]
        print(
            f"   {n}: {r['fired']}/{r['clocks']} fired, {r['delivered']} delivered, "
            f"p99 late {ms(r['late_p99']):.0f} ms"
        )
    rows = [
        [
            r["n"],
            r["clocks"],
            r["fired"],
            r["delivered"],
            r["doubled"],
            ms(r["fire_p99"]),
            ms(r["late_p50"]),
            ms(r["late_p99"]),
            ms(r["late_max"]),
            r["cpu_s"],
            r["cpu_ms_per"],
            r["cpu_ms_per_clock"],
            r["worker_rss_mb"],
        ]
        for r in results
    ]
    print()
    print(
        table(
            [
                "incidents",
                "clocks",
                "fired",
                "delivered",
                "doubled",
                "fire p99 ms",
                "late p50 ms",
                "late p99 ms",
                "late max ms",
                "bot CPU s",
                "CPU ms/incident",
                "CPU ms/clock",
                "worker RSS MB",
            ],
            rows,
        )
    )
    print("\nfire = fired_at − due_at (database); late = arrival at the Slack stand-in − due time")
    line: dict[str, Any] = {
        "window_s": args.window,
        "worker": worker_mode(),
        "clocks_per_incident": 3 if args.warnings else 2,
    }
    for r in results:
        k = r["n"]
        line[f"n{k}_channels"] = r["channels"]
        line[f"n{k}_share_429"] = round(r["share_429"], 4)
        line[f"n{k}_clocks"] = r["clocks"]
        line[f"n{k}_fired"] = r["fired"]
        line[f"n{k}_delivered"] = r["delivered"]
        line[f"n{k}_doubled"] = r["doubled"]
        line[f"n{k}_fire_p99_ms"] = ms(r["fire_p99"])
        line[f"n{k}_late_p99_ms"] = ms(r["late_p99"])
        line[f"n{k}_cpu_ms_per_incident"] = r["cpu_ms_per"]
    if len(results) >= 2:
        line["cpu_per_incident_ratio"] = results[-1]["cpu_ms_per"] / results[0]["cpu_ms_per"]
    last = results[-1]
    line["met"] = (
        "yes"
        if all(r["fired"] == r["clocks"] == r["delivered"] and not r["doubled"] for r in results)
        and last["late_p99"] < 1.0
        else "no"
    )
    print(bench_line("deadline_scale", line))


if __name__ == "__main__":
    asyncio.run(main())
