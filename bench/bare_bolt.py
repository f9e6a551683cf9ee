"""The framework's floor: a bare Bolt ``AsyncApp`` on aiohttp whose listeners only ack().

Started as a subprocess by ``bench/ack_latency.py`` (not a benchmark on its own):

    python bench/bare_bolt.py --port 3100 --mode default|pbr|durable --slack-url URL
                              [--database-url postgresql+asyncpg://…]   (durable)

``default`` is Bolt's default mode (the response waits for a loop that checks
for ``ack()`` every 10 ms); ``pbr`` is ``process_before_response=True`` (the
response leaves when the listener returns), which is what runbook-bot uses.

``durable`` is ``pbr`` whose listeners first INSERT one row into
``bench_acks`` and COMMIT (SQLAlchemy async + asyncpg, the bot's own engine
options from ``bot.db.make_engine``: pool, checkout ping, timeouts), then ack(): the
floor for any app that makes an acknowledgement durable before sending it. The
table is created at start if missing.
"""

from __future__ import annotations

import argparse
import logging

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

SECRET = "bench-signing-secret"
MODES = ("default", "pbr", "durable")

CREATE_TABLE = (
    "CREATE TABLE IF NOT EXISTS bench_acks ("
    " id bigserial PRIMARY KEY,"
    " kind text NOT NULL,"
    " at timestamptz NOT NULL DEFAULT now())"
)


class DurableAcks:
    """One INSERT + COMMIT per acknowledgement, through the bot's engine options."""

    def __init__(self, database_url: str) -> None:
        # Imported here: the default and pbr apps stay free of SQLAlchemy.
        from sqlalchemy import column, insert, table, text

        from bot.store.db import make_engine

        self.engine = make_engine(database_url)
        self._create = text(CREATE_TABLE)
        self._insert = insert(table("bench_acks", column("kind")))

    async def start(self, _: web.Application) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(self._create)

    async def stop(self, _: web.Application) -> None:
        await self.engine.dispose()

    async def record(self, kind: str) -> None:
        # Checkout (ping), BEGIN, INSERT, COMMIT: what "durable" costs at least.
        async with self.engine.begin() as conn:
            await conn.execute(self._insert, {"kind": kind})


def build(mode: str, slack_url: str, database_url: str | None = None) -> web.Application:
    bolt = AsyncApp(
        client=AsyncWebClient(token="xoxb-bench-token", base_url=slack_url),
        signing_secret=SECRET,
        process_before_response=mode != "default",
        logger=logging.getLogger("bare"),
    )
    durable: DurableAcks | None = None
    if mode == "durable":
        if not database_url:
            raise SystemExit("--mode durable needs --database-url")
        durable = DurableAcks(database_url)

    async def acknowledge(ack: AsyncAck, kind: str) -> None:
        if durable is not None:
            await durable.record(kind)
        await ack()

    @bolt.command("/runbook")
    async def command(ack: AsyncAck) -> None:
        await acknowledge(ack, "command")

    @bolt.action("step_approve")
    async def approve(ack: AsyncAck) -> None:
        await acknowledge(ack, "step_approve")

    @bolt.action("step_skip")
    async def skip(ack: AsyncAck) -> None:
        await acknowledge(ack, "step_skip")

    # Same adapter calls as bot/web.py, minus the bot's metrics.
    async def events(request: web.Request) -> web.Response:
        bolt_request = await to_bolt_request(request)
        return await to_aiohttp_response(await bolt.async_dispatch(bolt_request))

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_post("/slack/events", events)
    app.router.add_get("/healthz", healthz)
    if durable is not None:
        app.on_startup.append(durable.start)
        app.on_cleanup.append(durable.stop)
    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mode", choices=MODES, default="default")
    parser.add_argument("--slack-url", required=True)
    parser.add_argument("--database-url", help="postgresql+asyncpg://… (mode durable)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    web.run_app(
        build(args.mode, args.slack_url, args.database_url),
        host="127.0.0.1",
        port=args.port,
        access_log=None,
        print=None,
    )


if __name__ == "__main__":
    main()
