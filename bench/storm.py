"""Storm: one incident channel at Slack's real pace — reminders, clicks and an alert burst at once.

    .venv/bin/python bench/storm.py [--incidents 50] [--runs 10] [--steps 6]
        [--think 20,40] [--calls 100] [--per-call 10] [--groups 10] [--spread 30]

``runbook-bot serve`` on a fresh PostgreSQL database; the Slack stand-in in
its own process with Slack's limits on (about one post a second per channel,
a burst of 4; ``chat.update`` Tier 3, 50 a minute for the whole workspace),
stamping each call's arrival with time.monotonic() (one clock for every
process). Everything happens in ONE channel, the incident channel (alerts go
there too):

- ``--incidents`` open incidents reminding every 30 s
  (``STATUS_UPDATE_INTERVAL=30``): the ``--runs`` runs' own incidents, plus
  the rest written into the database before the bot starts, as
  ``bench/reminder_scale.py`` does, with their first reminders due evenly
  over the first interval (declaring them through Slack would cost a post
  each at ~1/s, and their reminders would start before the channel went
  quiet). 50 reminders every 30 s are 1.7 posts a second: more than the
  channel takes, so reminders back up for the whole run by design (a
  reminder still waiting stands for the next one: ``reminder_joined``).
- ``--runs`` runs of a ``--steps``-step runbook (a temporary RUNBOOKS_DIR),
  each clicked through by its own simulated responder, who clicks Approve a
  think time (uniform in ``--think`` seconds, seeded) after the step
  appears at Slack. Why 20–40 s: every click owes two ``chat.update``
  (the step, and the run message's progress) and Slack allows 50 a minute
  for the whole workspace, so no bot can update more than ~0.4 clicks a
  second within 2 s; ten responders at 20–40 s are ~0.3 clicks a second —
  busy, but a pace humans reach.
- ``--calls`` Alertmanager webhook calls of ``--per-call`` new firing
  alerts each, ``--groups`` groups (call i → group i % groups), spread
  evenly over ``--spread`` seconds starting once the runs are under way.

Measured (stand-in arrival − click sent): click → the step's ``chat.update``,
click → the next step's ``chat.postMessage``; the 429 share of every call the
stand-in received; messages posted; quiet = from the last input (click or
webhook call) to the last call the storm owed (everything but reminders:
those never stop while 50 incidents remind faster than the channel takes).
Audited: every alert counted in its group's last message; every click's
update and next step arrived; every reminder the bot decided on
(``reminder_sent``) posted once or still in the outbox, every due time
claimed; no outbox row posted twice (metadata ``outbox_id``); no row failed.
The last line is ``BENCH storm …``.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
from _common import (
    INC_RE,
    ROOT,
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
    start_bot,
    start_runs,
    table,
    worker_mode,
)
from _storm_db import CHANNEL, INTERVAL, explain_slow, outbox_states, reminder_audit, seed
from alert_burst import TOKEN, alert, burst, delivery, shown_count
from click_to_update import Watcher

from bot.runs.blocks import APPROVE

REMINDER = "time for a status update"
RUNBOOK = "RB-90"


def runbook_text(steps: int) -> str:
    body = "\n\n".join(
        f"{i}. **Check thing {i}.** Look at dashboard {i}." for i in range(1, steps + 1)
    )
    return (
        f"---\nid: {RUNBOOK}\ntitle: Storm drill\nowner: Bench\nseverity: Maintenance\n---\n\n"
        f"# Storm drill\n\nA short runbook for the storm benchmark.\n\n## Steps\n\n{body}\n"
    )


class Storm(Watcher):
    """Steps and first updates (``Watcher``), plus posts by outbox id, the
    group messages' counts and the calls that were not reminders."""

    def __init__(self, slack: StandIn) -> None:
        super().__init__(slack)
        self.outbox_posts: Counter[str] = Counter()
        self.reminders: Counter[int] = Counter()  # incident id → reminder posts
        self.group_of_ts: dict[str, str] = {}  # group message ts → lead fingerprint
        self.group_shown: dict[str, int] = {}  # lead → firing count of its last message
        self.posted = 0
        self.completions = 0  # completion posts (thread and channel: two per run)
        self.last_owed = 0.0  # arrival of the last call that was not a reminder

    def _index(self, calls: list[RemoteCall]) -> None:
        super()._index(calls)
        for call in calls:
            text = str(call.args.get("text", ""))
            is_reminder = call.method == "chat.postMessage" and REMINDER in text
            if not is_reminder and call.method.startswith("chat."):
                self.last_owed = max(self.last_owed, call.at)
            if call.method == "chat.update" and call.args.get("ts") in self.group_of_ts:
                self.group_shown[self.group_of_ts[call.args["ts"]]] = shown_count(text)
            if call.method != "chat.postMessage":
                continue
            self.posted += 1
            self.completions += f"{RUNBOOK} completed for" in text
            meta = (call.args.get("metadata") or {}).get("event_payload") or {}
            self.outbox_posts[str(meta.get("outbox_id"))] += 1
            if is_reminder and (found := INC_RE.search(text)):
                self.reminders[int(found.group(1))] += 1
            if fingerprint := meta.get("fingerprint"):
                self.group_of_ts[call.ts] = fingerprint
                self.group_shown[fingerprint] = shown_count(text)


