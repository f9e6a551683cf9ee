"""Run clicks: from a Run click to the step shown running, from the action's end
to its result shown, and a Run click's ack against an Approve click's.

    .venv/bin/python bench/action_run.py [--runs 2] [--pairs 8] [--think 2.5]

``runbook-bot serve`` (with its worker child) runs on a fresh PostgreSQL
database with a runbook whose steps alternate: a plain step (clicked Approve)
and a step with an action (clicked Run), the action a real program
(``echo``, no shell). The Slack stand-in runs in its own process with Slack's
pace on, and stamps each call's arrival (``time.monotonic()`` and wall time).

- *running shown*: the click's request sent → the ``chat.update`` of the
  clicked step saying "running" arrives at Slack;
- *result shown*: the execution's ``ended_at`` (the database's, wall clock) →
  the ``chat.update`` of the step saying it was approved arrives;
- *ack*: the click's HTTP answer, Run and Approve clicks of the same runs,
  interleaved; their p50 ratio must stay ≤ 1.1 (a Run click commits one
  intake row, as Approve does: the action starts in the worker after).

The responder thinks ``--think`` seconds between clicks: Slack's Tier 3
(``chat.update``, 50 a minute) is the floor otherwise. The last line is
``BENCH action_run ...``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from _common import (
    Poller,
    RemoteCall,
    StandIn,
    asyncpg_dsn,
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
    step_button,
    table,
    worker_mode,
)

from bot.runs.blocks import APPROVE, RUN

RATIO_LIMIT = 1.1
RUN_COMMAND = "start RB-A action bench {i}"


class Watcher(Poller):
    """Indexes steps by their button value and every chat.update by message ts."""

    def __init__(self, slack: StandIn) -> None:
        super().__init__(slack)
        self.steps: dict[str, RemoteCall] = {}
        self.running: dict[str, RemoteCall] = {}  # ts -> first "running" update
        self.decided: dict[str, RemoteCall] = {}  # ts -> first "approved" update

    def _index(self, calls: list[RemoteCall]) -> None:
        for call in calls:
            if call.method == "chat.update":
                ts = call.args.get("ts", "")
                text = str(call.args.get("text", ""))
                if "running — started by" in text:
                    self.running.setdefault(ts, call)
                elif "approved by" in text:
                    self.decided.setdefault(ts, call)
            elif call.method == "chat.postMessage":
                value = step_button(call, APPROVE)
                if value is not None:
                    self.steps.setdefault(value, call)


def write_runbook(folder: Path, pairs: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for n in range(pairs):
        lines.append(f"{2 * n + 1}. Look at the graphs ({n + 1}).")
        lines.append(f"{2 * n + 2}. Flush the cache ({n + 1}). [run: flush]")
    (folder / "RB-A.md").write_text(
        "---\nid: RB-A\ntitle: Actions bench\nseverity: SEV2\n---\n\n# Actions bench\n\n"
        "## Steps\n\n" + "\n".join(lines) + "\n"
    )
    echo = shutil.which("echo") or "/bin/echo"
    action = {"id": "flush", "kind": "command", "argv": [echo, "flushed {incident}"]}
    (folder / "actions.yaml").write_text(json.dumps({"actions": [action]}))


async def walk(
    http: aiohttp.ClientSession, url: str, watcher: Watcher, run_id: int, steps: int, think: float
) -> tuple[list[float], list[tuple[float, float, str]]]:
    """Approve the odd steps, Run the even ones: (approve acks, [(ack, to running, ts)])."""
    approves: list[float] = []
    runs: list[tuple[float, float, str]] = []
    for index in range(steps):
        value = f"{run_id}:{index}"
        step = await watcher.wait(watcher.steps, value)
        await asyncio.sleep(think if index else 0.0)
        action = RUN if index % 2 else APPROVE
        body = click_body(step, action, value)
        sent = time.monotonic()
        status, ack, _ = await send(http, url, body)
        if status != 200:
            raise RuntimeError(f"click answered {status}")
        if action == APPROVE:
            approves.append(ack)
        else:
            running = await watcher.wait(watcher.running, step.ts)
            runs.append((ack, running.at - sent, step.ts))
        await watcher.wait(watcher.decided, step.ts)
        if index + 1 < steps:
            await watcher.wait(watcher.steps, f"{run_id}:{index + 1}")
    return approves, runs


async def ended_at(db_url: str) -> dict[tuple[int, int], float]:
    """(run, step) → the execution's end, wall-clock seconds (the database's record)."""
    import asyncpg

    conn = await asyncpg.connect(asyncpg_dsn(db_url))
    try:
        rows = await conn.fetch(
            "SELECT run_id, step_index, state, EXTRACT(EPOCH FROM ended_at) AS ended "
            "FROM executions"
        )
    finally:
        await conn.close()
    bad = [r for r in rows if r["state"] != "succeeded"]
    if bad:
        raise RuntimeError(f"{len(bad)} executions did not succeed")
    return {(r["run_id"], r["step_index"]): float(r["ended"]) for r in rows}


def row(name: str, values: list[float]) -> list[Any]:
    return [
        name,
        len(values),
        ms(percentile(values, 50)),
        ms(percentile(values, 99)),
        ms(max(values)),
    ]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=2, help="runs walked one after another")
    parser.add_argument("--pairs", type=int, default=8, help="Approve + Run step pairs per run")
    parser.add_argument("--think", type=float, default=2.5, help="seconds before each click")
    args = parser.parse_args()
    steps = 2 * args.pairs
    print_header(
        f"Run clicks (RB-A, {steps} steps: Approve / Run alternating), WORKER={worker_mode()}"
    )
    folder = Path(tempfile.mkdtemp(prefix="runbook-bench-actions-")) / "runbooks"
    write_runbook(folder, args.pairs)
    approves: list[float] = []
    runs: list[tuple[int, int, float, float, str]] = []
    async with StandIn() as slack, fresh_database(migrate=False) as db_url:
        print(f"   PostgreSQL {await pg_version(db_url)}; bot, stand-in, load apart")
        bot = await start_bot(db_url, slack.url, RUNBOOKS_DIR=str(folder))
        watcher = Watcher(slack)
        watcher.start()
        try:
            async with aiohttp.ClientSession() as http:
                (warm,) = await start_runs(http, bot.url, watcher.steps, RUN_COMMAND, 1)
                await walk(http, bot.url, watcher, warm, 4, args.think)  # not measured
                ids = await start_runs(http, bot.url, watcher.steps, RUN_COMMAND, args.runs)
                await bot.settle()
                for run_id in ids:
                    a, r = await walk(http, bot.url, watcher, run_id, steps, args.think)
                    approves += a
                    runs += [(run_id, 2 * n + 1, *sample) for n, sample in enumerate(r)]
                await bot.settle()
            ends = await ended_at(db_url)
        finally:
            await watcher.stop()
            await bot.stop()
    run_acks = [r[2] for r in runs]
    to_running = [r[3] for r in runs]
    to_result = [
        watcher.decided[ts].wall - ends[(run_id, index)] for run_id, index, _, _, ts in runs
    ]
    rows = [
        row("Approve click ack", approves),
        row("Run click ack", run_acks),
        row("Run click → running shown", to_running),
        row("action end → result shown", to_result),
    ]
    print()
    print(table(["what", "n", "p50 ms", "p99 ms", "max ms"], rows))
    ratio = percentile(run_acks, 50) / percentile(approves, 50)
    print(f"\nRun ack p50 / Approve ack p50 = {ratio:.3f} (limit {RATIO_LIMIT})")
    print("ms; acks from sending the click to its HTTP answer; shown = the chat.update arrives at")
    print(
        "Slack's stand-in (Slack's pace on); action end = the execution's ended_at in the database"
    )
    line = {
        "worker": worker_mode(),
        "runs": len(runs),
        "running_p50_ms": rows[2][2],
        "running_p99_ms": rows[2][3],
        "result_p50_ms": rows[3][2],
        "result_p99_ms": rows[3][3],
        "approve_ack_p50_ms": rows[0][2],
        "run_ack_p50_ms": rows[1][2],
        "run_ack_p99_ms": rows[1][3],
        "ack_ratio": round(ratio, 3),
        "share_429": round(slack.refused_share(), 4),
        "met": "yes" if ratio <= RATIO_LIMIT else "no",
    }
    print(bench_line("action_run", line))


if __name__ == "__main__":
    asyncio.run(main())
