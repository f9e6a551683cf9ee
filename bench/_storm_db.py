"""What the storm benchmark (``bench/storm.py``) writes to and reads from the
bot's database: the incidents it starts with, its audits, its account of slow clicks."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from _common import asyncpg_dsn, percentile

CHANNEL = "C_INC"  # the incident channel the slash commands come from
INTERVAL = 30.0  # STATUS_UPDATE_INTERVAL


async def seed(url: str, n: int, first_due: datetime) -> None:
    """``n`` open incidents in the channel, first reminders due evenly over one interval."""
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await conn.copy_records_to_table(
            "incidents",
            records=[
                (
                    CHANNEL,
                    f"Storm incident {i}",
                    "open",
                    "UBENCH",
                    first_due - timedelta(minutes=5),
                    first_due + timedelta(seconds=INTERVAL * i / n),
                    "{}",
                )
                for i in range(n)
            ],
            columns=[
                "channel_id",
                "title",
                "state",
                "opened_by",
                "opened_at",
                "next_reminder_at",
                "roles",
            ],
        )
    finally:
        await conn.close()


async def reminder_audit(db_url: str, storm: Any, stopped: datetime) -> tuple[int, int, int]:
    """(decided, lost, overdue): reminders the bot decided to send, those
    neither posted nor still owed in the outbox nor superseded by the
    incident's next one, incidents whose due time
    passed unclaimed (more than 2 s before the bot stopped)."""
    conn = await asyncpg.connect(asyncpg_dsn(db_url))
    try:
        sent = {
            r["incident_id"]: r["n"]
            for r in await conn.fetch(
                "SELECT incident_id, count(*) AS n FROM timeline_events "
                "WHERE kind = 'reminder_sent' GROUP BY incident_id"
            )
        }
        # Still owed, or superseded by a newer reminder of the same incident
        # (it stands for it, as a reminder that joined a waiting one does).
        owed = Counter(
            int(r["k"].split(":")[-1])
            for r in await conn.fetch(
                "SELECT collapse_key AS k FROM slack_outbox "
                "WHERE state IN ('pending', 'superseded') AND collapse_key LIKE 'reminder:%'"
            )
        )
        overdue = await conn.fetchval(
            "SELECT count(*) FROM incidents WHERE state = 'open' AND next_reminder_at < $1",
            stopped - timedelta(seconds=2),
        )
    finally:
        await conn.close()
    lost = sum(abs(n - storm.reminders[i] - owed[i]) for i, n in sent.items())
    return sum(sent.values()), lost, int(overdue)


async def outbox_states(db_url: str) -> Counter[str]:
    conn = await asyncpg.connect(asyncpg_dsn(db_url))
    try:
        rows = await conn.fetch("SELECT state, count(*) AS n FROM slack_outbox GROUP BY state")
    finally:
        await conn.close()
    return Counter({r["state"]: int(r["n"]) for r in rows})


async def explain_slow(db_url: str, storm: Any, slow: list[tuple[str, str, float]]) -> None:
    """For each click whose update took 2 s or more: the outbox rows of its run
    created from 40 s before the click (the previous click's too), and the chat.update calls Slack
    received meanwhile (seconds from the click, on the stand-in's clock)."""
    if not slow:
        return
    offset = percentile([c.wall - c.at for c in storm.slack.calls], 50)  # wall − monotonic
    conn = await asyncpg.connect(asyncpg_dsn(db_url))
    try:
        for value, ts, sent in slow[:6]:
            run = value.split(":")[0]
            at = datetime.fromtimestamp(sent + offset - 40.0, UTC)  # the previous click's too
            rows = await conn.fetch(
                "SELECT id, method, priority, state, collapse_key, attempts, "
                "extract(epoch FROM created_at)::float8 AS created, "
                "extract(epoch FROM sent_at)::float8 AS sent, payload::jsonb->>'ts' AS ts "
                "FROM slack_outbox WHERE ordering_key = ANY($1::text[]) AND created_at >= $2 "
                "ORDER BY id LIMIT 10",
                [f"run:{run}", f"run:{run}/update"],  # posts; updates (their own queue)
                at,
            )
            print(f"\n   slow click {value} (step ts {ts}): its run's outbox rows")
            for r in rows:
                created = r["created"] - offset - sent
                done = (r["sent"] - offset - sent) if r["sent"] else float("nan")
                mark = " <- the step" if r["ts"] == ts else ""
                print(
                    f"     #{r['id']} {r['method']:<17} prio {r['priority']} {r['state']:<10} "
                    f"created {created:+.2f}s sent {done:+.2f}s tries {r['attempts']} "
                    f"{r['collapse_key'] or ''}{mark}"
                )
            window = [
                c
                for c in storm.slack.calls
                if c.method == "chat.update" and sent <= c.at <= sent + 4
            ]
            print(
                f"     chat.update at Slack in the 4 s after the click: "
                f"{[round(c.at - sent, 2) for c in window]}"
            )
    finally:
        await conn.close()
