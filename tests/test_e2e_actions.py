"""Executable steps end to end: a step's Run button, through signed clicks into
the real app, with the Slack stand-in at Slack's pace and real PostgreSQL.

The actions are real programs (this Python, no shell) and a real HTTP server
on loopback; what is asserted is what people see in Slack and what the
database keeps: one execution per Run, its result in the step and the thread,
the timeline's events.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest
from aiohttp import web
from sqlalchemy import select

from bot.runs.executor import sign
from bot.store.executions import Execution
from bot.store.models import StepDecision
from tests import action_support
from tests.action_support import (
    PY,
    SECRET,
    buttons,
    command,
    events,
    executions,
    output_posted,
    shown,
    started,
    updated_with,
    write_runbook,
)
from tests.conftest import BotFactory
from tests.rig import SlackStandIn
from tests.test_e2e_incident import is_step, text_of
from tests.test_timeline import run_cli

action_secret = action_support.action_secret  # autouse: the secret in the environment


async def test_run_shows_what_it_runs_runs_once_and_approves_the_step(
    make_bot: BotFactory, slack: SlackStandIn, tmp_path: Path
) -> None:
    folder = write_runbook(
        tmp_path / "rb",
        ["Flush the cache. [run: flush]", "Check the graphs."],
        [command("flush", "0", "0.3")],
    )
    bot = await make_bot(runbooks_dir=folder)
    step = await started(bot, slack)
    assert buttons(slack, step) == ["step_run", "step_approve", "step_skip"]
    assert "▶️ *Run* runs" in text_of(step) and "-c" in text_of(step)
    response = await bot.click(step, "step_run", user_id="UBOB")
    assert response.status == 200
    running = await updated_with(slack, step, "Running")
    assert "started by <@UBOB>" in text_of(running)
    assert not any(b.get("type") == "actions" for b in running.args["blocks"])  # no buttons
    output = (await output_posted(slack))[0]
    # In the run's thread: the last 20 lines, the secret masked.
    assert output.args.get("thread_ts")
    out = text_of(output)
    assert "line 12" in out and "line 30" in out and "line 11\\n" not in out
    assert SECRET not in out and "token=••••••" in out
    await slack.wait_for("chat.postMessage", is_step, count=2, timeout=20)  # the next step
    await bot.settle()
    assert "Approved* by <@UBOB>" in shown(slack, step)
    assert "Action succeeded" in shown(slack, step)
    rows = await executions(bot)
    assert [(r.attempt, r.state, r.started_by, r.result["code"]) for r in rows] == [
        (1, "succeeded", "UBOB", 0)
    ]
    assert SECRET not in json.dumps(rows[0].result)
    seen = await events(bot, "action_started", "action_succeeded", "step_approved")
    assert [(k, a) for k, a, _ in seen] == [
        ("action_started", "UBOB"),
        ("action_succeeded", "UBOB"),
        ("step_approved", "UBOB"),
    ]
    assert seen[0][2]["action"] == "flush" and seen[0][2]["execution"] == rows[0].id
    assert seen[1][2]["code"] == 0 and seen[1][2]["duration_s"] >= 0.3
    assert seen[1][2]["tail"].count("\n") == 19  # 20 lines
    assert seen[2][2]["action"] == "flush" and seen[2][2]["execution"] == rows[0].id
    async with bot.ctx.sessions() as session:
        decided = (
            await session.execute(select(StepDecision.step_index, StepDecision.decided_by))
        ).all()
    assert decided == [(0, "UBOB")]


async def test_failure_leaves_the_step_open_and_run_again_is_a_new_attempt(
    make_bot: BotFactory, slack: SlackStandIn, tmp_path: Path
) -> None:
    marker = tmp_path / "marker"
    folder = write_runbook(
        tmp_path / "rb", ["Restart. [run: restart]"], [command("restart", "0", "0", str(marker))]
    )
    bot = await make_bot(runbooks_dir=folder)
    step = await started(bot, slack)
    await bot.click(step, "step_run", user_id="UANA")
    failed = await updated_with(slack, step, "failed with exit code 3")
    await bot.settle()
    assert buttons(slack, step) == ["step_run", "step_skip"]  # Run again / Skip
    assert "Run again" in shown(slack, step)
    failure = await events(bot, "action_failed")
    assert failure[0][2]["code"] == 3 and failure[0][2]["result"] == "failed with exit code 3"
    assert "❌" in text_of(failed)
    await bot.click(step, "step_run", user_id="UCAROL")
    await slack.wait_for("chat.postMessage", lambda c: "completed" in c.args["text"], timeout=20)
    await bot.settle()
    rows = await executions(bot)
    assert [(r.attempt, r.state, r.started_by) for r in rows] == [
        (1, "failed", "UANA"),
        (2, "succeeded", "UCAROL"),
    ]
    assert "Approved* by <@UCAROL>" in shown(slack, step)
    assert len(await output_posted(slack, 2)) == 2
    # Who ran what, and how it ended: in /incident timeline and the export.
    answer = await bot.command("/incident", "timeline INC-1")
    rendered = str(answer.body["blocks"])
    assert "⚙️" in rendered and "<@UANA>" in rendered and "<@UCAROL>" in rendered
    assert "action restart failed with exit code 3 after" in rendered
    assert "action restart started (attempt 2)" in rendered
    assert "action restart succeeded after" in rendered
    code, md, err = await run_cli(bot.settings.database_url, tmp_path, "timeline", "INC-1")
    assert code == 0, err
    # The export names people by the handle Slack sent with their requests.
    assert "| Action started | @ana | RB-X Steps step 1/1: action restart started: " in md
    assert "| Action failed | @ana | RB-X Steps step 1/1: action restart failed with exit" in md
    assert "| Action succeeded | @carol |" in md
    assert "**Actions:** 2 run, 1 failed or in doubt" in md
    code, raw, _ = await run_cli(
        bot.settings.database_url, tmp_path, "timeline", "INC-1", "--format", "json"
    )
    failed = [e for e in json.loads(raw) if e["kind"] == "action_failed"]
    assert failed[0]["data"]["code"] == 3 and "line 30" in failed[0]["data"]["tail"]


async def test_two_concurrent_runs_start_one_execution(
    make_bot: BotFactory, slack: SlackStandIn, tmp_path: Path
) -> None:
    folder = write_runbook(tmp_path / "rb", ["Flush. [run: flush]"], [command("flush", "0", "1")])
    bot = await make_bot(runbooks_dir=folder)
    for n in range(1, 4):
        step = await started(bot, slack, n)
        answers = await asyncio.gather(
            bot.click(step, "step_run", user_id="UANA"),
            bot.click(step, "step_run", user_id="UBOB"),
        )
        assert [a.status for a in answers] == [200, 200]
        await slack.wait_for(
            "chat.postMessage", lambda c: "completed" in c.args["text"], count=n, timeout=20
        )
    await bot.settle()
    rows = await executions(bot)
    assert len(rows) == 3 and {r.run_id for r in rows} == {1, 2, 3}
    assert all(r.state == "succeeded" and r.attempt == 1 for r in rows)
    told = [c.args["text"] for c in slack.calls_to("chat.postEphemeral")]
    assert len(told) == 3 and all("action is running" in t for t in told), told


async def test_a_decision_waits_for_a_running_action(
    make_bot: BotFactory, slack: SlackStandIn, tmp_path: Path
) -> None:
    folder = write_runbook(tmp_path / "rb", ["Flush. [run: flush]"], [command("flush", "0", "2")])
    bot = await make_bot(runbooks_dir=folder)
    step = await started(bot, slack)
    await bot.click(step, "step_run", user_id="UANA")
    await updated_with(slack, step, "Running")
    await bot.skip(step, user_id="UBOB")
    note = (await slack.wait_for("chat.postEphemeral", lambda c: c.args["user"] == "UBOB"))[0]
    assert "action is running (started by <@UANA>)" in note.args["text"]
    await slack.wait_for("chat.postMessage", lambda c: "completed" in c.args["text"], timeout=20)
    async with bot.ctx.sessions() as session:
        decided = (
            await session.execute(select(StepDecision.decision, StepDecision.decided_by))
        ).all()
    assert decided == [("approved", "UANA")]


async def test_timeout_fails_the_action(
    make_bot: BotFactory, slack: SlackStandIn, tmp_path: Path
) -> None:
    folder = write_runbook(
        tmp_path / "rb", ["Slow. [run: slow]"], [command("slow", "0", "30", timeout="1s")]
    )
    bot = await make_bot(runbooks_dir=folder)
    step = await started(bot, slack)
    await bot.click(step, "step_run", user_id="UANA")
    await updated_with(slack, step, "timed out after 1s")
    await bot.settle()
    assert buttons(slack, step) == ["step_run", "step_skip"]
    ((_, actor, data),) = await events(bot, "action_failed")
    assert actor == "UANA" and data["code"] is None and data["result"] == "timed out after 1s"


async def test_http_action_is_signed_and_keyed_and_its_status_shown(
    make_bot: BotFactory, slack: SlackStandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RB_HOOK_SECRET", "hook-secret")
    got: list[tuple[dict[str, str], bytes]] = []

    async def hook(request: web.Request) -> web.Response:
        got.append((dict(request.headers), await request.read()))
        return web.Response(status=500 if len(got) == 1 else 202, text="deploy queued\n")

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        action = {
            "id": "deploy",
            "kind": "http",
            "url": f"http://127.0.0.1:{port}/hook",
            "body": {"incident": "{incident}", "by": "{user}"},
            "secret_env": "RB_HOOK_SECRET",
        }
        folder = write_runbook(tmp_path / "rb", ["Roll back. [run: deploy]"], [action])
        bot = await make_bot(runbooks_dir=folder)
        step = await started(bot, slack)
        assert f"POST http://127.0.0.1:{port}/hook" in text_of(step)
        await bot.click(step, "step_run", user_id="UANA")
        await updated_with(slack, step, "failed with HTTP 500")
        await bot.settle()
        await bot.click(step, "step_run", user_id="UANA")
        await slack.wait_for(
            "chat.postMessage", lambda c: "completed" in c.args["text"], timeout=20
        )
    finally:
        await runner.cleanup()
    rows = await executions(bot)
    assert [r.result["code"] for r in rows] == [500, 202]
    (headers, body), (headers2, _) = got
    assert json.loads(body) == {"incident": "INC-1", "by": "UANA"}
    assert headers["Idempotency-Key"] == str(rows[0].id) and headers2["Idempotency-Key"] == str(
        rows[1].id
    )
    stamp = headers["X-Runbook-Bot-Timestamp"]
    assert headers["X-Runbook-Bot-Signature"] == sign("hook-secret", stamp, body)


async def test_embedded_sqlite_runs_an_action_and_finds_one_cut_short_at_start(
    make_bot: BotFactory, slack: SlackStandIn, tmp_path: Path
) -> None:
    from bot.store.migrate import upgrade

    url = f"sqlite+aiosqlite:///{tmp_path}/bot.db"
    await upgrade(url)
    folder = write_runbook(
        tmp_path / "rb",
        ["Flush. [run: flush]", "Again. [run: flush]"],
        [command("flush", "0", "0")],
    )
    bot = await make_bot(database_url=url, runbooks_dir=folder)
    step = await started(bot, slack)
    await bot.click(step, "step_run", user_id="UANA")
    step2 = (await slack.wait_for("chat.postMessage", is_step, count=2, timeout=20))[1]
    assert [(r.state, r.started_by) for r in await executions(bot)] == [("succeeded", "UANA")]
    # As if the process had died while step 2's action ran: the next start finds
    # it (SQLite has one process: every running row at start is a dead one's).
    async with bot.ctx.sessions() as session, session.begin():
        session.add(
            Execution(
                incident_id=1,
                run_id=1,
                step_index=1,
                attempt=1,
                action_id="flush",
                state="running",
                started_by="UBOB",
                owner=123,
                result={"message": {"channel": step2.args["channel"], "ts": step2.ts}},
            )
        )
    await bot.close()
    again = await make_bot(database_url=url, runbooks_dir=folder)
    await updated_with(slack, step2, "may have run")
    assert [r.state for r in await executions(again)] == ["succeeded", "in_doubt"]
    await again.click(step2, "step_run", user_id="UBOB")
    await slack.wait_for("chat.postMessage", lambda c: "completed" in c.args["text"], timeout=20)
    assert [r.state for r in await executions(again)] == ["succeeded", "in_doubt", "succeeded"]


async def test_a_shutdown_ends_the_running_program_and_the_next_bot_finds_it_in_doubt(
    make_bot: BotFactory, slack: SlackStandIn, tmp_path: Path
) -> None:
    pidfile = tmp_path / "pid"
    sleeper = {
        "id": "slow",
        "kind": "command",
        "argv": [
            PY,
            "-c",
            "import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(60)",
            str(pidfile),
        ],
    }
    folder = write_runbook(tmp_path / "rb", ["Slow. [run: slow]"], [sleeper])
    bot = await make_bot(runbooks_dir=folder)
    step = await started(bot, slack)
    await bot.click(step, "step_run", user_id="UANA")
    await updated_with(slack, step, "Running")
    for _ in range(200):
        if pidfile.exists() and pidfile.read_text():
            break
        await asyncio.sleep(0.05)
    pid = int(pidfile.read_text())
    await bot.close()  # SIGTERM's path: the runner is cancelled with the process
    with pytest.raises(ProcessLookupError):  # killed and reaped
        os.kill(pid, 0)
    assert [r.state for r in await executions(bot)] == ["running"]
    again = await make_bot(runbooks_dir=folder)
    await updated_with(slack, step, "may have run")
    assert [r.state for r in await executions(again)] == ["in_doubt"]
