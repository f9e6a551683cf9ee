"""What the chaos bench watches and counts: Slack's calls and the database after the trials."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import asyncpg
from _common import Poller, RemoteCall, StandIn, asyncpg_dsn, step_button

from bot.runs.blocks import APPROVE

STEPS = 18  # RB-04
REMINDER = "time for a status update"


class Watcher(Poller):
    """Polls the stand-in and indexes what the walk waits for."""

    def __init__(self, slack: StandIn) -> None:
        super().__init__(slack)
        self.updates: dict[str, RemoteCall] = {}  # message ts -> first chat.update
        self.steps: dict[str, RemoteCall] = {}  # "run:index" -> step message
        self.step_posts: Counter[str] = Counter()
        self.reminders: Counter[str] = Counter()  # "INC-n" -> reminder messages

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


async def audit(db_url: str, watcher: Watcher, runs: list[int]) -> dict[str, int]:
    """Duplicates, lost decisions and doubled events, from Slack's and the database's view."""
    await drained(db_url)  # at Slack's pace rows may wait longer than a quiet second
    await watcher.slack.quiesce(quiet=1.0)
    watcher.catch_up()  # the calls quiesce fetched: the counts below read the indexes
    calls = watcher.slack.calls
    posts = Counter(
        str(((c.args.get("metadata") or {}).get("event_payload") or {}).get("outbox_id"))
        for c in calls
        if c.method == "chat.postMessage"
    )
    unnamed = posts.pop("None", 0)
    duplicates = sum(n - 1 for n in posts.values() if n > 1) + unnamed
    duplicates += sum(n - 1 for n in watcher.step_posts.values() if n > 1)
    # Say which, so a duplicate can be chased down rather than just counted.
    for outbox_id, n in posts.items():
        if n > 1:
            print(f"   DUPLICATE outbox message {outbox_id} posted {n} times:")
            for c in calls:
                meta = (c.args.get("metadata") or {}).get("event_payload") or {}
                if c.method == "chat.postMessage" and str(meta.get("outbox_id")) == outbox_id:
                    print(f"      at {c.at:.3f} ts={c.ts} {str(c.args.get('text'))[:80]!r}")
    for value, n in watcher.step_posts.items():
        if n > 1:
            print(f"   DUPLICATE step {value} posted {n} times")
    if unnamed:
        print(f"   {unnamed} chat.postMessage without an outbox id")
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
                    print(
                        f"   LOST step {run_id}:{index} ({'no update' if step else 'not posted'})"
                    )
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
            # Each recorded reminder has its one message, and no more — or was
            # superseded by the incident's next reminder before it went (that
            # one stands for it, as a reminder that joined a waiting one does).
            recorded = int(kinds.get("reminder_sent", 0))
            posted = watcher.reminders.get(f"INC-{incident_id}", 0)
            superseded = await conn.fetchval(
                "SELECT count(*) FROM slack_outbox WHERE state = 'superseded' "
                "AND collapse_key = $1",
                f"reminder:{incident_id}",
            )
            doubled += max(0, posted - recorded)
            if recorded - posted - int(superseded) > 0:
                print(
                    f"   LOST reminders of INC-{incident_id}: recorded {recorded}, "
                    f"posted {posted}, superseded {superseded}"
                )
            lost += max(0, recorded - posted - int(superseded))
        owed = await conn.fetchval(
            "SELECT count(*) FROM slack_outbox WHERE state IN ('pending', 'failed')"
        )
        unacted = await conn.fetchval("SELECT count(*) FROM intake")
        for row in await conn.fetch(
            "SELECT id, ordering_key, method, state, priority, last_error FROM slack_outbox "
            "WHERE state IN ('pending', 'failed') LIMIT 10"
        ):
            print(f"   OWED outbox row {dict(row)}")
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


async def drained(db_url: str, timeout: float = 60.0) -> None:
    """Until no outbox row is pending (bounded: the audit counts what is left)."""
    conn = await asyncpg.connect(asyncpg_dsn(db_url))
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not await conn.fetchval("SELECT count(*) FROM slack_outbox WHERE state = 'pending'"):
                return
            await asyncio.sleep(0.5)
    finally:
        await conn.close()


async def incident_of(db_url: str, run_id: int) -> int:
    conn = await asyncpg.connect(asyncpg_dsn(db_url))
    try:
        return int(await conn.fetchval("SELECT incident_id FROM runs WHERE id = $1", run_id))
    finally:
        await conn.close()
