"""Run every benchmark, one after another, and repeat their last lines.

    .venv/bin/python bench/run_all.py [--worker process|embedded]   (or: make bench)

Each script runs in its own interpreter with a time limit; their output streams
through. Needs PostgreSQL reachable as for the tests (``TEST_DATABASE_ADMIN_URL``,
default ``postgresql://postgres@127.0.0.1:5432/postgres``). Exits 1 if any
script failed.

The bot runs with ``WORKER=process`` (Slack delivery and reminders in a child
process of ``runbook-bot serve``) unless ``--worker embedded`` or
``BENCH_WORKER=embedded`` says otherwise; the choice is passed to every script
as ``BENCH_WORKER``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
# Closed-loop acks (the load generator sends the next request as soon as an ack
# returns), then the same at a steady 50 requests/s — traffic as it arrives.
SCRIPTS = [
    ["ack_latency.py"],
    ["ack_latency.py", "--concurrency", "10", "--rate", "50"],
    ["click_to_update.py"],
    ["reminder_scale.py"],
    ["deadline_scale.py"],
    ["gate_click.py"],
    ["timeline_export.py"],
    ["postmortem.py"],
    ["alert_burst.py"],
    ["storm.py"],
]
LIMIT = 600  # seconds per script (storm.py takes about 5 minutes)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--worker",
        choices=("process", "embedded"),
        default=os.environ.get("BENCH_WORKER") or "process",
        help="the bot's WORKER setting for every script (default: $BENCH_WORKER or process)",
    )
    args = parser.parse_args()
    env = {**os.environ, "BENCH_WORKER": args.worker}
    print(f"=== benchmarks with WORKER={args.worker}", flush=True)
    summary: list[str] = []
    failed = 0
    started = time.monotonic()
    for script in SCRIPTS:
        name = " ".join(script)
        print(f"\n### {name}", flush=True)
        t0 = time.monotonic()
        last = ""
        with subprocess.Popen(
            [sys.executable, str(HERE / script[0]), *script[1:]],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        ) as proc:
            # Kill the script at the limit even if it has stopped printing.
            timer = threading.Timer(LIMIT, proc.kill)
            timer.start()
            try:
                assert proc.stdout is not None
                for line in proc.stdout:
                    print(line, end="", flush=True)
                    if line.startswith("BENCH "):
                        last = line.strip()
                code = proc.wait()
            finally:
                timer.cancel()
        took = time.monotonic() - t0
        if code != 0 or not last:
            failed += 1
            summary.append(f"FAILED {name} (exit {code}, {took:.0f}s)")
        else:
            summary.append(last)
        print(f"### {name}: {took:.0f}s", flush=True)
    print(f"\n=== all benchmarks, WORKER={args.worker} ({time.monotonic() - started:.0f}s)")
    for line in summary:
        print(line)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
