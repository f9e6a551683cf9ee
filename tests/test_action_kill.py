"""An action runs at most once, across ``kill -9`` and several bot processes.

Real ``runbook-bot serve`` processes (each with its worker child) against the
test database and the Slack stand-in. The action is a real program that
records each start in a file and, the first time, sleeps: the bot is killed
while it runs. The program survives its bot (it runs in a session of its own,
as a deploy script would) and the test ends it.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.store.executions import Execution
from bot.store.models import StepDecision, TimelineEvent
from tests import process_support
from tests.rig import Call, SlackStandIn
from tests.test_e2e_incident import is_step, text_of

db = process_support.db
make_process = process_support.make_process

# Appends its pid to argv[1]; the first start sleeps (the bot dies meanwhile).
SCRIPT = """
import os, sys, time
with open(sys.argv[1], "a") as f:
    f.write(f"{os.getpid()}\\n")
starts = len(open(sys.argv[1]).read().split())
if starts == 1:
    time.sleep(120)
print(f"done after {starts} starts")
"""


def folder_with(tmp_path: Path, *, idempotent: bool) -> tuple[Path, Path]:
    folder = tmp_path / "rb"
    folder.mkdir()
    starts = tmp_path / "starts"
    (folder / "RB-K.md").write_text(
        "---\nid: RB-K\ntitle: Killed\nseverity: SEV2\n---\n\n# Killed\n\n## Steps\n\n"
        "1. Deploy the fix. [run: deploy]\n2. Watch the graphs.\n"
    )
    action = {
        "id": "deploy",
        "kind": "command",
        "argv": [sys.executable, "-c", SCRIPT, str(starts)],
        "idempotent": idempotent,
    }
    (folder / "actions.yaml").write_text(json.dumps({"actions": [action]}))
    return folder, starts


def started_pids(starts: Path) -> list[int]:
    return [int(p) for p in starts.read_text().split()] if starts.exists() else []


async def wait_starts(starts: Path, n: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while len(started_pids(starts)) < n:
        assert time.monotonic() < deadline, f"the action did not start {n} times"
        await asyncio.sleep(0.05)


def end_actions(starts: Path) -> None:
    for pid in started_pids(starts):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


async def rows(db: AsyncEngine) -> list[tuple[int, str, str | None, dict[str, Any]]]:
    async with db.connect() as conn:
        found = await conn.execute(
            select(
                Execution.attempt, Execution.state, Execution.started_by, Execution.result
            ).order_by(Execution.id)
        )
        return [tuple(r) for r in found]  # type: ignore[misc]


async def wait_rows(db: AsyncEngine, states: list[str], timeout: float = 40) -> None:
    deadline = time.monotonic() + timeout
    while [r[1] for r in await rows(db)] != states:
        assert time.monotonic() < deadline, f"executions: {await rows(db)}, wanted {states}"
        await asyncio.sleep(0.1)


async def kinds(db: AsyncEngine) -> list[str]:
    async with db.connect() as conn:
        found = await conn.execute(select(TimelineEvent.kind).order_by(TimelineEvent.id))
        return [k for (k,) in found if k.startswith(("action", "step"))]


async def start_and_run(bot: Any, slack: SlackStandIn, starts: Path) -> Call:
    await bot.command("/runbook", "start RB-K", user_id="UANA")
    step = (await slack.wait_for("chat.postMessage", is_step, timeout=20))[0]
    assert (await bot.click(step, "step_run", "UBOB")).status == 200
    await wait_starts(starts, 1)
    return step


def shown(slack: SlackStandIn, call: Call) -> str:
    return str(slack.message(call.args["channel"], call.ts))


async def test_killed_mid_action_is_in_doubt_and_never_rerun_by_itself(
    make_process: Any, slack: SlackStandIn, db: AsyncEngine, tmp_path: Path
) -> None:
    folder, starts = folder_with(tmp_path, idempotent=False)
    bot = make_process(RUNBOOKS_DIR=str(folder))
    try:
        await bot.start()
        step = await start_and_run(bot, slack, starts)
        await wait_rows(db, ["running"])
        await bot.kill()
        await bot.start()
        await wait_rows(db, ["in_doubt"])
        await slack.wait_for(
            "chat.update",
            lambda c: c.args["ts"] == step.ts and "may have run" in text_of(c),
            timeout=20,
        )
        # Several of the restarted bot's looks later: still started once.
        await asyncio.sleep(6)
        assert len(started_pids(starts)) == 1
        now = shown(slack, step)
        assert "step_run" in now and "step_skip" in now and "step_approve" not in now
        # Run again is a new attempt, and its success approves the step.
        assert (await bot.click(step, "step_run", "UCAROL")).status == 200
        await slack.wait_for("chat.postMessage", is_step, count=2, timeout=20)
        await wait_rows(db, ["in_doubt", "succeeded"])
        assert len(started_pids(starts)) == 2
        found = await rows(db)
        assert [(a, by) for a, _, by, _ in found] == [(1, "UBOB"), (2, "UCAROL")]
        assert await kinds(db) == [
            "action_started",
            "action_failed",  # in doubt
            "action_started",
            "action_succeeded",
            "step_approved",
        ]
        async with db.connect() as conn:
            decided = (await conn.execute(select(StepDecision.decided_by))).scalars().all()
        assert decided == ["UCAROL"]
    finally:
        end_actions(starts)


async def test_killed_mid_idempotent_action_reruns_it_once(
    make_process: Any, slack: SlackStandIn, db: AsyncEngine, tmp_path: Path
) -> None:
    folder, starts = folder_with(tmp_path, idempotent=True)
    bot = make_process(RUNBOOKS_DIR=str(folder))
    try:
        await bot.start()
        step = await start_and_run(bot, slack, starts)
        await bot.kill()
        await bot.start()
        await slack.wait_for("chat.postMessage", is_step, count=2, timeout=30)
        await wait_rows(db, ["in_doubt", "succeeded"])
        assert len(started_pids(starts)) == 2
        found = await rows(db)
        assert found[1][3]["rerun_of"] is not None and found[1][2] == "UBOB"
        assert "Approved* by <@UBOB>" in shown(slack, step)
    finally:
        end_actions(starts)


async def test_several_processes_run_an_execution_once_and_rerun_it_once(
    make_process: Any, slack: SlackStandIn, db: AsyncEngine, tmp_path: Path
) -> None:
    folder, starts = folder_with(tmp_path, idempotent=True)
    bots = [make_process(RUNBOOKS_DIR=str(folder)) for _ in range(3)]
    try:
        for bot in bots:
            await bot.start()
        await bots[0].command("/runbook", "start RB-K", user_id="UANA")
        step = (await slack.wait_for("chat.postMessage", is_step, timeout=20))[0]
        # The same Run clicked through every process at once: one execution.
        answers = await asyncio.gather(
            *(b.click(step, "step_run", f"U{n}") for n, b in enumerate(bots))
        )
        assert [a.status for a in answers] == [200, 200, 200]
        await wait_starts(starts, 1)
        await wait_rows(db, ["running"])
        await asyncio.sleep(1)
        assert len(started_pids(starts)) == 1
        # Whichever process runs it dies; of the two left, one reruns it, once.
        # The program's parent is the worker process that runs it.
        worker = parent_of(started_pids(starts)[0])
        victim = next(b for b in bots if b.worker_pid() == worker)
        await victim.kill()
        await wait_rows(db, ["in_doubt", "succeeded"])
        await slack.wait_for("chat.postMessage", is_step, count=2, timeout=30)
        await asyncio.sleep(6)  # the survivors look again: nothing more runs
        assert len(started_pids(starts)) == 2
        assert [s for _, s, _, _ in await rows(db)] == ["in_doubt", "succeeded"]
    finally:
        end_actions(starts)


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
