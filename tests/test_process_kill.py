"""The bot process is SIGKILLed mid-run and mid-reminder, then restarted.

``runbook-bot serve`` runs as a real subprocess against the test database and
the Slack stand-in. After each restart: nothing the bot acknowledged is
missing, nothing is posted twice, and buttons on messages posted by the dead
process still work.

Determinism: a message can only be posted twice if the kill lands after Slack
accepted a call and before the bot committed "sent" (inherent at-least-once;
see docs/operations.md). The tests kill while Slack is refusing every write
(503), so rows are pending and no accepted call is in flight.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bot.store.models import Incident, OutboxMessage, StepDecision, TimelineEvent
from tests.rig import Call, SlackStandIn
from tests.rig.botserver import SIGNING_SECRET, Response, button_value
from tests.rig.signing import SlackSigner, post
from tests.test_e2e_runbook import is_step

BIN = Path(sys.executable).parent / "runbook-bot"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class BotProcess:
    """``runbook-bot serve`` in a subprocess, driven over HTTP like Slack drives it."""

    def __init__(
        self, env: dict[str, str], log_path: Path, http: aiohttp.ClientSession, slack: SlackStandIn
    ) -> None:
        self.env = env
        self.log_path = log_path
        self.http = http
        self.slack = slack
        self.port = int(env["PORT"])
        self.url = f"http://127.0.0.1:{self.port}"
        self.signer = SlackSigner(SIGNING_SECRET)
        self.proc: asyncio.subprocess.Process | None = None
        self.starts = 0

    async def start(self, timeout: float = 30.0) -> None:
        self.starts += 1
        log = self.log_path.open("ab")
        log.write(f"\n===== start {self.starts} =====\n".encode())
        log.flush()
        self.proc = await asyncio.create_subprocess_exec(
            str(BIN),
            "serve",
            env=self.env,
            cwd=str(self.log_path.parent),
            stdout=log,
            stderr=log,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.returncode is None, f"bot exited:\n{self.log()}"
            try:
                async with self.http.get(self.url + "/healthz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
        raise AssertionError(f"bot did not become healthy:\n{self.log()}")

    async def kill(self, sig: int = signal.SIGKILL) -> None:
        assert self.proc is not None and self.proc.returncode is None
        self.proc.send_signal(sig)
        code = await asyncio.wait_for(self.proc.wait(), 15)
        if sig == signal.SIGKILL:
            assert code == -signal.SIGKILL
        self.proc = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:]

    async def send(self, body: bytes) -> Response:
        status, parsed, elapsed = await post(
            self.http, self.url + "/slack/events", body, signer=self.signer
        )
        return Response(status, parsed, elapsed)

    async def command(self, command: str, text: str, **kw: Any) -> Response:
        return await self.send(self.signer.slash_command(command, text, **kw))

    async def click(self, call: Call, action_id: str, user_id: str = "U1") -> Response:
        channel = call.args["channel"]
        message = self.slack.message(channel, call.ts)
        body = self.signer.block_action(
            action_id,
            button_value(message.get("blocks", []), action_id),
            message_ts=call.ts,
            channel_id=channel,
            user_id=user_id,
            message=message,
        )
        return await self.send(body)


@pytest.fixture
async def db(clean_db: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(clean_db)
    yield engine
    await engine.dispose()


@pytest.fixture
async def make_process(clean_db: str, slack: SlackStandIn, tmp_path: Path) -> AsyncIterator[Any]:
    procs: list[BotProcess] = []
    async with aiohttp.ClientSession() as http:

        def factory(**extra: str) -> BotProcess:
            env = {
                "PATH": os.environ.get("PATH", ""),
                "HOME": os.environ.get("HOME", str(tmp_path)),
                "SLACK_BOT_TOKEN": "xoxb-test-token",
                "SLACK_SIGNING_SECRET": SIGNING_SECRET,
                "SLACK_API_URL": slack.url,
                "DATABASE_URL": clean_db,
                "PORT": str(free_port()),
                "HOST": "127.0.0.1",
                "INCIDENT_CHANNELS": "incidents",
                "STATUS_UPDATE_INTERVAL": "1800",
                "OUTBOX_LEASE_SECONDS": "1",
                "LOG_LEVEL": "INFO",
                **extra,
            }
            if os.environ.get("PYTHONPATH"):
                env["PYTHONPATH"] = os.environ["PYTHONPATH"]
            proc = BotProcess(env, tmp_path / "bot.log", http, slack)
            procs.append(proc)
            return proc

        yield factory
        for proc in procs:
            if proc.proc is not None and proc.proc.returncode is None:
                proc.proc.kill()
                await proc.proc.wait()


async def scalar(db: AsyncEngine, query: Any) -> Any:
    async with db.connect() as conn:
        return (await conn.execute(query)).scalar()


async def pending(db: AsyncEngine) -> int:
    return await scalar(
        db, select(func.count(OutboxMessage.id)).where(OutboxMessage.state == "pending")
    )


async def drained(db: AsyncEngine, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while await pending(db):
        assert time.monotonic() < deadline, "outbox did not drain"
        await asyncio.sleep(0.1)


async def wait_rejected(slack: SlackStandIn, method: str, n: int = 1, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while len([r for r in slack.rejected if r.method == method]) < n:
        assert time.monotonic() < deadline, f"no attempt to call {method}"
        await asyncio.sleep(0.05)


def steps_posted(slack: SlackStandIn) -> list[Call]:
    return [c for c in slack.calls_to("chat.postMessage") if is_step(c)]


async def test_sigkill_mid_run_loses_nothing_and_posts_nothing_twice(
    make_process: Any, slack: SlackStandIn, db: AsyncEngine
) -> None:
    bot = make_process()
    await bot.start()
    started = await bot.command("/runbook", "start RB-04 killed mid-run", user_id="UALICE")
    assert started.status == 200 and started.text == ""
    posted = await slack.wait_for("chat.postMessage", count=2, timeout=10)
    run_msg, step1 = posted
    await drained(db)

    # 1. Killed while idle; the restarted process serves the old buttons.
    await bot.kill()
    await bot.start()
    assert (await bot.click(step1, "step_approve", "UBOB")).status == 200
    step2 = (await slack.wait_for("chat.postMessage", is_step, count=2))[1]
    await slack.wait_for("chat.update", lambda c: c.args["ts"] == step1.ts)
    await drained(db)

    # 2. Killed with acknowledged work still owed to Slack (Slack refusing writes).
    for method in ("chat.postMessage", "chat.update"):
        slack.fail(method, status=503, times=100_000)
    click = await bot.click(step2, "step_skip", "UCAROL")
    update = await bot.command("/incident", "update INC-1 mitigation in progress")
    assert click.status == update.status == 200 and update.text == ""
    await wait_rejected(slack, "chat.update")
    owed = await pending(db)
    assert owed >= 4  # step 2 update, run message update, step 3, status update
    await bot.kill()
    accepted_before = len(slack.calls)
    assert await pending(db) == owed  # acknowledged = committed, kill or not
    slack.reset_faults()

    await bot.start()
    await drained(db)
    new = slack.calls[accepted_before:]
    assert len([c for c in new if c.method in ("chat.postMessage", "chat.update")]) == owed
    steps = steps_posted(slack)
    assert len(steps) == 3, slack.summary()
    assert len({c.args["text"] for c in steps}) == 3  # no step posted twice
    assert len([c for c in slack.calls_to("chat.update") if c.args["ts"] == step2.ts]) == 1
    updates = [
        c for c in slack.calls_to("chat.postMessage") if "Status update for" in c.args["text"]
    ]
    assert len(updates) == 1
    assert "Skipped" in str(slack.message("C_INC", step2.ts)["blocks"])

    # 3. Buttons keep working across both restarts: the new step, and the run
    #    message's Abort button posted by the first process.
    assert (await bot.click(steps[2], "step_approve", "UDAVE")).status == 200
    await slack.wait_for("chat.postMessage", is_step, count=4)
    assert (await bot.click(run_msg, "run_abort", "UALICE")).status == 200
    await slack.wait_for("chat.postMessage", lambda c: "aborted" in c.args["text"])
    await drained(db)
    async with db.connect() as conn:
        decisions = (
            await conn.execute(
                select(
                    StepDecision.step_index, StepDecision.decision, StepDecision.decided_by
                ).order_by(StepDecision.step_index)
            )
        ).all()
        kinds = (
            (await conn.execute(select(TimelineEvent.kind).order_by(TimelineEvent.id)))
            .scalars()
            .all()
        )
    assert [tuple(d) for d in decisions] == [
        (0, "approved", "UBOB"),
        (1, "skipped", "UCAROL"),
        (2, "approved", "UDAVE"),
    ]
    assert kinds == [
        "incident_opened",
        "runbook_started",
        "step_approved",
        "incident_acknowledged",  # by the first decision (SPEC §7)
        "step_skipped",
        "status_update",
        "step_approved",
        "runbook_aborted",
    ]
    assert slack.invalid == []


async def test_sigkill_mid_reminder_posts_each_reminder_once(
    make_process: Any, slack: SlackStandIn, db: AsyncEngine
) -> None:
    bot = make_process(STATUS_UPDATE_INTERVAL="1.5")
    await bot.start()
    declared = await bot.command("/incident", "declare reminders survive kills")
    assert declared.status == 200 and declared.text == ""
    await slack.wait_for("chat.postMessage")
    await drained(db)

    def reminders_posted() -> int:
        return len(
            [
                c
                for c in slack.calls_to("chat.postMessage")
                if "time for a status update" in c.args["text"]
            ]
        )

    async def reminders_recorded() -> int:
        return await scalar(
            db, select(func.count(TimelineEvent.id)).where(TimelineEvent.kind == "reminder_sent")
        )

    # A reminder comes due and is recorded while Slack refuses to post it.
    slack.fail("chat.postMessage", status=503, times=100_000)
    deadline = time.monotonic() + 10
    while await reminders_recorded() == 0:
        assert time.monotonic() < deadline, f"no reminder recorded:\n{bot.log()}"
        await asyncio.sleep(0.05)
    await wait_rejected(slack, "chat.postMessage")
    await bot.kill()
    recorded = await reminders_recorded()
    assert recorded >= 1 and reminders_posted() == 0
    assert await pending(db) == recorded
    await asyncio.sleep(2)  # down past the next due time
    slack.reset_faults()

    await bot.start()
    await drained(db)
    # The owed reminder arrives; a catch-up follows the missed due time; the
    # rhythm goes on from the restarted process.
    deadline = time.monotonic() + 10
    while reminders_posted() < recorded + 1:
        assert time.monotonic() < deadline, slack.summary()
        await asyncio.sleep(0.05)
    resolved = await bot.command("/incident", "resolve INC-1")
    assert resolved.status == 200
    await slack.wait_for("chat.postMessage", lambda c: "resolved" in c.args["text"])
    await drained(db)
    await bot.kill(signal.SIGTERM)
    # Exactly one message per recorded reminder: none lost, none doubled.
    assert reminders_posted() == await reminders_recorded()
    incident = await scalar(db, select(Incident.state))
    assert incident == "resolved"
    assert slack.invalid == []
