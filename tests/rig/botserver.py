"""The real bot, served over HTTP on loopback, driven like Slack drives it."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from bot.app import BotApp, build_app
from bot.settings import Settings, load_settings

from .signing import SlackSigner, post
from .standin import Call, SlackStandIn

SIGNING_SECRET = "test-signing-secret"


@dataclass
class Response:
    status: int
    body: Any
    elapsed: float

    @property
    def text(self) -> str:
        if isinstance(self.body, dict):
            return str(self.body.get("text", ""))
        return str(self.body or "")


@dataclass
class BotServer:
    slack: SlackStandIn
    settings: Settings
    app: BotApp
    runner: web.AppRunner
    url: str
    http: aiohttp.ClientSession
    signer: SlackSigner = field(default_factory=lambda: SlackSigner(SIGNING_SECRET))
    latencies: dict[str, list[float]] = field(default_factory=dict)

    @property
    def ctx(self) -> Any:
        return self.app.ctx

    async def send(self, body: bytes, kind: str, **kwargs: Any) -> Response:
        status, parsed, elapsed = await post(
            self.http, self.url + "/slack/events", body, signer=self.signer, **kwargs
        )
        self.latencies.setdefault(kind, []).append(elapsed)
        return Response(status, parsed, elapsed)

    async def command(self, command: str, text: str, **kwargs: Any) -> Response:
        kwargs.setdefault("channel_name", "incidents")
        return await self.send(self.signer.slash_command(command, text, **kwargs), command)

    async def click(
        self, call: Call, action_id: str, *, user_id: str = "U1", **kw: Any
    ) -> Response:
        """Click a button on a message the bot posted (found in the stand-in)."""
        channel = call.args["channel"]
        ts = call.ts
        message = self.slack.message(channel, ts)
        try:
            value = button_value(message.get("blocks", []), action_id)
        except AssertionError:
            # Already updated without buttons (a fast outbox): click as a client
            # still showing the message as posted would — a late or replayed click.
            value = button_value(call.args.get("blocks", []), action_id)
        body = self.signer.block_action(
            action_id,
            value,
            message_ts=ts,
            channel_id=channel,
            user_id=user_id,
            thread_ts=message.get("thread_ts"),
            message=message,
            **kw,
        )
        return await self.send(body, "click")

    async def skip(
        self,
        call: Call,
        *,
        user_id: str = "U1",
        reason: str = "",
        view_id: str | None = None,
        user_name: str | None = None,
    ) -> Response:
        """Skip a step as a person does: click Skip, then submit the modal it
        opens (the reason typed, or none). Answers the submission's response
        (the click's, when that failed)."""
        trigger = new_trigger()
        clicked = await self.click(
            call, "step_skip", user_id=user_id, trigger_id=trigger, user_name=user_name
        )
        if clicked.status != 200:
            return clicked
        body = await skip_submission(
            self.slack, self.signer, trigger, user_id=user_id, reason=reason, view_id=view_id
        )
        return await self.send(body, "view")

    async def decide(
        self, call: Call, action_id: str, *, user_id: str = "U1", user_name: str | None = None
    ) -> Response:
        """Approve (one click) or Skip (a click, then its modal submitted)."""
        if action_id == "step_skip":
            return await self.skip(call, user_id=user_id, user_name=user_name)
        return await self.click(call, action_id, user_id=user_id, user_name=user_name)

    async def settle(self, timeout: float = 15.0) -> None:
        """Wait until every acknowledged request was acted on and the outbox
        has nothing pending (delivery finished).

        ``timeout`` counts from the last progress: at Slack's real pace (one
        post a second per channel) a backlog drains slowly but steadily, and
        only a backlog that stops shrinking for ``timeout`` seconds fails."""
        deadline = time.monotonic() + timeout
        least = None
        while time.monotonic() < deadline:
            left = await self._left()
            if left == 0:
                await asyncio.sleep(0.02)
                if await self._left() == 0:
                    return
            if least is None or left < least:
                least = left
                deadline = time.monotonic() + timeout
            await asyncio.sleep(0.02)
        raise AssertionError(f"intake/outbox did not drain in time ({least} left)")

    async def _left(self) -> int:
        return await self.ctx.intake_worker.pending_count() + await self.ctx.outbox.pending_count()

    async def close(self) -> None:
        await self.runner.cleanup()


def new_trigger() -> str:
    """A trigger id shaped like Slack's, to find the modal a click opened."""
    return f"{secrets.randbelow(10**11)}.{secrets.randbelow(10**12)}.{secrets.token_hex(8)}"


async def skip_submission(
    slack: SlackStandIn,
    signer: SlackSigner,
    trigger: str,
    *,
    user_id: str,
    reason: str = "",
    view_id: str | None = None,
) -> bytes:
    """The submission of the Skip modal the click with ``trigger`` opened."""
    opened = await slack.wait_for(
        "views.open", lambda c: c.args.get("trigger_id") == trigger, timeout=10.0
    )
    view = opened[0].args["view"]
    view = json.loads(view) if isinstance(view, str) else view
    return signer.view_submission(
        view["callback_id"],
        {"reason": {"text": reason}},
        private_metadata=view["private_metadata"],
        user_id=user_id,
        view_id=view_id or str((opened[0].response.get("view") or {}).get("id") or "V1"),
    )


def button_value(blocks: list[dict[str, Any]], action_id: str) -> str:
    for block in blocks:
        for element in block.get("elements", []) if block.get("type") == "actions" else []:
            if element.get("action_id") == action_id:
                return str(element.get("value", ""))
    raise AssertionError(f"no {action_id} button in message")


async def start_bot(
    slack: SlackStandIn,
    database_url: str,
    http: aiohttp.ClientSession,
    *,
    worker: bool = True,
    **overrides: Any,
) -> BotServer:
    values: dict[str, Any] = {
        "slack_bot_token": "xoxb-test-token",
        "slack_signing_secret": SIGNING_SECRET,
        "slack_api_url": slack.url,
        "database_url": database_url,
        "incident_channels": "incidents",
        "status_update_interval": 1800,
        "log_level": "WARNING",
    }
    values.update(overrides)
    settings = load_settings(**values)
    app = build_app(settings, worker=worker)
    runner = web.AppRunner(app.web, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return BotServer(slack, settings, app, runner, f"http://127.0.0.1:{port}", http)
