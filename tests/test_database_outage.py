"""The database cut off (through ``tests/rig/tcpproxy.py``): a clear ephemeral
"temporarily unavailable", ``/healthz`` 503, recovery without a restart;
connections cut while idle are replaced before anyone notices."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select

from bot.store.models import HandledRequest, Incident, Run, StepDecision, TimelineEvent
from commands.common import UNAVAILABLE
from tests.conftest import BotFactory
from tests.rig import SlackStandIn
from tests.rig.botserver import BotServer
from tests.rig.tcpproxy import TcpProxy
from tests.test_e2e_runbook import is_step, start


@pytest.fixture
async def proxy(clean_db: str) -> AsyncIterator[TcpProxy]:
    async with TcpProxy.for_url(clean_db) as p:
        yield p


async def healthz(bot: BotServer) -> int:
    async with bot.http.get(bot.url + "/healthz") as resp:
        return resp.status


async def test_database_outage_is_clear_and_heals(
    make_bot: BotFactory, slack: SlackStandIn, proxy: TcpProxy, clean_db: str
) -> None:
    bot = await make_bot(database_url=proxy.url_for(clean_db))
    assert await healthz(bot) == 200
    step1 = await start(bot, slack)
    await bot.settle()

    proxy.sever()
    t0 = time.monotonic()
    assert await healthz(bot) == 503
    started = await bot.command("/runbook", "start RB-03 during the outage")
    update_ = await bot.command("/incident", "update INC-1 during the outage")
    note = await bot.command("/incident", "note INC-1 during the outage")
    click = await bot.click(step1, "step_approve", user_id="UALICE")
    for response in (started, update_, note, click):
        assert response.status == 200 and response.elapsed < 3
    for response in (started, update_, note):
        assert response.text == UNAVAILABLE
    told = await slack.wait_for("chat.postEphemeral", lambda c: c.args["user"] == "UALICE")
    assert told[0].args["text"] == UNAVAILABLE
    assert time.monotonic() - t0 < 10
    metrics = await (await bot.http.get(bot.url + "/metrics")).text()
    assert "runbook_bot_database_errors_total 4.0" in metrics
    # Stay down a while: the background loops keep failing, nothing crashes.
    await asyncio.sleep(2.5)
    assert await healthz(bot) == 503
    assert bot.ctx.outbox._task is not None and not bot.ctx.outbox._task.done()

    proxy.restore()
    # Healthy again by itself (the checkout ping replaces the dead connections).
    deadline = time.monotonic() + 10
    while await healthz(bot) != 200:
        assert time.monotonic() < deadline, "bot did not recover"
        await asyncio.sleep(0.2)
    # The click that was refused works now; so do commands.
    again = await bot.click(step1, "step_approve", user_id="UALICE")
    assert again.status == 200
    await slack.wait_for("chat.postMessage", is_step, count=2)
    note = await bot.command("/incident", "note INC-1 after the outage")
    assert "Note added" in note.text
    await bot.settle()
    # Nothing half-written: the refused requests left no trace.
    async with bot.ctx.sessions() as session:
        assert (await session.execute(select(func.count(Incident.id)))).scalar() == 1
        assert (await session.execute(select(func.count(Run.id)))).scalar() == 1
        assert (await session.execute(select(func.count(StepDecision.id)))).scalar() == 1
        texts = (await session.execute(select(TimelineEvent.text))).scalars().all()
        assert not any("during the outage" in t for t in texts)
        assert (
            await session.execute(select(func.count()).select_from(HandledRequest))
        ).scalar() == 2  # the first start and the last note
    assert proxy.refused > 0


async def test_silent_connection_drop_is_invisible(
    make_bot: BotFactory, slack: SlackStandIn, proxy: TcpProxy, clean_db: str
) -> None:
    """Connections cut while idle (a failover, a firewall) are replaced before
    use (checkout ping; the intake pool retries once): nobody sees "temporarily unavailable"."""
    bot = await make_bot(database_url=proxy.url_for(clean_db))
    await bot.command("/incident", "declare blip")
    # The ack path's own pool (the intake) holds an idle connection too.
    assert (await bot.command("/runbook", "start RB-04 INC-1")).text == ""
    await bot.settle()
    # Fill the pool with several connections, then cut them all while idle.
    assert await asyncio.gather(*(healthz(bot) for _ in range(8))) == [200] * 8
    proxy.sever()
    proxy.restore()
    replies = await asyncio.gather(
        *(bot.command("/incident", f"note INC-1 after blip {n}") for n in range(6))
    )
    assert [r.text for r in replies] == ["📝 Note added to INC-1's timeline."] * 6
    assert await healthz(bot) == 200
    # A start through the intake pool, whose connection died idle: accepted.
    assert (await bot.command("/runbook", "start RB-01 after blip")).text == ""
    await slack.wait_for("chat.postMessage", lambda c: "RB-01" in c.args["text"])


async def test_worker_engine_trusts_only_recently_used_connections(
    proxy: TcpProxy, clean_db: str
) -> None:
    """The worker's engine skips the checkout ping for a connection used in
    the last PING_AFTER_IDLE seconds (a cut one fails once and is replaced,
    and the worker retries from the database); an older one is pinged and
    replaced before use, as the serving process's always are."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from bot.store.db import PING_AFTER_IDLE, is_transient, make_engine

    async def select_one(engine) -> int:  # type: ignore[no-untyped-def]
        async with engine.connect() as conn:
            return int((await conn.execute(text("SELECT 1"))).scalar_one())

    worker = make_engine(proxy.url_for(clean_db), pool_size=1, worker=True)
    serving = make_engine(proxy.url_for(clean_db), pool_size=1)
    try:
        assert await select_one(worker) == 1 and await select_one(serving) == 1
        proxy.sever()
        proxy.restore()
        # Just used: the worker trusts its connection and finds it dead — once.
        with pytest.raises(DBAPIError) as failed:
            await select_one(worker)
        assert is_transient(failed.value)
        assert await select_one(worker) == 1
        # The serving engine pinged, replaced the cut connection, and never failed.
        assert await select_one(serving) == 1
        # Idle longer than PING_AFTER_IDLE: pinged and replaced, no failure.
        await asyncio.sleep(PING_AFTER_IDLE + 0.2)
        proxy.sever()
        proxy.restore()
        assert await select_one(worker) == 1
    finally:
        await worker.dispose()
        await serving.dispose()


async def test_skip_submitted_during_an_outage_says_so_in_its_modal(
    make_bot: BotFactory, slack: SlackStandIn, proxy: TcpProxy, clean_db: str
) -> None:
    bot = await make_bot(database_url=proxy.url_for(clean_db))
    step1 = await start(bot, slack)
    await bot.settle()
    proxy.sever()
    answer = await bot.skip(step1, user_id="UBOB", reason="no access")  # the modal opens
    assert answer.status == 200
    assert answer.body == {"response_action": "errors", "errors": {"reason": UNAVAILABLE}}
    proxy.restore()
    deadline = time.monotonic() + 10
    while await healthz(bot) != 200:
        assert time.monotonic() < deadline, "bot did not recover"
        await asyncio.sleep(0.2)
    async with bot.ctx.sessions() as session:
        assert (await session.execute(select(func.count(StepDecision.id)))).scalar() == 0
