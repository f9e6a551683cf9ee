"""Ack latency: runbook-bot next to a bare Bolt app that only acks.

    .venv/bin/python bench/ack_latency.py [--requests 300] [--concurrency 1,10,50]
                                          [--worker process|embedded] [--rate R]

Four servers, each its own process, all measured in the same run and
interleaved cell by cell (so a noisy neighbour hurts all four alike):

- ``bot``: ``runbook-bot serve`` on a fresh PostgreSQL database, with
  ``WORKER=process`` (default: Slack delivery and reminders in a supervised
  child process, woken by LISTEN/NOTIFY) or ``WORKER=embedded`` (everything in
  the serving process); ``BENCH_WORKER`` sets the default;
- ``bare-default``: bare Bolt ``AsyncApp``, default mode (10 ms ack poll);
- ``bare-pbr``: bare Bolt ``AsyncApp`` with ``process_before_response=True``;
- ``bare-durable``: ``bare-pbr`` whose listeners INSERT one row and COMMIT
  (SQLAlchemy async + asyncpg, the bot's engine options) before ``ack()``, on
  the same database: the floor for an acknowledgement that is durable.

For each of ``/runbook list``, ``/runbook start RB-04`` and an Approve click
(on step 1 of the runs the start cell opened) at each concurrency, N signed
requests go out from the benchmark process (the load generator). The Slack Web
API stand-in that the bot's outbox calls runs in a fourth process, so no event
loop is shared between load generator, stand-in and server. Latency is client
side: from sending the request to reading the whole response. By default the
load is closed-loop (the next request leaves when an ack returns, so the bot's
worker falls behind and competes for the CPU); ``--rate R`` paces each cell at
R requests per second, as real traffic arrives. Besides each server's own CPU,
the CPU of the PostgreSQL server processes during each cell is read from /proc
(``pg`` columns). The last line is ``BENCH ack_latency ...``.

Slack's pace: the starts take 300 incident channels in turn (a start posts twice
in its channel, and Slack takes about one post a second per channel), and
the stand-in's pace is off unless ``--slack-limits on``: a cell of 300
clicks owes 600 ``chat.update``, twelve minutes at Slack's 50 a minute,
while what is measured here is the acknowledgement — and the bot keeps that
pace by itself anyway. So the bot's delivery of a click cell's updates
trickles on into the next cells (its CPU columns for clicks count the
calls delivered by the end of the cell, not all of them).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import time
from typing import Any

import aiohttp
from _common import (
    StandIn,
    bench_line,
    click_body,
    fresh_database,
    ms,
    percentile,
    pg_version,
    print_header,
    send,
    signer,
    start_bare,
    start_bot,
    step_button,
    table,
    worker_mode,
)
from _process import postgres_cpu_seconds

from bot.runs.blocks import APPROVE

SERVERS = ("bot", "bare-default", "bare-pbr", "bare-durable")
COMMANDS = ("list", "start", "click")


async def load(
    http: aiohttp.ClientSession,
    url: str,
    bodies: list[bytes],
    concurrency: int,
    rate: float | None = None,
) -> tuple[list[float], int]:
    """Send every body, at most ``concurrency`` in flight; (latencies, non-200 count).

    ``rate``: the i-th request leaves no earlier than i / rate seconds after
    the first (paced, as real traffic arrives); None: as fast as acks return.
    """
    latencies: list[float] = []
    errors = 0
    it = iter(bodies)
    slots = itertools.count()
    t0 = time.monotonic()

    async def worker() -> None:
        nonlocal errors
        for body in it:
            if rate:
                delay = t0 + next(slots) / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            status, elapsed, _ = await send(http, url, body)
            latencies.append(elapsed)
            if status != 200:
                errors += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, errors


def list_bodies(n: int) -> list[bytes]:
    return [signer.slash_command("/runbook", "list") for _ in range(n)]


CHANNELS = 300  # incident channels the starts take in turn
_channels = itertools.count(1)


def incident_channels() -> str:
    """``INCIDENT_CHANNELS`` for the bot: runbooks start only in incident channels."""
    return ",".join(["incidents", *(f"bench-{k}" for k in range(CHANNELS))])


def start_bodies(n: int) -> list[bytes]:
    """``n`` starts, each in the next channel (one post a second per channel)."""
    return [
        signer.slash_command(
            "/runbook",
            f"start RB-04 bench run {i}",
            channel_id=f"CB{(k := next(_channels) % CHANNELS):06d}",
            channel_name=f"bench-{k}",
        )
        for i in range(n)
    ]


def click_bodies(slack: StandIn, since: int) -> list[bytes]:
    """An Approve click on every step message posted since call ``since``."""
    out = []
    for call in slack.calls[since:]:
        if call.method != "chat.postMessage":
            continue
        value = step_button(call, APPROVE)
        if value is not None:
            out.append(click_body(call, APPROVE, value))
    return out


async def wait_steps(slack: StandIn, since: int, count: int) -> list[bytes]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        await slack.refresh()
        bodies = click_bodies(slack, since)
        if len(bodies) >= count:
            return bodies
        await asyncio.sleep(0.05)
    raise RuntimeError(f"only {len(click_bodies(slack, since))} of {count} step messages arrived")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=300, help="per cell (default 300)")
    parser.add_argument("--concurrency", default="1,10,50")
    parser.add_argument(
        "--rate",
        type=float,
        default=None,
        help="pace each cell at this many requests/s (default: closed loop, as fast as "
        "acks return)",
    )
    parser.add_argument(
        "--worker",
        choices=("process", "embedded"),
        default=None,
        help="the bot's WORKER setting (default: $BENCH_WORKER or process)",
    )
    parser.add_argument(
        "--slack-limits",
        choices=("on", "off"),
        default="off",
        help="the stand-in keeps Slack's pace (default off: see above)",
    )
    args = parser.parse_args()
    os.environ["BENCH_SLACK_LIMITS"] = "1" if args.slack_limits == "on" else "0"
    n = args.requests
    levels = [int(c) for c in args.concurrency.split(",")]
    worker = worker_mode(args.worker)
    pacing = f", paced at {args.rate:g}/s" if args.rate else ""
    print_header(
        f"ack latency: {n} requests per cell, concurrency {levels}{pacing}, WORKER={worker}"
    )

    results: dict[tuple[str, str, int], tuple[list[float], int]] = {}
    cpu: dict[tuple[str, str, int], float] = {}
    serve_cpu: dict[tuple[str, int], float] = {}
    pg_cpu: dict[tuple[str, str, int], float] = {}
    async with StandIn() as slack, fresh_database(migrate=False) as db_url:
        print(
            f"   PostgreSQL {await pg_version(db_url)}; processes: bot (runbook-bot serve, "
            f"WORKER={worker}{' + worker child' if worker == 'process' else ''}), "
            "3 bare Bolt apps (default, pbr, durable), Slack stand-in, load generator"
        )
        servers: dict[str, Any] = {}
        try:
            servers["bot"] = await start_bot(
                db_url, slack.url, worker=worker, INCIDENT_CHANNELS=incident_channels()
            )
            servers["bare-default"] = await start_bare(slack.url, "default")
            servers["bare-pbr"] = await start_bare(slack.url, "pbr")
            servers["bare-durable"] = await start_bare(slack.url, "durable", db_url)
            sessions = {
                name: aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
                for name in SERVERS
            }
            try:
                # Warm-up (not measured): imports, auth.test, prepared statements, pools.
                for name in SERVERS:
                    await load(sessions[name], servers[name].url, list_bodies(40), 4)
                await slack.refresh()
                mark = len(slack.calls)
                await load(sessions["bot"], servers["bot"].url, start_bodies(20), 4)
                warm_clicks = await wait_steps(slack, mark, 20)
                for name in SERVERS:
                    await load(sessions[name], servers[name].url, warm_clicks, 4)
                await slack.quiesce()

                for c in levels:
                    for command in COMMANDS:
                        if command == "list":
                            bodies = {name: list_bodies(n) for name in SERVERS}
                        elif command == "start":
                            await slack.refresh()
                            mark = len(slack.calls)
                            bodies = {name: start_bodies(n) for name in SERVERS}
                        else:
                            clicks = await wait_steps(slack, mark, n)
                            await slack.quiesce()
                            bodies = {name: clicks for name in SERVERS}
                        for name in SERVERS:
                            url = servers[name].url
                            # Open `c` keep-alive connections first.
                            await load(sessions[name], url, list_bodies(c), c)
                            proc = servers[name]
                            cpu0, own0 = proc.tree_cpu_seconds(), proc.cpu_seconds()
                            pg0 = postgres_cpu_seconds()
                            results[(name, command, c)] = await load(
                                sessions[name], url, bodies[name], c, args.rate
                            )
                            if name == "bot":
                                serve_cpu[(command, c)] = (proc.cpu_seconds() - own0) / n
                                if command != "list":
                                    await slack.quiesce()  # include the Slack calls owed
                            cpu[(name, command, c)] = (proc.tree_cpu_seconds() - cpu0) / n
                            # A backend that exited took its CPU along: never below 0.
                            pg_cpu[(name, command, c)] = max(0.0, postgres_cpu_seconds() - pg0) / n
            finally:
                for session in sessions.values():
                    await session.close()
        finally:
            for proc in servers.values():
                await proc.stop()
        await slack.refresh()
        invalid = slack.invalid

    rows = []
    line: dict[str, Any] = {"requests": n, "worker": worker, "rate": args.rate or "closed"}
    for c in levels:
        for command in COMMANDS:
            stats = {}
            for name in SERVERS:
                lat, errors = results[(name, command, c)]
                stats[name] = (
                    ms(percentile(lat, 50)),
                    ms(percentile(lat, 95)),
                    ms(percentile(lat, 99)),
                    errors,
                )
            bot, bare_d = stats["bot"], stats["bare-default"]
            bare_p, bare_x = stats["bare-pbr"], stats["bare-durable"]
            ratio_p = bot[2] / bare_p[2]
            ratio_d = bot[2] / bare_d[2]
            ratio_x = bot[2] / bare_x[2]
            rows.append(
                [
                    command,
                    c,
                    *bot[:3],
                    bare_d[0],
                    bare_d[2],
                    bare_p[0],
                    bare_p[2],
                    bare_x[0],
                    bare_x[2],
                    ratio_p,
                    ratio_d,
                    ratio_x,
                    sum(stats[name][3] for name in SERVERS),
                    ms(serve_cpu[(command, c)]),
                    ms(cpu[("bot", command, c)]),
                    ms(cpu[("bare-pbr", command, c)]),
                    ms(cpu[("bare-durable", command, c)]),
                    ms(pg_cpu[("bot", command, c)]),
                    ms(pg_cpu[("bare-durable", command, c)]),
                ]
            )
            line[f"{command}_c{c}_p99_ms"] = bot[2]
            line[f"{command}_c{c}_p99_vs_pbr"] = ratio_p
            line[f"{command}_c{c}_p99_vs_default"] = ratio_d
            line[f"{command}_c{c}_p99_vs_durable"] = ratio_x
            line[f"{command}_c{c}_cpu_ms"] = ms(cpu[("bot", command, c)])
            line[f"{command}_c{c}_serve_cpu_ms"] = ms(serve_cpu[(command, c)])
            line[f"{command}_c{c}_pg_cpu_ms"] = ms(pg_cpu[("bot", command, c)])
        line[f"bare_pbr_c{c}_p99_ms"] = max(stats_p99(results, "bare-pbr", c))
        line[f"bare_default_c{c}_p99_ms"] = max(stats_p99(results, "bare-default", c))
        line[f"bare_durable_c{c}_p99_ms"] = max(stats_p99(results, "bare-durable", c))
    print()
    print(
        table(
            [
                "command",
                "conc",
                "bot p50",
                "p95",
                "p99",
                "def p50",
                "p99",
                "pbr p50",
                "p99",
                "dur p50",
                "p99",
                "p99 ×pbr",
                "p99 ×def",
                "p99 ×dur",
                "errors",
                "serve cpu",
                "bot cpu",
                "pbr cpu",
                "dur cpu",
                "pg: bot",
                "pg: dur",
            ],
            rows,
        )
    )
    print(
        "\nlatencies in ms; def / pbr / dur = bare Bolt in default mode / with"
        " process_before_response /\nwith process_before_response and one INSERT + COMMIT"
        " before ack(); ×pbr ×def ×dur = bot p99 ÷ theirs;\ncpu = server CPU ms per request:"
        " serve = the bot's serving process only, bot = serving process\nplus worker child"
        " (including the Slack calls each request owes), pbr / dur = the bare apps;\n"
        "pg = CPU ms per request of all PostgreSQL server processes during the bot's /"
        " the durable app's cell"
    )
    errors = sum(r[14] for r in rows)
    line["errors"] = errors
    line["slack_invalid"] = invalid
    print(bench_line("ack_latency", line))


def stats_p99(results: dict, name: str, c: int) -> list[float]:
    return [ms(percentile(results[(name, cmd, c)][0], 99)) for cmd in COMMANDS]


if __name__ == "__main__":
    asyncio.run(main())
