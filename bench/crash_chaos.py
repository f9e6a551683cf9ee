"""Crash chaos: kill -9 the whole bot at random moments of a run, restart, finish.

    .venv/bin/python bench/crash_chaos.py [--trials 20] [--seed 1] [--answer-delay-ms 20]
        [--think 2.5]

``runbook-bot serve`` (with its worker child, ``WORKER=process``) runs on a
fresh PostgreSQL database against the Slack stand-in in its own process,
which answers ``chat.postMessage`` / ``chat.update`` ``--answer-delay-ms``
after carrying them out (Slack's own latency: the window in which a killed
bot's message is posted but the bot has not heard back). Each trial starts a
run of RB-04 (18 steps) and walks it; at one random step it kills the bot's
process group (``SIGKILL``: serve and worker at once) at one of three moments,
in turn:

- ``ack``: right after a click's acknowledgement;
- ``after``: 0–300 ms after a click's acknowledgement (random);
- ``reminder``: the moment a status-update reminder reaches Slack
  (``STATUS_UPDATE_INTERVAL=2``);

then starts it again, clicks on, walks the run to completion and resolves
the incident. The responder clicks ``--think`` seconds after a step's update
arrives: Slack's pace is on (the stand-in's default), and every click owes
two ``chat.update`` (the step, the run message) out of the 50 a minute Slack
allows a workspace, so clicking any faster than one every ~2.5 s for long
would measure Slack's queue, not a restart. ``OUTBOX_LEASE_SECONDS`` stays
at its default (15 s): nothing may wait it out. Counted over all trials:

- duplicates: messages posted more than once (every post names its outbox
  row in its metadata; a step index posted twice counts too);
- lost: decisions acknowledged but missing (18 per run, each step message
  updated), intake items or outbox rows left pending or failed;
- doubled: timeline events recorded twice (one ``step_approved`` per step,
  one start, completion, resolve per run) and reminders recorded without
  their message or posted without their record;
- stall: from ``/healthz`` answering after the restart to Slack receiving
  the update of the first step clicked after it (p50, max; target ≤ 2 s).

The last line is ``BENCH crash_chaos ...``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import time
from collections import Counter
from typing import Any

import aiohttp
from _chaos_bot import Bot
from _chaos_check import STEPS, Watcher, audit, incident_of
from _common import (
    RemoteCall,
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
    table,
)

from bot.runs.blocks import APPROVE

MOMENTS = ("ack", "after", "reminder")


async def click(http: aiohttp.ClientSession, bot: Bot, step: RemoteCall, value: str) -> None:
    for _ in range(50):  # a restart in progress refuses the connection: try again
        try:
            status, _, _ = await send(http, bot.url, click_body(step, APPROVE, value))
        except (aiohttp.ClientError, OSError):
            await asyncio.sleep(0.05)
            continue
        if status != 200:
            raise RuntimeError(f"click answered {status}")
        return
    raise RuntimeError("the bot did not take the click")


async def command(http: aiohttp.ClientSession, bot: Bot, name: str, text: str) -> None:
    status, _, _ = await send(http, bot.url, signer.slash_command(name, text))
    if status != 200:
        raise RuntimeError(f"{name} {text} answered {status}")


async def trial(
    n: int,
    rng: random.Random,
    http: aiohttp.ClientSession,
    bot: Bot,
    watcher: Watcher,
    think: float,
) -> dict[str, Any]:
    moment = MOMENTS[n % len(MOMENTS)]
    kill_step = rng.randrange(0, STEPS - 1)  # a step with one after it
    delay = rng.uniform(0.0, 0.3) if moment == "after" else 0.0
    known = set(watcher.steps)
    await command(http, bot, "/runbook", f"start RB-04 chaos trial {n}")
    deadline = time.monotonic() + 60
    while not (new := [k for k in watcher.steps if k not in known and k.endswith(":0")]):
        if time.monotonic() > deadline:
            raise RuntimeError("the run did not post its first step")
        await asyncio.sleep(0.005)
    run_id = int(new[0].split(":")[0])
    stall: float | None = None
    killed_at = 0.0
    measure = False
    for index in range(STEPS):
        value = f"{run_id}:{index}"
        step = await watcher.wait(watcher.steps, value)
        # Right after a restart the responder clicks at once: the stall is the bot's.
        await asyncio.sleep(think if index and not measure else 0.0)
        if index == kill_step and moment == "reminder":
            seen = sum(watcher.reminders.values())
            deadline = time.monotonic() + 30
            while sum(watcher.reminders.values()) == seen:
                if time.monotonic() > deadline:
                    raise RuntimeError("no reminder came")
                await asyncio.sleep(0.002)
            killed_at = time.monotonic()
            await bot.kill()
            await bot.start()
            measure = True
        await click(http, bot, step, value)
        if index == kill_step and moment != "reminder":
            if delay:
                await asyncio.sleep(delay)
            killed_at = time.monotonic()
            await bot.kill()
            await bot.start()
            measure = True
            continue  # the next click is the first after the restart
        update = await watcher.wait(watcher.updates, step.ts)
        if measure:
            stall = update.at - bot.healthy_at
            measure = False
    return {
        "moment": moment,
        "step": kill_step,
        "delay": delay,
        "run": run_id,
        "stall": stall,
        "killed_at": killed_at,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--answer-delay-ms",
        type=float,
        default=20.0,
        help="how late the stand-in answers chat.postMessage / chat.update",
    )
    parser.add_argument(
        "--think", type=float, default=2.5, help="seconds between a step's update and its click"
    )
    args = parser.parse_args()
    print_header(f"crash chaos: {args.trials} trials, seed {args.seed}, WORKER=process")
    rng = random.Random(args.seed)
    os.environ["BENCH_ANSWER_DELAY_MS"] = str(args.answer_delay_ms)
    results: list[dict[str, Any]] = []
    async with StandIn() as slack, fresh_database(migrate=False) as db_url:
        print(
            f"   PostgreSQL {await pg_version(db_url)}; Slack answers writes "
            f"{args.answer_delay_ms:.0f} ms after carrying them out"
        )
        bot = Bot(db_url, slack.url)
        await bot.start()
        watcher = Watcher(slack)
        watcher.start()
        try:
            async with aiohttp.ClientSession() as http:
                for n in range(args.trials):
                    result = await trial(n, rng, http, bot, watcher, args.think)
                    results.append(result)
                    incident = await incident_of(db_url, result["run"])
                    await command(http, bot, "/incident", f"resolve INC-{incident}")
                    extra = f" +{ms(result['delay']):.0f} ms" if result["moment"] == "after" else ""
                    print(
                        f"   trial {n + 1:2d}: killed at {result['moment']} (step "
                        f"{result['step'] + 1}{extra}) at {result['killed_at']:.3f}; "
                        f"stall {ms(result['stall']):.0f} ms",
                        flush=True,
                    )
                counts = await audit(db_url, watcher, [r["run"] for r in results])
        finally:
            await watcher.stop()
            await bot.stop()

    stalls = [r["stall"] for r in results if r["stall"] is not None]
    by_moment = Counter(r["moment"] for r in results)
    rows = [
        [
            m,
            by_moment[m],
            ms(percentile([r["stall"] for r in results if r["moment"] == m], 50)),
            ms(max(r["stall"] for r in results if r["moment"] == m)),
        ]
        for m in MOMENTS
        if by_moment[m]
    ]
    print()
    print(table(["killed at", "trials", "stall p50", "stall max"], rows))
    print(
        f"\nrestart (spawn to /healthz 200): p50 {percentile(bot.restart_seconds, 50):.2f} s; "
        f"messages in doubt after a kill: {counts['in_doubt']} "
        f"({counts['lookups']} lookups at Slack)"
    )
    print(f"duplicates {counts['duplicates']}, lost {counts['lost']}, doubled {counts['doubled']}")
    stall_max = ms(max(stalls)) if stalls else float("nan")
    print(
        bench_line(
            "crash_chaos",
            {
                "trials": len(results),
                "seed": args.seed,
                "duplicates": counts["duplicates"],
                "lost": counts["lost"],
                "doubled": counts["doubled"],
                "stall_p50_ms": ms(percentile(stalls, 50)),
                "stall_max_ms": stall_max,
                "in_doubt": counts["in_doubt"],
                "lookups": counts["lookups"],
                "think_s": args.think,
                "share_429": round(slack.refused_share(), 4),
                "target_stall_ms": 2000,
                "met": "yes"
                if counts["duplicates"] == counts["lost"] == counts["doubled"] == 0
                and stall_max <= 2000
                else "no",
            },
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
