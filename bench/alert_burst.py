"""Alert burst: Alertmanager delivering 1,000 distinct firing alerts at once.

    .venv/bin/python bench/alert_burst.py [--calls 100] [--per-call 10] [--rate 50]
        [--groups N]

``runbook-bot serve`` runs on a fresh PostgreSQL database with
``ALERT_WEBHOOK_TOKEN`` set; the Slack stand-in runs in its own process and
stamps each call's arrival with time.monotonic() (one clock for every process
on the machine). The load generator sends ``--calls`` webhook deliveries of
``--per-call`` distinct firing alerts each, at ``--rate`` calls per second
(open loop: a call leaves on schedule whatever the previous answers), as
Alertmanager would POST them; delivery ``i`` belongs to Alertmanager group
``i % --groups`` (default 10 groups; 0: each delivery its own group). A group's alerts
share one message: its first delivery posts it, later ones update it.
Measured: each delivery's ack (the HTTP 200), and for each alert the time
from sending its delivery to its group's message showing it (the post, or
the first ``chat.update`` whose count of firing alerts includes it) arriving
at Slack. Audited: one post per group, none twice. Then the very same
deliveries again (Alertmanager's repeat_interval, or its retries): nothing
new may be posted.
A quarter of the alerts name a bundled runbook by ``runbook_url`` slug, a
quarter by alert name, the rest match none (Declare incident).
Slack's pace is on (the stand-in's default): about one post a second in the
alert channel, ``chat.update`` 50 a minute. A burst's group messages
therefore cannot all be posted at once whatever the bot does: the n-th
group's message goes about n seconds in. The alert → message target is that
floor plus 2 s (``--groups`` / 0.95 posts a second + 2 s; the bot keeps 5 %
under Slack's rate).
The last line is ``BENCH alert_burst ...``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import time
import uuid
from collections import Counter
from typing import Any

import aiohttp
from _common import (
    Poller,
    Process,
    RemoteCall,
    StandIn,
    bench_line,
    fresh_database,
    ms,
    percentile,
    pg_version,
    postgres_cpu_seconds,
    print_header,
    start_bot,
    table,
    worker_mode,
)

TOKEN = "bench-alert-webhook-token-0123456789"
CHANNEL = "C_ALERTS"
RUNBOOKS = [f"RB-{n:02d}" for n in range(1, 13)]


def alert(n: int, nonce: str) -> dict[str, Any]:
    """Alert ``n``: distinct fingerprint; a runbook by slug, by name, or none."""
    runbook = RUNBOOKS[n % len(RUNBOOKS)]
    kind = n % 4
    name = runbook.replace("-", "_") if kind == 1 else f"BenchAlert{n}"
    annotations = {"summary": f"bench alert {n}", "description": f"instance {n} is unhappy"}
    if kind == 0:
        annotations["runbook_url"] = f"https://runbooks.example.com/runbooks/{runbook.lower()}/"
    return {
        "status": "firing",
        "labels": {
            "alertname": name,
            "severity": ("critical", "warning", "info")[n % 3],
            "instance": f"10.0.{n // 250}.{n % 250}:9100",
            "job": "node",
        },
        "annotations": annotations,
        "startsAt": "2026-12-01T10:00:00.123456789Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.example:9090/graph?g0.expr=up",
        "fingerprint": f"{nonce}{n:08x}",
    }


def delivery(alerts: list[dict[str, Any]], group: int) -> bytes:
    # 100 deliveries within two seconds are 100 groups: Alertmanager sends a
    # group's alerts together, one delivery per group at a time.
    return json.dumps(
        {
            "version": "4",
            "groupKey": f'{{}}:{{job="node", rack="{group}"}}',
            "truncatedAlerts": 0,
            "status": "firing",
            "receiver": "runbook-bot",
            "groupLabels": {"job": "node", "rack": str(group)},
            "commonLabels": {"job": "node"},
            "commonAnnotations": {},
            "externalURL": "http://alertmanager.example:9093",
            "alerts": alerts,
        }
    ).encode()


FIRING = re.compile(r"— (\d+) firing")  # "… — 12 firing, 0 resolved"


def shown_count(text: str) -> int:
    """How many firing alerts a group message's text counts (a lone alert's: 1)."""
    found = FIRING.search(text)
    return int(found.group(1)) if found else 1


class Posts(Poller):
    """Group messages by their lead alert's fingerprint: posts (arrival
    times, how many), and when each first showed how many firing alerts —
    indexed from every call fetched, also by ``quiesce`` (``catch_up`` after
    it), so a repeat posted during the replay's quiet wait is counted."""

    def __init__(self, slack: StandIn) -> None:
        super().__init__(slack)
        self.first: dict[str, float] = {}
        self.count: Counter[str] = Counter()
        self.updates = 0
        self._lead_of_ts: dict[str, str] = {}
        self.shown: dict[str, list[tuple[float, int]]] = {}  # lead → (arrival, firing shown)

    def _index(self, calls: list[RemoteCall]) -> None:
        for call in calls:
            if call.method == "chat.update":
                self.updates += 1
                lead = self._lead_of_ts.get(str(call.args.get("ts", "")))
                if lead is not None:
                    count = shown_count(str(call.args.get("text", "")))
                    self.shown[lead].append((call.at, count))
            if call.method != "chat.postMessage":
                continue
            meta = call.args.get("metadata") or {}
            fingerprint = (meta.get("event_payload") or {}).get("fingerprint")
            if fingerprint:
                self.count[fingerprint] += 1
                self.first.setdefault(fingerprint, call.at)
                self._lead_of_ts[call.ts] = fingerprint
                count = shown_count(str(call.args.get("text", "")))
                self.shown.setdefault(fingerprint, []).append((call.at, count))

    def showing(self, lead: str, firing: int) -> float | None:
        """When the lead's message first showed at least ``firing`` alerts."""
        return next((at for at, n in self.shown.get(lead, []) if n >= firing), None)

    async def wait(self, wanted: dict[str, int], timeout: float = 60.0) -> None:
        """Until each lead's message shows its group's firing count."""
        deadline = time.monotonic() + timeout
        while not all(self.showing(lead, n) is not None for lead, n in wanted.items()):
            if time.monotonic() > deadline:
                missing = sum(1 for lead, n in wanted.items() if self.showing(lead, n) is None)
                raise RuntimeError(f"{missing} group messages never showed all their alerts")
            await asyncio.sleep(0.01)


