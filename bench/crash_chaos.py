"""Crash chaos: kill -9 the whole bot at random moments of a run, restart, finish.

    .venv/bin/python bench/crash_chaos.py [--trials 20] [--seed 1] [--answer-delay-ms 20]

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
the incident. ``OUTBOX_LEASE_SECONDS`` stays at its default (15 s): nothing
may wait it out. Counted over all trials:

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
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from _common import (
    SECRET,
    Process,
    RemoteCall,
    StandIn,
    asyncpg_dsn,
    bench_line,
    bot_argv,
    click_body,
    free_port,
    fresh_database,
    ms,
    percentile,
    pg_version,
    print_header,
    send,
    signer,
    step_button,
    table,
)

from bot.runs.blocks import APPROVE

STEPS = 18  # RB-04
MOMENTS = ("ack", "after", "reminder")
REMINDER = "time for a status update"
INTERVAL = "2"


def group_alive(pgid: int) -> bool:
    """Any live (non-zombie) process left in the process group."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if fields[0] != "Z" and int(fields[2]) == pgid:
                return True
    return False


class Bot:
    """The bot, killed and restarted as a whole (its own process group)."""

    def __init__(self, db_url: str, slack_url: str) -> None:
        self.port = free_port()
        self.env = {
            **os.environ,
            "SLACK_BOT_TOKEN": "xoxb-bench-token",
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": slack_url,
            "DATABASE_URL": db_url,
            "INCIDENT_CHANNELS": "incidents",
            "STATUS_UPDATE_INTERVAL": INTERVAL,
            "PORT": str(self.port),
            "HOST": "127.0.0.1",
            "LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
            "WORKER": "process",
        }
        self.env.pop("SLACK_APP_TOKEN", None)
        self.env.pop("OUTBOX_LEASE_SECONDS", None)
        self.proc: Process | None = None
        self.healthy_at = 0.0
        self.restart_seconds: list[float] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        began = time.monotonic()
        self.proc = Process(bot_argv(), self.env, self.port, "runbook-bot", new_session=True)
        async with aiohttp.ClientSession() as http:
            while True:
                if self.proc.proc.poll() is not None:
                    raise RuntimeError(f"the bot exited:\n{self.proc.log_tail()}")
                try:
                    async with http.get(self.url + "/healthz") as resp:
                        if resp.status == 200:
                            break
                except (aiohttp.ClientError, OSError):
                    pass
                if time.monotonic() - began > 60:
                    raise RuntimeError(f"the bot did not start:\n{self.proc.log_tail()}")
                await asyncio.sleep(0.01)
        self.healthy_at = time.monotonic()
        self.restart_seconds.append(self.healthy_at - began)

    async def kill(self) -> None:
        assert self.proc is not None
        pgid = self.proc.pid
        os.killpg(pgid, signal.SIGKILL)
        await asyncio.to_thread(self.proc.proc.wait)
        deadline = time.monotonic() + 15
        while group_alive(pgid):
            if time.monotonic() > deadline:
                raise RuntimeError("the worker outlived its group's SIGKILL")
            await asyncio.sleep(0.005)
        await self.proc.stop()

    async def stop(self) -> None:
        if self.proc is not None:
            await self.proc.stop()


class Watcher:
    """Polls the stand-in and indexes what the walk waits for."""

    def __init__(self, slack: StandIn) -> None:
        self.slack = slack
        self.updates: dict[str, RemoteCall] = {}  # message ts -> first chat.update
        self.steps: dict[str, RemoteCall] = {}  # "run:index" -> step message
        self.step_posts: Counter[str] = Counter()
        self.reminders: Counter[str] = Counter()  # "INC-n" -> reminder messages
        self._task: asyncio.Task[None] | None = None

    def _index(self, calls: list[RemoteCall]) -> None:
        for call in calls:
            if call.method == "chat.update":
                self.updates.setdefault(call.args.get("ts", ""), call)
            elif call.method == "chat.postMessage":
                value = step_button(call, APPROVE)
                if value is not None:
                    self.steps.setdefault(value, call)
                    self.step_posts[value] += 1
                text = str(call.args.get("text", ""))
                if REMINDER in text:
                    self.reminders[text.split(":", 1)[0]] += 1

    async def _poll(self) -> None:
        while True:
            self._index(await self.slack.refresh())
            await asyncio.sleep(0.003)

    def start(self) -> None:
        self._task = asyncio.create_task(self._poll())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def wait(self, table_: dict[str, RemoteCall], key: str, timeout: float = 60.0) -> Any:
        deadline = time.monotonic() + timeout
        while key not in table_:
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out waiting for {key}")
            await asyncio.sleep(0.002)
        return table_[key]


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
    n: int, rng: random.Random, http: aiohttp.ClientSession, bot: Bot, watcher: Watcher
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
    measure = False
    for index in range(STEPS):
        value = f"{run_id}:{index}"
        step = await watcher.wait(watcher.steps, value)
        if index == kill_step and moment == "reminder":
            seen = sum(watcher.reminders.values())
            deadline = time.monotonic() + 30
            while sum(watcher.reminders.values()) == seen:
                if time.monotonic() > deadline:
                    raise RuntimeError("no reminder came")
                await asyncio.sleep(0.002)
            await bot.kill()
            await bot.start()
            measure = True
        await click(http, bot, step, value)
        if index == kill_step and moment != "reminder":
            if delay:
                await asyncio.sleep(delay)
            await bot.kill()
            await bot.start()
            measure = True
            continue  # the next click is the first after the restart
        update = await watcher.wait(watcher.updates, step.ts)
        if measure:
            stall = update.at - bot.healthy_at
            measure = False
    return {"moment": moment, "step": kill_step, "delay": delay, "run": run_id, "stall": stall}


