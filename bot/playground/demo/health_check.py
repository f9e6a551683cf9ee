"""The playground's demo checks (``runbook-bot playground``): harmless, local,
standard library only. They print what a real health check would and exit 0,
or — ``queue`` — report a backlog over its threshold and exit 2.

Run by the playground's actions file as ``python health_check.py <check> <incident>``.
"""

from __future__ import annotations

import random
import sys
import time

ENDPOINTS = (  # what is checked, how it answers, its typical latency (ms)
    ("api.portal.example", "200", 38),
    ("share.portal.example", "200", 54),
    ("uploads.portal.example", "200", 121),
    ("neon primary (SELECT 1)", "ok", 9),
)
QUEUE_THRESHOLD = 500


def health(incident: str) -> int:
    print(f"Health check for {incident} ({len(ENDPOINTS)} endpoints)")
    started = time.monotonic()
    for target, answer, typical in ENDPOINTS:
        time.sleep(0.25)  # as if waiting for the answer
        latency = typical + random.randint(-typical // 5, typical // 4)
        print(f"  {target:<23} {answer:<3} {latency:>4} ms")
    print(f"All {len(ENDPOINTS)} checks passed in {time.monotonic() - started:.1f} s")
    return 0


def queue(incident: str) -> int:
    print(f"Upload queue for {incident}")
    time.sleep(0.5)
    depth = 1284
    print(f"  pending jobs    {depth:>6}")
    print("  oldest job      14 min")
    print("  workers busy    8 / 8")
    print(f"FAIL: {depth} jobs pending, over the threshold of {QUEUE_THRESHOLD}")
    return 2


def main(argv: list[str]) -> int:
    check = argv[0] if argv else "health"
    incident = argv[1] if len(argv) > 1 else "the incident"
    return queue(incident) if check == "queue" else health(incident)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
