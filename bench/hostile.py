"""Hostile runbook folder: does it slow the bot's start or swell its memory?

``runbook-bot serve`` (PostgreSQL, the Slack stand-in) is started on two
folders, alternately, several times each:

- ``bundled``: the bundled library (``runbooks/``) alone;
- ``hostile``: the same library plus a YAML alias bomb in a front matter, a
  FIFO named ``x.md``, a symbolic link to /dev/zero named ``y.md``, a 50 MB
  file and a 100,000-step file.

Measured per start: the ready time (from spawning the process until /healthz
answers 200) and the peak memory of the process tree (VmHWM of ``serve`` and
of its worker child, summed), read from /proc once it has settled.

Run: .venv/bin/python bench/hostile.py [--runs 3]   (or ``make bench-hostile``)
The last line says whether the hostile folder stays within 1.2× of the
bundled library on both (medians).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import aiohttp
from _common import (
    ROOT,
    SECRET,
    StandIn,
    bench_line,
    descendants,
    free_port,
    fresh_database,
    print_header,
    table,
)
from _process import Process, _peak_rss_mb

LIMIT = 1.2
BOMB = """---
id: RB-BOMB
title: Alias bomb
a: &a ["x","x","x","x","x","x","x","x","x"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
---
# Alias bomb

## Mitigation

1. Nothing.
"""


def bundled(into: Path) -> Path:
    folder = into / "bundled"
    shutil.copytree(ROOT / "runbooks", folder)
    return folder


def hostile(into: Path) -> Path:
    folder = into / "hostile"
    shutil.copytree(ROOT / "runbooks", folder)
    (folder / "bomb.md").write_text(BOMB)
    os.mkfifo(folder / "x.md")  # opened for reading, it would block for ever
    (folder / "y.md").symlink_to("/dev/zero")  # endless
    with (folder / "big.md").open("wb") as big:  # 50 MB
        big.write(b"---\nid: RB-BIG\ntitle: Big\n---\n# Big\n\n## Mitigation\n\n1. x\n")
        big.write(b"a" * (50 * 1024 * 1024))
    steps = "".join(f"{n}. x\n" for n in range(1, 100_001))
    (folder / "long.md").write_text(
        f"---\nid: RB-LONG\ntitle: Long\n---\n# Long\n\n## Mitigation\n\n{steps}"
    )
    return folder


def tree_peak_mb(pid: int) -> float:
    return sum(_peak_rss_mb(p) for p in (pid, *descendants(pid)))


async def one_start(folder: Path, database_url: str, slack_url: str) -> tuple[float, float]:
    """(seconds until /healthz answered 200, peak MB of the process tree)."""
    port = free_port()
    env = {
        **os.environ,
        "SLACK_BOT_TOKEN": "xoxb-bench-token",
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": slack_url,
        "DATABASE_URL": database_url,
        "INCIDENT_CHANNELS": "incidents",
        "RUNBOOKS_DIR": str(folder),
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
        "WORKER": "process",
    }
    env.pop("SLACK_APP_TOKEN", None)
    argv = [str(Path(sys.executable).parent / "runbook-bot"), "serve"]
    started = time.monotonic()
    bot = Process(argv, env, port, "runbook-bot")
    bot.expect_children = 1
    try:
        ready = await until_healthy(bot, started)
        await bot.settle()
        return ready, tree_peak_mb(bot.pid)
    finally:
        await bot.stop()


async def until_healthy(bot: Process, started: float, timeout: float = 120.0) -> float:
    async with aiohttp.ClientSession() as http:
        while time.monotonic() - started < timeout:
            if bot.proc.poll() is not None:
                raise RuntimeError(f"runbook-bot exited early:\n{bot.log_tail()}")
            try:
                async with http.get(bot.url + "/healthz") as resp:
                    if resp.status == 200:
                        return time.monotonic() - started
            except (aiohttp.ClientError, OSError):
                pass
            await asyncio.sleep(0.02)
    raise RuntimeError(f"runbook-bot was not ready in {timeout:.0f} s:\n{bot.log_tail()}")


async def main(runs: int) -> None:
    print_header(f"hostile runbook folder: start-up and memory, {runs} runs each")
    results: dict[str, list[tuple[float, float]]] = {"bundled": [], "hostile": []}
    with tempfile.TemporaryDirectory(prefix="runbook-bench-hostile-") as tmp:
        folders = {"bundled": bundled(Path(tmp)), "hostile": hostile(Path(tmp))}
        async with fresh_database() as url, StandIn() as slack:
            for _ in range(runs):
                for name, folder in folders.items():  # alternately: drift hits both
                    results[name].append(await one_start(folder, url, slack.url))
    rows = []
    medians: dict[str, tuple[float, float]] = {}
    for name, samples in results.items():
        ready = statistics.median(s[0] for s in samples)
        peak = statistics.median(s[1] for s in samples)
        medians[name] = (ready, peak)
        every = ", ".join(f"{s[0]:.2f}" for s in samples)
        rows.append([name, ready, every, peak, max(s[1] for s in samples)])
    print(table(["folder", "ready s (median)", "ready s (each)", "peak MB (median)", "max"], rows))
    ready_ratio = medians["hostile"][0] / medians["bundled"][0]
    peak_ratio = medians["hostile"][1] / medians["bundled"][1]
    within = ready_ratio <= LIMIT and peak_ratio <= LIMIT
    print(
        bench_line(
            "hostile",
            {"runs": runs, "ready_ratio": ready_ratio, "peak_ratio": peak_ratio},
        )
    )
    verdict = "within" if within else "NOT within"
    print(
        f"hostile folder vs bundled library: ready {ready_ratio:.2f}×, peak memory "
        f"{peak_ratio:.2f}× — {verdict} {LIMIT}× on both"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="starts per folder (default 3)")
    asyncio.run(main(parser.parse_args().runs))