async def respond(
    http: aiohttp.ClientSession,
    url: str,
    storm: Storm,
    run_id: int,
    steps: int,
    think: tuple[float, float],
    rng: random.Random,
    samples: list[tuple[float, float]],
    missing: list[str],
    slow: list[tuple[str, str, float]],
) -> float:
    """One responder walks one run; returns when it sent its last click."""
    last = 0.0
    for index in range(steps):
        value = f"{run_id}:{index}"
        step = await storm.wait(storm.steps, value, timeout=180)
        await asyncio.sleep(max(0.0, step.at + rng.uniform(*think) - time.monotonic()))
        sent = last = time.monotonic()
        status, _, _ = await send(http, url, click_body(step, APPROVE, value, user_id=f"U{run_id}"))
        if status != 200:
            raise RuntimeError(f"click answered {status}")
        try:
            update = (await storm.wait(storm.updates, step.ts, timeout=180)).at - sent
        except RuntimeError:
            missing.append(f"update of {value}")
            update = float("nan")
        to_next = float("nan")
        if index + 1 < steps:
            try:
                to_next = (await storm.wait(storm.steps, f"{run_id}:{index + 1}", 180)).at - sent
            except RuntimeError:
                missing.append(f"step {run_id}:{index + 1}")
                return last
        samples.append((update, to_next))
        if not update < 2.0:
            slow.append((value, step.ts, sent))
    return last


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--incidents", type=int, default=50, help="open incidents reminding")
    parser.add_argument("--runs", type=int, default=10, help="runs, one responder each")
    parser.add_argument("--steps", type=int, default=6, help="steps per run")
    parser.add_argument("--think", default="20,40", help="think time range, seconds")
    parser.add_argument("--calls", type=int, default=100, help="webhook calls")
    parser.add_argument("--per-call", type=int, default=10, help="alerts per call")
    parser.add_argument("--groups", type=int, default=10, help="Alertmanager groups")
    parser.add_argument("--spread", type=float, default=30.0, help="seconds the calls span")
    parser.add_argument("--seed", type=int, default=1)
    return parser.parse_args()


async def alerts_during(
    http: aiohttp.ClientSession, url: str, args: argparse.Namespace, delay: float
) -> tuple[list[float], dict[str, int]]:
    """The webhook calls, ``delay`` seconds from now; (send times, lead → firing owed)."""
    await asyncio.sleep(delay)
    nonce = uuid.uuid4().hex[:8]
    total = args.calls * args.per_call
    alerts = [alert(n, nonce) for n in range(total)]
    chunks = [alerts[i : i + args.per_call] for i in range(0, total, args.per_call)]
    bodies = [delivery(c, i % args.groups) for i, c in enumerate(chunks)]
    owed: dict[str, int] = {}
    for i in range(len(chunks)):
        lead = chunks[i % args.groups][0]["fingerprint"]
        owed[lead] = owed.get(lead, 0) + args.per_call
    sent, _ = await burst(http, url, bodies, args.calls / args.spread)
    return sent, owed


