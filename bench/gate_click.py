"""Gated vs ungated clicks: an Approve click on a step with an approval gate
against one on a step without, in the same runs (SPEC §7).

    .venv/bin/python bench/gate_click.py [--runs 6] [--steps 24]

``runbook-bot serve`` runs on a fresh PostgreSQL database with a runbook whose
steps alternate: no gate, ``[approval: commander]``, no gate,
``[approval: @oncall]`` (a user group: its members come from
``usergroups.users.list``, cached), … The clicker is the incident's commander
and a member of @oncall, so every click decides its step. Runs are walked one
at a time; for each click: the ack (request → response) and click → Slack
receiving the step's ``chat.update`` (the decision, made in the worker after
the gate check). The Slack stand-in runs in its own process.
The last line is ``BENCH gate_click ...``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from _common import (
    StandIn,
    bench_line,
    click_body,
    fresh_database,
    ms,
    percentile,
    print_header,
    send,
    signer,
    start_bot,
    table,
    worker_mode,
)
from click_to_update import Watcher

from bot.runs.blocks import APPROVE

CLICKER = "U0BENCH001"
GROUP = "S0ONCALL01"


def gate_of(index: int) -> str:
    return ("", "commander", "", "@oncall")[index % 4]


def write_runbook(folder: Path, steps: int) -> None:
    lines = []
    for n in range(1, steps + 1):
        gate = gate_of(n - 1)
        lines.append(
            f"{n}. Step {n}: check and confirm." + (f" [approval: {gate}]" if gate else "")
        )
    (folder / "RB-GATE.md").write_text(
        "---\nid: RB-GATE\ntitle: Gate bench\nseverity: SEV2\nrto: 60m\n---\n\n"
        "# Gate bench\n\n## Steps\n\n" + "\n".join(lines) + "\n"
    )


async def walk(
    http: aiohttp.ClientSession, url: str, watcher: Watcher, run_id: int, steps: int
) -> list[tuple[str, float, float]]:
    """Approve every step of one run: (gate, ack, click→update) per click."""
    out = []
    for index in range(steps):
        value = f"{run_id}:{index}"
        step = await watcher.wait(watcher.steps, value)
        body = click_body(step, APPROVE, value, user_id=CLICKER)
        sent = time.monotonic()
        status, ack, _ = await send(http, url, body)
        if status != 200:
            raise RuntimeError(f"click answered {status}")
        update = await watcher.wait(watcher.updates, step.ts)
        if "Approved" not in str(update.args.get("blocks")):
            raise RuntimeError(f"step {value} was not approved: {update.args.get('text')}")
        out.append((gate_of(index), ack, update.at - sent))
    return out


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--steps", type=int, default=24)
    args = parser.parse_args()
    print_header(
        f"gate click: {args.runs} runs × {args.steps} steps (¼ commander, ¼ @oncall, ½ no gate), "
        f"WORKER={worker_mode()}"
    )
    os.environ["BENCH_USERGROUPS"] = f"{GROUP}:oncall={CLICKER}"
    samples: list[tuple[str, float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_runbook(folder, args.steps)
        async with StandIn() as slack, fresh_database() as url:
            bot = await start_bot(url, slack.url, RUNBOOKS_DIR=str(folder))
            watcher = Watcher(slack)
            watcher.start()
            try:
                async with aiohttp.ClientSession() as http:
                    for n in range(args.runs):
                        await send(
                            http,
                            bot.url,
                            signer.slash_command(
                                "/runbook", f"start RB-GATE gate bench {n}", user_id=CLICKER
                            ),
                        )
                        await watcher.wait(watcher.steps, f"{n + 1}:0")
                        await send(
                            http,
                            bot.url,
                            signer.slash_command(
                                "/incident",
                                f"role INC-{n + 1} commander <@{CLICKER}>",
                                user_id=CLICKER,
                            ),
                        )
                        samples += await walk(http, bot.url, watcher, n + 1, args.steps)
            finally:
                await watcher.stop()
                await bot.stop()
    rows = []
    summary: dict[str, dict[str, float]] = {}
    for label, gates in (
        ("no gate", {""}),
        ("commander", {"commander"}),
        ("@oncall", {"@oncall"}),
        ("any gate", {"commander", "@oncall"}),
    ):
        acks = [a for g, a, _ in samples if g in gates]
        updates = [u for g, _, u in samples if g in gates]
        summary[label] = {
            "ack_p50": statistics.median(acks),
            "ack_p90": percentile(acks, 90),
            "update_p50": statistics.median(updates),
            "update_p90": percentile(updates, 90),
        }
        s = summary[label]
        rows.append(
            [
                label,
                len(acks),
                ms(s["ack_p50"]),
                ms(s["ack_p90"]),
                ms(s["update_p50"]),
                ms(s["update_p90"]),
            ]
        )
    print()
    print(
        table(
            ["step", "clicks", "ack p50 ms", "ack p90 ms", "update p50 ms", "update p90 ms"], rows
        )
    )
    base, gated = summary["no gate"], summary["any gate"]
    line: dict[str, Any] = {"worker": worker_mode(), "clicks": len(samples)}
    for key in ("ack_p50", "update_p50", "update_p90"):
        line[f"ungated_{key}_ms"] = ms(base[key])
        line[f"gated_{key}_ms"] = ms(gated[key])
        line[f"{key}_ratio"] = gated[key] / base[key]
    line["met"] = (
        "yes" if line["ack_p50_ratio"] <= 1.1 and line["update_p50_ratio"] <= 1.1 else "no"
    )
    print("\nack = request → response; update = click → the step's chat.update at the stand-in")
    print(bench_line("gate_click", line))


if __name__ == "__main__":
    asyncio.run(main())