async def audit(db_url: str, watcher: Watcher, runs: list[int]) -> dict[str, int]:
    """Duplicates, lost decisions and doubled events, from Slack's and the database's view."""
    await watcher.slack.quiesce(quiet=1.0)
    calls = watcher.slack.calls
    posts = Counter(
        str(((c.args.get("metadata") or {}).get("event_payload") or {}).get("outbox_id"))
        for c in calls
        if c.method == "chat.postMessage"
    )
    unnamed = posts.pop("None", 0)
    duplicates = sum(n - 1 for n in posts.values() if n > 1) + unnamed
    duplicates += sum(n - 1 for n in watcher.step_posts.values() if n > 1)
    conn = await asyncpg.connect(asyncpg_dsn(db_url))
    try:
        lost = 0
        doubled = 0
        for run_id in runs:
            decided = await conn.fetchval(
                "SELECT count(DISTINCT step_index) FROM step_decisions WHERE run_id = $1", run_id
            )
            lost += STEPS - int(decided)
            for index in range(STEPS):
                step = watcher.steps.get(f"{run_id}:{index}")
                if step is None or step.ts not in watcher.updates:
                    lost += 1
            incident_id = await conn.fetchval("SELECT incident_id FROM runs WHERE id = $1", run_id)
            kinds = dict(
                await conn.fetch(
                    "SELECT kind, count(*) FROM timeline_events WHERE incident_id = $1 "
                    "GROUP BY kind",
                    incident_id,
                )
            )
            expected = {
                "incident_opened": 1,
                "runbook_started": 1,
                "step_approved": STEPS,
                "runbook_completed": 1,
                "incident_resolved": 1,
            }
            for kind, count in expected.items():
                got = int(kinds.get(kind, 0))
                doubled += max(0, got - count)
                lost += max(0, count - got)
            # Each recorded reminder has its one message, and no more.
            recorded = int(kinds.get("reminder_sent", 0))
            posted = watcher.reminders.get(f"INC-{incident_id}", 0)
            doubled += max(0, posted - recorded)
            lost += max(0, recorded - posted)
        owed = await conn.fetchval(
            "SELECT count(*) FROM slack_outbox WHERE state IN ('pending', 'failed')"
        )
        unacted = await conn.fetchval("SELECT count(*) FROM intake")
        looked_up = await conn.fetchval(
            "SELECT count(*) FROM slack_outbox WHERE in_doubt AND method = 'chat.postMessage'"
        )
    finally:
        await conn.close()
    lookups = [c for c in calls if c.method in ("conversations.replies", "conversations.history")]
    return {
        "duplicates": duplicates,
        "lost": lost + int(owed) + int(unacted),
        "doubled": doubled,
        "in_doubt": int(looked_up),
        "lookups": len(lookups),
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
                    result = await trial(n, rng, http, bot, watcher)
                    results.append(result)
                    incident = await incident_of(db_url, result["run"])
                    await command(http, bot, "/incident", f"resolve INC-{incident}")
                    extra = f" +{ms(result['delay']):.0f} ms" if result["moment"] == "after" else ""
                    print(
                        f"   trial {n + 1:2d}: killed at {result['moment']} (step "
                        f"{result['step'] + 1}{extra}); stall {ms(result['stall']):.0f} ms",
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
                "target_stall_ms": 2000,
                "met": "yes"
                if counts["duplicates"] == counts["lost"] == counts["doubled"] == 0
                and stall_max <= 2000
                else "no",
            },
        )
    )


async def incident_of(db_url: str, run_id: int) -> int:
    conn = await asyncpg.connect(asyncpg_dsn(db_url))
    try:
        return int(await conn.fetchval("SELECT incident_id FROM runs WHERE id = $1", run_id))
    finally:
        await conn.close()


if __name__ == "__main__":
    asyncio.run(main())