async def wait_owed(
    storm: Storm, owed: dict[str, int], runs: int, last_input: float, timeout: float
) -> None:
    """Until every group message shows all its alerts, every run's completion
    is in, and nothing but reminders has arrived for 5 s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        shown = all(storm.group_shown.get(lead, 0) >= n for lead, n in owed.items())
        done = shown and storm.completions >= 2 * runs
        if done and time.monotonic() - max(storm.last_owed, last_input) >= 5.0:
            return
        await asyncio.sleep(0.2)


async def main() -> None:
    args = parse_args()
    think = tuple(float(x) for x in args.think.split(","))
    assert len(think) == 2
    seeded = args.incidents - args.runs
    print_header(
        f"storm in one channel: {args.incidents} incidents reminding every {INTERVAL:g}s, "
        f"{args.runs} runs × {args.steps} steps clicked {think[0]:g}–{think[1]:g}s apart, "
        f"{args.calls * args.per_call} alerts in {args.calls} calls over {args.spread:g}s; "
        f"Slack's limits on; WORKER={worker_mode()}"
    )
    rng = random.Random(args.seed)
    books = Path(tempfile.mkdtemp(prefix="storm-runbooks-"))
    for md in (ROOT / "runbooks").glob("RB-*.md"):
        shutil.copy(md, books / md.name)
    (books / f"{RUNBOOK}.md").write_text(runbook_text(args.steps))
    samples: list[tuple[float, float]] = []
    slow: list[tuple[str, str, float]] = []  # (run:index, step ts, click sent)
    missing: list[str] = []
    async with StandIn() as slack, fresh_database() as db_url:
        print(f"   PostgreSQL {await pg_version(db_url)}; bot, Slack stand-in and load generator")
        print("   in separate processes")
        await seed(db_url, seeded, datetime.now(UTC) + timedelta(seconds=20))
        bot = await start_bot(
            db_url,
            slack.url,
            STATUS_UPDATE_INTERVAL=str(INTERVAL),
            ALERT_WEBHOOK_TOKEN=TOKEN,
            ALERT_CHANNEL=CHANNEL,
            RUNBOOKS_DIR=str(books),
        )
        storm = Storm(slack)
        storm.start()
        try:
            async with aiohttp.ClientSession() as http:
                runs = await start_runs(
                    http, bot.url, storm.steps, f"start {RUNBOOK} storm run {{i}}", args.runs, 120
                )
                print(f"   {len(runs)} runs posted their first step; responders start")
                window = time.monotonic()
                alerts = asyncio.create_task(alerts_during(http, bot.url, args, think[0]))
                lasts = await asyncio.gather(
                    *(
                        respond(
                            http, bot.url, storm, r, args.steps, think, rng, samples, missing, slow
                        )
                        for r in runs
                    )
                )
                sent, owed = await alerts
                last_input = max([*lasts, *sent])
                await wait_owed(storm, owed, len(runs), last_input, timeout=180)
                storm.catch_up()
                quiet = storm.last_owed - last_input
                span = time.monotonic() - window
        finally:
            await storm.stop()
            stopped = datetime.now(UTC)
            log = bot.log_tail(5000).splitlines()
            await bot.stop()
            shutil.rmtree(books, ignore_errors=True)
        await slack.refresh()
        storm.catch_up()
        decided, lost_reminders, overdue = await reminder_audit(db_url, storm, stopped)
        states = await outbox_states(db_url)
        await explain_slow(db_url, storm, slow)
    retried = [line for line in log if "429" in line or "rate" in line.lower()]
    if retried:
        print(f"\n{len(retried)} bot log lines about Slack's pace; the first few:")
        print("\n".join(retried[:5]))
    updates = [s[0] for s in samples]
    nexts = [s[1] for s in samples if s[1] == s[1]]
    short = {lead: (storm.group_shown.get(lead, 0), n) for lead, n in owed.items()}
    lost_alerts = sum(max(0, n - shown) for shown, n in short.values())
    unnamed = storm.outbox_posts.pop("None", 0)
    duplicates = sum(n - 1 for n in storm.outbox_posts.values() if n > 1) + unnamed
    lost = len(missing) + lost_alerts + lost_reminders + overdue + states.get("failed", 0)
    print()
    print(
        table(
            ["", "n", "p50", "p90", "p99", "max"],
            [
                [name, len(xs), *(ms(percentile(xs, p)) for p in (50, 90, 99)), ms(max(xs))]
                for name, xs in (("click → update", updates), ("click → next step", nexts))
            ],
        )
    )
    print("\nms from sending the click to the call's arrival at the Slack stand-in")
    print(
        f"calls received {slack.received}, 429 {slack.rate_limited} "
        f"({100 * slack.refused_share():.2f} %) by method {slack.rate_limited_by_method}, "
        f"retried before Retry-After {slack.retried_early}"
    )
    print(
        f"posted {storm.posted} ({sum(storm.reminders.values())} reminders); "
        f"storm span {span:.1f} s; quiet {quiet:.1f} s after the last input"
    )
    print(f"alerts: {len(owed)} groups, shown/owed {sorted(short.values())}; lost {lost_alerts}")
    print(
        f"reminders decided {decided}, lost {lost_reminders}, overdue unclaimed {overdue}; "
        f"outbox {dict(states)}; missing {missing[:5]}"
    )
    met = (
        ms(percentile(updates, 99)) < 2000
        and ms(percentile(nexts, 99)) < 2000
        and slack.refused_share() < 0.02
        and lost == 0
        and duplicates == 0
    )
    print(
        bench_line(
            "storm",
            {
                "click_update_p99_ms": ms(percentile(updates, 99)),
                "click_next_p99_ms": ms(percentile(nexts, 99)),
                "share_429": round(slack.refused_share(), 4),
                "posted": storm.posted,
                "quiet_s": round(quiet, 1),
                "lost": lost,
                "duplicates": duplicates,
                "worker": worker_mode(),
                "clicks": len(samples),
                "click_update_p50_ms": ms(percentile(updates, 50)),
                "click_next_p50_ms": ms(percentile(nexts, 50)),
                "received": slack.received,
                "rate_limited": slack.rate_limited,
                "reminders_posted": sum(storm.reminders.values()),
                "reminders_decided": decided,
                "alerts": args.calls * args.per_call,
                "met": "yes" if met else "no",
            },
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
