"""The postmortem draft of a long incident: 5,000 timeline events.

    .venv/bin/python bench/postmortem.py [--events 5000] [--runs 7]

A fresh PostgreSQL database gets a history (300 earlier incidents, each with
one 18-step run of one of six runbooks, some steps skipped — what the draft's
"runbook feedback" counts against) and one long incident, bulk-inserted: 30
runbook runs with their step decisions (about one step in ten skipped), roles,
priority changes, RTO escalations, actions, 25 follow-ups, and status updates,
reminders and notes up to ``--events``; 40 people with handles.

Timed: the whole ``runbook-bot postmortem INC-<n>`` command as a user runs it
(a subprocess: interpreter start-up, imports, connecting, the queries,
rendering; ``--runs`` times, after one warm-up), p50 and max; the same
command for an incident that does not exist (its fixed cost: Python start-up,
imports, settings, connecting); and, in this process, the loader
(``read_draft``, straight over the driver as the command runs it) and the
renderer apart, to show where the time goes.
Target: under 1 s. The last line is ``BENCH postmortem ...``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from _common import ROOT, bench_line, fresh_database, ms, pg_version, print_header, table
from sqlalchemy import insert

from bot.incidents.postmortem import read_draft
from bot.incidents.postmortem_render import render_markdown
from bot.settings import load_settings
from bot.store.db import make_engine, make_sessionmaker
from bot.store.direct import read_only
from bot.store.models import Followup, Incident, Person, Run, StepDecision, TimelineEvent

RUNBOOKS = ["RB-01", "RB-03", "RB-04", "RB-06", "RB-08", "RB-11"]
STEPS = 18
HISTORY = 300  # earlier incidents, one run each
RUNS = 30  # runs in the long incident
FOLLOWUPS = 25
PEOPLE = [f"U0PERSON{i:02d}" for i in range(40)]
FILLER = [  # status updates, reminders and notes, in turn, up to --events
    ("status_update", "Update {}: error rate 2.{}% and falling; next update in 30 min."),
    ("reminder_sent", "Status update reminder ({} min since the last update)"),
    ("note", "Note {}: customer *Acme* reports partial recovery — ticket #48{} | <@U0PERSON07>"),
]


def person(i: int) -> str:
    return PEOPLE[i % len(PEOPLE)]


def snapshot(runbook: str) -> dict[str, Any]:
    return {"meta": {"rto_seconds": 3600.0}, "steps": [], "rollback": [], "runbook": runbook}


def skipped(run_no: int, step: int) -> bool:
    return (run_no * 7 + step * 3) % 10 == 0  # about one step in ten


async def insert_runs(
    session: Any, incident_id: int, count: int, start: datetime, offset: int
) -> list[dict[str, Any]]:
    rows = [
        {
            "incident_id": incident_id,
            "runbook_id": RUNBOOKS[(offset + n) % len(RUNBOOKS)],
            "runbook_title": f"Runbook {RUNBOOKS[(offset + n) % len(RUNBOOKS)]}",
            "content_hash": "0" * 64,
            "snapshot": snapshot(RUNBOOKS[(offset + n) % len(RUNBOOKS)]),
            "channel_id": "C_INC",
            "started_by": person(n),
            "started_at": start + timedelta(minutes=40 * n),
            "ended_at": start + timedelta(minutes=40 * n + 35 + (n % 3) * 20),
            "state": "completed",
        }
        for n in range(count)
    ]
    result = await session.execute(insert(Run).returning(Run.id, Run.runbook_id), rows)
    return [
        {"id": r.id, "runbook_id": r.runbook_id, **row} for r, row in zip(result, rows, strict=True)
    ]


async def seed_history(sessions: Any, now: datetime) -> None:
    async with sessions() as session, session.begin():
        start = now - timedelta(days=200)
        result = await session.execute(
            insert(Incident).returning(Incident.id),
            [
                {
                    "channel_id": "C_INC",
                    "title": f"Earlier incident {i}",
                    "state": "resolved",
                    "opened_by": person(i),
                    "opened_at": start + timedelta(hours=12 * i),
                    "resolved_at": start + timedelta(hours=12 * i + 2),
                    "priority": "high",
                }
                for i in range(HISTORY)
            ],
        )
        decisions = []
        for i, incident_id in enumerate(result.scalars()):
            (run,) = await insert_runs(session, incident_id, 1, start + timedelta(hours=12 * i), i)
            for step in range(STEPS):
                decisions.append(decision(run, step, i))
        await session.execute(insert(StepDecision), decisions)


def decision(run: dict[str, Any], step: int, run_no: int) -> dict[str, Any]:
    return {
        "run_id": run["id"],
        "step_index": step,
        "decision": "skipped" if skipped(run_no, step) else "approved",
        "decided_by": person(run_no + step),
        "decided_at": run["started_at"] + timedelta(minutes=step + 1),
    }


def event(
    incident_id: int, kind: str, at: datetime, actor: str | None, text: str, **kw: Any
) -> dict[str, Any]:
    return {"incident_id": incident_id, "kind": kind, "at": at, "actor": actor, "text": text, **kw}


async def seed_incident(sessions: Any, now: datetime, total: int) -> int:
    opened = now - timedelta(days=3)
    async with sessions() as session, session.begin():
        roles = {"commander": person(1), "comms": person(2), "scribe": person(3)}
        incident_id = (
            await session.execute(
                insert(Incident).returning(Incident.id),
                [
                    {
                        "channel_id": "C_INC",
                        "title": "Primary database failover | region eu-west-1",
                        "state": "resolved",
                        "opened_by": person(0),
                        "opened_at": opened,
                        "acknowledged_at": opened + timedelta(minutes=4),
                        "acknowledged_by": person(1),
                        "resolved_at": now - timedelta(hours=1),
                        "resolved_by": person(1),
                        "priority": "critical",
                        "roles": roles,
                    }
                ],
            )
        ).scalar_one()
        runs = await insert_runs(session, incident_id, RUNS, opened + timedelta(minutes=5), 0)
        acked = opened + timedelta(minutes=4)
        events = [
            event(incident_id, "incident_opened", opened, person(0), "INC opened (critical)"),
            event(incident_id, "incident_acknowledged", acked, person(1), "acknowledged"),
        ]
        for r, (role, user) in enumerate(roles.items()):
            at, text = opened + timedelta(minutes=6 + r), f"<@{user}> is the {role}"
            events.append(event(incident_id, "role_assigned", at, person(0), text))
        for p, level in enumerate(("high", "critical")):
            at = opened + timedelta(hours=1 + p)
            events.append(event(incident_id, "priority_changed", at, person(1), level))
        decisions = []
        for n, run in enumerate(runs):
            events += run_events(incident_id, run, n, decisions)
        await session.execute(insert(StepDecision), decisions)
        followups = [
            {
                "incident_id": incident_id,
                "text": f"Follow-up {f}: alert on replication lag above {f}s",
                "owner": person(f),
                "due_at": now + timedelta(days=f - 5),
                "created_by": person(f + 1),
                "created_at": now - timedelta(hours=2),
                "done_at": now - timedelta(minutes=30) if f % 3 == 0 else None,
                "done_by": person(f) if f % 3 == 0 else None,
            }
            for f in range(FOLLOWUPS)
        ]
        await session.execute(insert(Followup), followups)
        for f in range(FOLLOWUPS):
            at, text = now - timedelta(hours=2, seconds=-f), f"Follow-up #{f + 1}: alert on lag"
            events.append(event(incident_id, "followup_added", at, person(f + 1), text))
        i = 0
        while len(events) < total:
            kind, text = FILLER[i % len(FILLER)]
            at = opened + timedelta(seconds=37 * i + 11)
            actor = None if kind == "reminder_sent" else person(i)
            events.append(event(incident_id, kind, at, actor, text.format(i, i % 10)))
            i += 1
        await session.execute(insert(TimelineEvent), [{"data": {}, **e} for e in events])
        await session.execute(
            insert(Person),
            [
                {"user_id": u, "name": f"person{n:02d}", "seen_at": now}
                for n, u in enumerate(PEOPLE)
            ],
        )
    return int(incident_id)


def run_events(incident_id: int, run: dict[str, Any], n: int, decisions: list) -> list[dict]:
    """A run's started / step / action / RTO / completed events (and its decisions)."""
    rb, run_id = run["runbook_id"], run["id"]
    started = f"Runbook {rb} started"
    out = [event(incident_id, "runbook_started", run["started_at"], run["started_by"], started)]
    for step in range(STEPS):
        d = decision(run, step, n + HISTORY)
        decisions.append(d)
        kind = "step_skipped" if d["decision"] == "skipped" else "step_approved"
        text = f"{rb} Steps step {step + 1}/{STEPS}: **Fail over** the `DATABASE_URL` | check"
        at, who, data = d["decided_at"], d["decided_by"], {"step_index": step}
        out.append(event(incident_id, kind, at, who, text, run_id=run_id, data=data))
        if step % 6 == 5:
            ok = "kubectl rollout status: ok"
            out.append(event(incident_id, "action_succeeded", at, None, ok, run_id=run_id))
    if n % 5 == 0:
        late = run["started_at"] + timedelta(minutes=48)
        out.append(event(incident_id, "rto_warning", late, None, "RTO warning", run_id=run_id))
    done = f"Runbook {rb} completed"
    out.append(event(incident_id, "runbook_completed", run["ended_at"], None, done, run_id=run_id))
    out[0]["run_id"] = run_id
    return out