def cpu_reading(bot: Process) -> tuple[float, float, float]:
    """CPU seconds so far: serving process, its worker child, PostgreSQL."""
    serve = bot.cpu_seconds()
    return serve, bot.tree_cpu_seconds() - serve, postgres_cpu_seconds()


def per_alert(before: tuple[float, ...], after: tuple[float, ...], alerts: int) -> list[float]:
    return [ms(max(0.0, (b - a) / alerts)) for a, b in zip(before, after, strict=True)]


async def burst(
    http: aiohttp.ClientSession, url: str, bodies: list[bytes], rate: float
) -> tuple[list[float], list[float]]:
    """Send every body on an open-loop schedule; (send time, ack seconds) per body."""
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    sent = [0.0] * len(bodies)
    acks = [0.0] * len(bodies)

    async def one(i: int, at: float) -> None:
        await asyncio.sleep(max(0.0, at - time.monotonic()))
        sent[i] = time.monotonic()
        async with http.post(url + "/alerts/alertmanager", data=bodies[i], headers=headers) as r:
            await r.read()
            acks[i] = time.monotonic() - sent[i]
            if r.status != 200:
                raise RuntimeError(f"webhook answered {r.status}")

    start = time.monotonic() + 0.05
    await asyncio.gather(*(one(i, start + i / rate) for i in range(len(bodies))))
    return sent, acks


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=100, help="webhook deliveries")
    parser.add_argument("--per-call", type=int, default=10, help="distinct alerts per delivery")
    parser.add_argument("--rate", type=float, default=50.0, help="deliveries per second")
    parser.add_argument(
        "--groups", type=int, default=10, help="Alertmanager groups (0: one per call)"
    )
    args = parser.parse_args()
    total = args.calls * args.per_call
    n_groups = min(args.groups or args.calls, args.calls)
    print_header(
        f"alert burst: {total} firing alerts of {n_groups} groups in {args.calls} webhook "
        f"calls at {args.rate:g}/s, WORKER={worker_mode()}"
    )
    nonce = uuid.uuid4().hex[:8]
    alerts = [alert(n, nonce) for n in range(total)]
    groups = [alerts[i : i + args.per_call] for i in range(0, total, args.per_call)]
    bodies = [delivery(g, i % n_groups) for i, g in enumerate(groups)]
    # Each group's message is led by its first delivery's first alert; after
    # delivery i its message must show every alert its group got so far.
    leads = [groups[i % n_groups][0]["fingerprint"] for i in range(len(groups))]
    so_far = [args.per_call * (i // n_groups + 1) for i in range(len(groups))]
    wanted = {
        lead: max(n for l2, n in zip(leads, so_far, strict=True) if l2 == lead) for lead in leads
    }
    warm = [alert(total + n, nonce) for n in range(args.per_call)]
    async with StandIn() as slack, fresh_database(migrate=False) as db_url:
        print(f"   PostgreSQL {await pg_version(db_url)}; bot, Slack stand-in and load generator")
        print("   in separate processes")
        bot = await start_bot(db_url, slack.url, ALERT_WEBHOOK_TOKEN=TOKEN, ALERT_CHANNEL=CHANNEL)
        posts = Posts(slack)
        posts.start()
        try:
            async with aiohttp.ClientSession() as http:
                # Warm-up (not measured): one delivery of other alerts.
                await burst(http, bot.url, [delivery(warm, -1)], args.rate)
                await posts.wait({warm[0]["fingerprint"]: len(warm)})
                await slack.quiesce()
                posts.catch_up()
                await bot.settle()
                before = cpu_reading(bot)
                sent, acks = await burst(http, bot.url, bodies, args.rate)
                await posts.wait(wanted)
                await slack.quiesce()
                posts.catch_up()
                await bot.settle()
                cpu = per_alert(before, cpu_reading(bot), total)
                to_message = [
                    (posts.showing(leads[i], so_far[i]) or float("nan")) - sent[i]
                    for i, group in enumerate(groups)
                    for _ in group
                ]
                first_posts = sum(posts.count[lead] for lead in wanted)
                before_updates = posts.updates
                # The same deliveries again: repeats and retries post nothing.
                before = cpu_reading(bot)
                _, replay_acks = await burst(http, bot.url, bodies, args.rate)
                await asyncio.sleep(1.0)
                await slack.quiesce(quiet=1.0)
                await bot.settle()
                posts.catch_up()
                replay_cpu = per_alert(before, cpu_reading(bot), total)
                replay_posts = sum(posts.count[lead] for lead in wanted) - first_posts
                replay_updates = posts.updates - before_updates
        finally:
            await posts.stop()
            # Delivery retries explain a long tail: show them.
            log = bot.log_tail(2000).splitlines()
            await bot.stop()
    retried = [line for line in log if "retry in" in line or "giving up" in line]
    if retried:
        print(f"\n{len(retried)} Slack deliveries were retried; the first few:")
        print("\n".join(retried[:5]))

    duplicates = sum(1 for lead in wanted if posts.count[lead] > 1)
    others = sum(posts.count.values()) - sum(posts.count[lead] for lead in wanted)
    rows = [
        [
            "first burst",
            len(acks),
            ms(percentile(acks, 50)),
            ms(percentile(acks, 99)),
            ms(max(acks)),
            ms(percentile(to_message, 50)),
            ms(percentile(to_message, 99)),
            ms(max(to_message)),
            first_posts,
            *cpu,
        ],
        [
            "same calls again",
            len(replay_acks),
            ms(percentile(replay_acks, 50)),
            ms(percentile(replay_acks, 99)),
            ms(max(replay_acks)),
            float("nan"),
            float("nan"),
            float("nan"),
            replay_posts,
            *replay_cpu,
        ],
    ]
    print()
    print(
        table(
            [
                "deliveries",
                "n",
                "ack p50",
                "ack p99",
                "ack max",
                "to message p50",
                "to message p99",
                "to message max",
                "posted",
                "serve cpu",
                "worker cpu",
                "pg cpu",
            ],
            rows,
        )
    )
    print("\nms; ack = the webhook's HTTP 200 (every alert committed); to message = from sending")
    print("the delivery to its group's message showing the alert (post or update) at Slack;")
    print("posted = group messages posted (one per group expected);")
    print("cpu = ms per alert of the serving process, its worker child and PostgreSQL (/proc)")
    ack_p99, msg_p99 = rows[0][3], rows[0][6]
    # The warm-up's group posted once too: nothing else may be an alert post.
    every_once = first_posts == n_groups and duplicates == 0 and others == 1
    # Slack's pace: one post a second in the channel (the bot keeps 5 % under).
    floor_ms = 1000 * n_groups / 0.95
    target_ms = floor_ms + 2000
    met = every_once and ack_p99 < 50 and msg_p99 < target_ms and replay_posts == 0
    print(
        bench_line(
            "alert_burst",
            {
                "worker": worker_mode(),
                "alerts": total,
                "calls": args.calls,
                "groups": n_groups,
                "rate": args.rate,
                "posted": first_posts,
                "duplicates": duplicates,
                "ack_p50_ms": rows[0][2],
                "ack_p99_ms": ack_p99,
                "to_message_p50_ms": rows[0][5],
                "to_message_p99_ms": msg_p99,
                "to_message_max_ms": rows[0][7],
                "replay_ack_p99_ms": rows[1][3],
                "replay_new_posts": replay_posts,
                "replay_updates": replay_updates,
                "updates": before_updates,
                "serve_cpu_ms": rows[0][9],
                "worker_cpu_ms": rows[0][10],
                "pg_cpu_ms": rows[0][11],
                "target_ack_p99_ms": 50,
                "pace_floor_ms": round(floor_ms),
                "target_to_message_p99_ms": round(target_ms),
                "share_429": round(slack.refused_share(), 4),
                "met": "yes" if met else "no",
            },
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
