"""ESCALATION_ACTION end to end: real ``runbook-bot serve`` processes (serve and
its worker), a real PostgreSQL, the Slack stand-in, and a loopback HTTP
receiver in the test that checks each request's signature and Idempotency-Key.

A missed response target and an RTO breach each run the action once — with
two bots on one database, and across a ``kill -9`` mid-request (run again
after the restart only when the action is idempotent, with the same key)."""

from __future__ import annotations

import asyncio
import hmac
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.runs.executor import sign
from bot.store.executions import Execution
from bot.store.models import TimelineEvent
from tests import process_support
from tests.process_support import free_port
from tests.rig import SlackStandIn

db = process_support.db
make_process = process_support.make_process

SECRET = "escalation-signing-secret"
TOKEN = "pd-routing-key-0123456789"


@dataclass
class Receiver:
    """A paging service stand-in: records each request and whether it verified."""

    url: str = ""
    seen: list[dict[str, Any]] = field(default_factory=list)
    hold: asyncio.Event | None = None  # set: answer; unset: keep the request hanging

    def verified(self) -> list[dict[str, Any]]:
        return [r for r in self.seen if r["signed"]]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    box = Receiver()

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        timestamp = request.headers.get("X-Runbook-Bot-Timestamp", "")
        given = request.headers.get("X-Runbook-Bot-Signature", "")
        fresh = timestamp.isdigit() and abs(time.time() - int(timestamp)) < 300
        box.seen.append(
            {
                "signed": fresh and hmac.compare_digest(sign(SECRET, timestamp, body), given),
                "key": request.headers.get("Idempotency-Key"),
                "auth": request.headers.get("Authorization"),
                "body": json.loads(body),
            }
        )
        if box.hold is not None:
            await box.hold.wait()
        return web.json_response({"status": "success"}, status=202)

    app = web.Application()
    app.router.add_post("/page", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    box.url = f"http://127.0.0.1:{port}/page"
    yield box
    if box.hold is not None:
        box.hold.set()
    await runner.cleanup()


def folder(tmp_path: Path, url: str, *, idempotent: bool = False) -> Path:
    """A runbooks folder: one runbook with a 3 s RTO and the paging action."""
    root = tmp_path / "runbooks"
    root.mkdir(exist_ok=True)
    (root / "RB-T.md").write_text(
        "---\nid: RB-T\ntitle: Clocked\nseverity: SEV2\nrto: 3s\n---\n\n"
        "# Clocked\n\n## Steps\n\n1. Do the first thing.\n2. Do the second thing.\n"
    )
    (root / "actions.yaml").write_text(
        "actions:\n"
        "  - id: page-oncall\n"
        "    kind: http\n"
        f"    url: {url}\n"
        "    headers: {Authorization: 'Token ${PAGER_TOKEN}'}\n"
        "    body:\n"
        "      incident: '{incident}'\n"
        "      priority: '{priority}'\n"
        "      reason: '{reason}'\n"
        "    secret_env: PAGER_SIGNING_SECRET\n"
        "    timeout: 20s\n"
        f"    idempotent: {'true' if idempotent else 'false'}\n"
    )
    return root


def settings(root: Path, **extra: str) -> dict[str, str]:
    return {
        "RUNBOOKS_DIR": str(root),
        "ESCALATION_ACTION": "page-oncall",
        "PAGER_SIGNING_SECRET": SECRET,
        "PAGER_TOKEN": TOKEN,
        "PRIORITY_LEVELS": "critical=1.5s,low=1d",
        "DEFAULT_PRIORITY": "low",
        **extra,
    }


async def rows(db: AsyncEngine) -> list[Any]:
    async with db.connect() as conn:
        query = select(
            Execution.id,
            Execution.incident_id,
            Execution.run_id,
            Execution.step_index,
            Execution.state,
            Execution.started_by,
            Execution.action_id,
        ).order_by(Execution.id)
        return list((await conn.execute(query)).all())


async def events(db: AsyncEngine, *kinds: str) -> list[Any]:
    async with db.connect() as conn:
        query = select(
            TimelineEvent.incident_id, TimelineEvent.kind, TimelineEvent.actor, TimelineEvent.data
        ).where(TimelineEvent.kind.in_(kinds))
        return list((await conn.execute(query.order_by(TimelineEvent.id))).all())


async def until(check: Any, timeout: float = 30.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = await check()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


ENDS = ("action_succeeded", "action_failed")


async def test_a_missed_target_and_an_rto_breach_page_once_across_two_bots(
    make_process: Any, slack: SlackStandIn, db: AsyncEngine, receiver: Receiver, tmp_path: Path
) -> None:
    root = folder(tmp_path, receiver.url)
    a, b = make_process(**settings(root)), make_process(**settings(root))
    await a.start()
    await b.start()
    assert (await a.command("/incident", "declare critical Payments down")).status == 200
    assert (await b.command("/runbook", "start RB-T restore")).status == 200

    ended = await until(lambda: _at_least(events(db, *ENDS), 2), what="both ends", timeout=40)
    await asyncio.sleep(2.0)  # anything else would have come by now
    assert len(receiver.seen) == 2, receiver.seen
    assert len(receiver.verified()) == 2  # signed as documented, with a fresh timestamp
    executions = await rows(db)
    assert len(executions) == 2
    (missed,) = [r for r in executions if r.run_id is None]
    (breached,) = [r for r in executions if r.run_id is not None]
    assert (missed.step_index, missed.started_by) == (None, None)
    assert (breached.step_index, breached.started_by) == (None, None)
    assert {r.state for r in executions} == {"succeeded"}

    bodies = {r["key"]: r for r in receiver.seen}  # Idempotency-Key: the execution's id
    first = bodies[str(missed.id)]
    inc = f"INC-{missed.incident_id}"
    assert first["body"] == {
        "incident": inc,
        "priority": "critical",
        "reason": f"{inc} (critical) not acknowledged within its response target",
    }
    assert first["auth"] == f"Token {TOKEN}"  # ${PAGER_TOKEN} read from the bot's environment
    second = bodies[str(breached.id)]
    assert second["body"] == {
        "incident": f"INC-{breached.incident_id}",
        "priority": "low",
        "reason": "RB-T still running after its RTO (3s)",
    }

    started = await events(db, "action_started")
    ended = await events(db, *ENDS)
    assert sorted(e.incident_id for e in started) == sorted(r.incident_id for r in executions)
    assert [e.kind for e in ended] == ["action_succeeded"] * 2
    assert {e.actor for e in [*started, *ended]} == {None}  # the bot itself
    by_incident = {r.incident_id: r for r in executions}
    for event in ended:
        assert event.data["code"] == 202 and event.data["action"] == "page-oncall"
        assert event.data["execution"] == by_incident[event.incident_id].id
        assert TOKEN not in json.dumps(event.data)


async def _at_least(query: Any, n: int) -> list[Any] | None:
    found = await query
    return found if len(found) >= n else None


@pytest.mark.parametrize("idempotent", [False, True])
async def test_kill_9_mid_request_never_pages_again_unless_idempotent(
    make_process: Any,
    slack: SlackStandIn,
    db: AsyncEngine,
    receiver: Receiver,
    tmp_path: Path,
    idempotent: bool,
) -> None:
    root = folder(tmp_path, receiver.url, idempotent=idempotent)
    bot = make_process(**settings(root))
    await bot.start()
    receiver.hold = asyncio.Event()  # the paging service takes its time
    assert (await bot.command("/incident", "declare critical Search down")).status == 200
    await until(lambda: _seen(receiver, 1), what="the page request")
    await bot.kill()  # serve and worker, mid-request

    receiver.hold.set()  # from now on it answers at once
    await bot.start()
    await bot.wait_log("escalation action 'page-oncall'")
    if idempotent:
        await until(lambda: _at_least(events(db, *ENDS), 1), what="the rerun's end")
        await asyncio.sleep(1.0)
        assert len(receiver.seen) == 2  # run again once, with the same key
        assert receiver.seen[0]["key"] == receiver.seen[1]["key"]
        assert [e.kind for e in await events(db, *ENDS)] == ["action_succeeded"]
        assert [r.state for r in await rows(db)] == ["succeeded"]
        started = await events(db, "action_started")
        assert [bool(e.data.get("again")) for e in started] == [False, True]
    else:
        (ended,) = await until(lambda: events(db, *ENDS), what="the in-doubt record")
        assert ended.kind == "action_failed" and ended.actor is None
        assert "may have run" in ended.data["result"]
        await asyncio.sleep(2.0)
        assert len(receiver.seen) == 1  # never sent again by itself
        assert [r.state for r in await rows(db)] == ["in_doubt"]
    # The deadline fired once: no second response-target message either.
    missed = [c for c in slack.calls_to("chat.postMessage") if "response target" in c.args["text"]]
    assert len(missed) == 1


async def _seen(receiver: Receiver, n: int) -> bool:
    return len(receiver.seen) >= n


async def test_an_unknown_escalation_action_is_named_once_and_the_bot_serves(
    make_process: Any, slack: SlackStandIn, db: AsyncEngine, receiver: Receiver, tmp_path: Path
) -> None:
    root = folder(tmp_path, receiver.url)
    bot = make_process(**settings(root, ESCALATION_ACTION="page-on-call"))
    await bot.start()
    await bot.wait_log("ESCALATION_ACTION 'page-on-call' is not an action of")
    lines = [line for line in bot.log().splitlines() if "ESCALATION_ACTION" in line]
    assert len(lines) == 1 and "page-oncall" in lines[0], lines  # names what there is
    assert (await bot.command("/incident", "declare critical Login broken")).status == 200
    await slack.wait_for(
        "chat.postMessage", lambda c: "response target" in c.args["text"], timeout=15
    )
    await asyncio.sleep(1.0)
    assert receiver.seen == [] and await rows(db) == []


async def test_a_drill_pages_nobody(
    make_process: Any, slack: SlackStandIn, db: AsyncEngine, receiver: Receiver, tmp_path: Path
) -> None:
    bot = make_process(**settings(folder(tmp_path, receiver.url)))
    await bot.start()
    assert (await bot.command("/runbook", "drill RB-T staging Failover rehearsal")).status == 200
    breach = await slack.wait_for(
        "chat.postMessage", lambda c: "RTO breached" in c.args.get("text", ""), timeout=20
    )
    assert "drill" in breach[0].args["text"].lower()  # the drill's breach was fired
    await asyncio.sleep(1.5)
    assert receiver.seen == [] and await rows(db) == []
    assert await events(db, "action_started", *ENDS) == []