def run_cli(url: str, key: str, *, check: bool = True) -> tuple[float, int]:
    script = Path(sys.executable).parent / "runbook-bot"
    argv = [str(script)] if script.exists() else [sys.executable, "-m", "bot.cli"]
    env = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    out = subprocess.run([*argv, "postmortem", key], env=env, capture_output=True, check=check)
    return time.perf_counter() - started, len(out.stdout)


async def in_process(url: str, incident_id: int, repeat: int) -> tuple[list[float], list[float]]:
    """The command's loader (``read_draft`` straight over the driver) and renderer."""
    policy = load_settings(database_url=url).priorities
    loads, renders = [], []
    async with read_only(url) as reader:
        for _ in range(repeat + 1):  # the first warms the server's caches
            started = time.perf_counter()
            draft = await read_draft(reader.fetch, reader.dialect, incident_id, policy)
            loaded = time.perf_counter()
            assert draft is not None
            render_markdown(draft, datetime.now(UTC))
            loads.append(loaded - started)
            renders.append(time.perf_counter() - loaded)
    return loads[1:], renders[1:]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=5_000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    print_header(f"postmortem draft: one incident with {args.events} timeline events")
    async with fresh_database() as url:
        print(f"   PostgreSQL {await pg_version(url)}")
        engine = make_engine(url)
        sessions = make_sessionmaker(engine)
        now = datetime.now(UTC)
        try:
            await seed_history(sessions, now)
            incident_id = await seed_incident(sessions, now, args.events)
        finally:
            await engine.dispose()
        key = f"INC-{incident_id}"
        await asyncio.to_thread(run_cli, url, key)  # warm-up: the OS's file cache
        cli, floor = [], []
        size = 0
        for _ in range(args.runs):
            took, size = await asyncio.to_thread(run_cli, url, key)
            cli.append(took)
            # The same command for an incident that does not exist: start-up,
            # imports, settings, connecting and one query — the fixed cost.
            floor.append((await asyncio.to_thread(run_cli, url, "INC-999999", check=False))[0])
        loads, renders = await in_process(url, incident_id, args.runs)
    rows = [
        ["runbook-bot postmortem (cli)", ms(statistics.median(cli)), ms(max(cli))],
        ["  same command, no such incident", ms(statistics.median(floor)), ms(max(floor))],
        ["  read_draft (in process)", ms(statistics.median(loads)), ms(max(loads))],
        ["  render_markdown (in process)", ms(statistics.median(renders)), ms(max(renders))],
    ]
    print()
    print(table(["what", "p50 ms", "max ms"], rows))
    print(f"   draft: {size / 1024:.0f} KiB of Markdown")
    line: dict[str, object] = {
        "events": args.events,
        "runs": args.runs,
        "cli_p50_ms": ms(statistics.median(cli)),
        "cli_max_ms": ms(max(cli)),
        "fixed_p50_ms": ms(statistics.median(floor)),
        "load_p50_ms": ms(statistics.median(loads)),
        "render_p50_ms": ms(statistics.median(renders)),
        "target_ms": 1000,
        "met": "yes" if max(cli) < 1.0 else "no",
    }
    print(bench_line("postmortem", line))


if __name__ == "__main__":
    asyncio.run(main())
