"""App Home with 1,000 open incidents: from ``app_home_opened`` to ``views.publish``.

    .venv/bin/python bench/home_bench.py [--open 1000] [--history 5000] [--opens 200]

A fresh PostgreSQL database is bulk-loaded with COPY: ``--open`` open incidents,
each with a thread in the stand-in (so ``chat.getPermalink`` answers), a running
runbook part-way through and a few timeline events, plus ``--history``
resolved incidents with finished runs (for the last runs and the insights).
``runbook-bot serve`` (worker in a child process, as in production) then gets
``--opens`` signed ``app_home_opened`` events, one every 20 ms, each from a
different user. Measured per event: from sending the event to the stand-in
(its own process) receiving the ``views.publish`` for that user — ``cold`` is
the very first (permalinks asked, insights computed), ``warm`` the rest.
Every published view is checked against Block Kit's limits (100 blocks, …)
here, off the measured path. The last line is ``BENCH home ...``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from datetime import UTC, datetime, timedelta

import aiohttp
import asyncpg
from _common import (
    StandIn,
    asyncpg_dsn,
    bench_line,
    fresh_database,
    ms,
    percentile,
    print_header,
    signer,
    start_bot,
)

from tests.rig.blockkit import validate_view

STEPS = 8


async def post_threads(slack_url: str, count: int) -> list[str]:
    """One run message per open incident, posted to the stand-in: its ts is the thread."""
    out: list[str] = []
    async with aiohttp.ClientSession() as http:
        for i in range(count):
            async with http.post(
                slack_url + "chat.postMessage",
                json={"channel": "C_INC", "text": f"INC-{i + 1}: run"},
                headers={"Authorization": "Bearer xoxb-bench-token"},
            ) as resp:
                out.append((await resp.json())["ts"])
    return out


async def seed(url: str, threads: list[str], history: int) -> None:
    rnd = random.Random(11)
    now = datetime.now(UTC)
    incidents, runs, decisions, events = [], [], [], []
    ids = iter(range(1, 10**9))
    snapshot = json.dumps({"steps": [{"index": k} for k in range(STEPS)], "meta": {}})
    total = len(threads) + history
    for i in range(1, total + 1):
        is_open = i <= len(threads)
        opened = now - timedelta(seconds=rnd.uniform(60, 80 * 86400 if not is_open else 36000))
        end = opened + timedelta(seconds=rnd.uniform(300, 5400))
        incidents.append(
            (i, "C_INC", f"Incident {i}: checkout errors", "open" if is_open else "resolved",
             "U1", opened, None if is_open else "U1", None if is_open else end,
             opened + timedelta(minutes=3) if i % 3 else None,
             now + timedelta(minutes=30) if is_open else None,
             threads[i - 1] if is_open else None, i % 10 == 0)
        )  # fmt: skip
        runs.append(
            (i, i, f"RB-{i % 12 + 1:02d}", "Runbook", "0" * 64, snapshot, "C_INC", None, "U1",
             opened, None if is_open else end, "running" if is_open else "completed", "none")
        )  # fmt: skip
        done = rnd.randrange(STEPS) if is_open else STEPS
        for k in range(done):
            decisions.append((next(ids), i, k, "skipped" if k == 3 else "approved", "U2", opened))
            events.append((i, i, "step_skipped" if k == 3 else "step_approved", "U2", opened))
        events.append((i, None, "incident_opened", "U1", opened))
        if not is_open:
            events.append((i, None, "incident_resolved", "U1", end))
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await conn.copy_records_to_table(
            "incidents",
            records=incidents,
            columns=["id", "channel_id", "title", "state", "opened_by", "opened_at",
                     "resolved_by", "resolved_at", "last_update_at", "next_reminder_at",
                     "thread_ts", "drill"],
        )  # fmt: skip
        await conn.copy_records_to_table(
            "runs",
            records=runs,
            columns=["id", "incident_id", "runbook_id", "runbook_title", "content_hash",
                     "snapshot", "channel_id", "message_ts", "started_by", "started_at",
                     "ended_at", "state", "rollback_state"],
        )  # fmt: skip
        await conn.copy_records_to_table(
            "step_decisions",
            records=decisions,
            columns=["id", "run_id", "step_index", "decision", "decided_by", "decided_at"],
        )
        await conn.copy_records_to_table(
            "timeline_events",
            records=[(*e, "", "{}") for e in events],
            columns=["incident_id", "run_id", "kind", "actor", "at", "text", "data"],
        )
        for table in ("incidents", "runs", "step_decisions"):
            await conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT max(id) FROM {table}))"
            )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--open", type=int, default=1000)
    parser.add_argument("--history", type=int, default=5000)
    parser.add_argument("--opens", type=int, default=200)
    parser.add_argument("--warm", type=float, default=2.0, help="seconds after start-up")
    args = parser.parse_args()
    print_header(f"App Home: {args.open} open incidents, {args.opens} app_home_opened events")
    async with fresh_database() as url, StandIn() as slack:
        threads = await post_threads(slack.url, args.open)
        await seed(url, threads, args.history)
        await slack.refresh()
        before = len(slack.calls)
        bot = await start_bot(url, slack.url)
        await asyncio.sleep(args.warm)  # the bot renders once at start-up (HomePublisher.warm)
        sent: dict[str, float] = {}
        try:
            async with aiohttp.ClientSession() as http:
                for n in range(args.opens):
                    user = f"U{n:06d}"
                    body = signer.event(
                        {"type": "app_home_opened", "user": user, "tab": "home"},
                        event_id=f"Ev{n:08d}",
                    )
                    sent[user] = time.monotonic()
                    status, _, _ = await signer.post(http, bot.url + "/slack/events", body)
                    assert status == 200, status
                    await asyncio.sleep(0.02)
            await slack.quiesce(quiet=0.5)
        finally:
            await bot.stop()
        calls = slack.calls[before:]
    published = {c.args["user_id"]: c for c in calls if c.method == "views.publish"}
    assert len(published) == args.opens, f"{len(published)} of {args.opens} published"
    latencies = [published[u].at - t for u, t in sent.items()]
    cold, warm = latencies[0], latencies[1:]
    view = (
        json.loads(published["U000000"].args["view"])
        if isinstance(published["U000000"].args["view"], str)
        else published["U000000"].args["view"]
    )
    problems = validate_view(view)
    text = json.dumps(view)
    shown = text.count("commander")  # one "no commander"/"commander" per listed incident
    permalinks = sum(1 for c in calls if c.method == "chat.getPermalink")
    print(
        f"largest view: {len(view['blocks'])} blocks, {len(text):,} bytes, {shown} incidents listed"
    )
    print(f"Block Kit problems: {problems or 'none'}; chat.getPermalink calls: {permalinks}")
    p99 = percentile(warm, 99)
    values = {
        "open": args.open,
        "opens": args.opens,
        "blocks": len(view["blocks"]),
        "incidents_listed": shown,
        "valid": "yes" if not problems else "no",
        "cold_ms": ms(cold),
        "warm_p50_ms": ms(percentile(warm, 50)),
        "warm_p99_ms": ms(p99),
        "max_ms": ms(max(latencies)),
        "p99_under_200ms": "yes" if percentile(latencies, 99) < 0.2 else "no",
        "permalink_calls": permalinks,
    }
    print(bench_line("home", values))


if __name__ == "__main__":
    asyncio.run(main())
