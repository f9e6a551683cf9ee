"""``runbook-bot playground``: the real bot, a simulated workspace and the page, in one process.

Settings are built in code — a random signing secret and a random
``xoxb-playground-…`` bot token per run, ``SLACK_API_URL`` at this server's ``/api/`` — and
the app factory builds the same Bolt app and worker ``serve`` runs. The page's
actions arrive at ``/playground/act`` and leave as Slack-signed requests to
the real ``/slack/events`` over loopback, so verification, Bolt's dispatch
and the listeners run exactly as with Slack. ``guard`` lets only the page
drive it and only the bot call the Web API.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import signal
import socket
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bot.playground import slack_requests as sr
from bot.playground.demo_runbooks import demo_folder
from bot.playground.draft import add_draft_route
from bot.playground.guard import Guard
from bot.playground.webapi import WebApi
from bot.playground.workspace import Event, Workspace
from bot.settings import Settings, load_settings

log = logging.getLogger("runbook_bot.playground")

REMINDER_INTERVAL = 60.0  # seconds, unless STATUS_UPDATE_INTERVAL is set
# One person watching: the Home tab may follow changes closely (unless set).
HOME_REFRESH = 2.0
# Loopback unless HOST says otherwise: the playground has no authentication.
DEFAULT_HOST = "127.0.0.1"
SLACK_HINT = (
    "To connect a real Slack workspace instead: set SLACK_BOT_TOKEN and "
    "SLACK_SIGNING_SECRET (see docs/slack-setup.md) and run `make run` again."
)
# Outside a checkout (an installed package, the container image) there is no `make run`.
SLACK_HINT_INSTALLED = (
    "To connect a real Slack workspace instead: run `runbook-bot serve` (the image's "
    "default command) with SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET set (see docs/slack-setup.md)."
)


def slack_hint(cwd: Path) -> str:
    """The hint for where the playground runs: `make run` only in a checkout."""
    in_checkout = (cwd / "Makefile").is_file() and (cwd / "pyproject.toml").is_file()
    return SLACK_HINT if in_checkout else SLACK_HINT_INSTALLED


def listen_host() -> str:
    """HOST when set (0.0.0.0 in the container image), else loopback."""
    chosen = load_settings()
    return chosen.host if "host" in chosen.model_fields_set else DEFAULT_HOST


def loopback_for(host: str) -> str:
    """An address this process reaches its own listener at, as a URL writes it."""
    if host in ("", "0.0.0.0", "::"):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def playground_settings(port: int, db_dir: Path, host: str = DEFAULT_HOST) -> Settings:
    """The environment's settings, with Slack replaced by this process."""
    chosen = load_settings()
    overrides: dict[str, Any] = {
        # Random: only the bot may call the Web API stand-in (bot/playground/guard.py).
        "slack_bot_token": f"xoxb-playground-{secrets.token_hex(16)}",
        "slack_signing_secret": secrets.token_hex(16),
        "slack_app_token": None,
        "slack_api_url": f"http://{loopback_for(host)}:{port}/api/",
        "port": port,
        "host": host,
        "worker": "embedded",  # one process: the page's user watches it all happen
    }
    if "database_url" not in chosen.model_fields_set:
        overrides["database_url"] = f"sqlite+aiosqlite:///{db_dir / 'playground.db'}"
    if "status_update_interval" not in chosen.model_fields_set:
        overrides["status_update_interval"] = REMINDER_INTERVAL
    if "home_refresh_interval" not in chosen.model_fields_set:
        overrides["home_refresh_interval"] = HOME_REFRESH
    if "runbooks_dir" not in chosen.model_fields_set:
        # The bundled runbooks and RB-00, whose steps run harmless local commands.
        overrides["runbooks_dir"] = demo_folder(db_dir, chosen.runbooks_dir)
    return load_settings(**overrides)


def static_dir() -> Path:
    return Path(str(resources.files("bot.playground") / "static"))


class Playground:
    """The page's routes: the page, its WebSocket feed, and its actions."""

    def __init__(self, workspace: Workspace, settings: Settings, guard: Guard) -> None:
        self.ws = workspace
        self.guard = guard
        self.secret = settings.slack_signing_secret or ""
        self.events_url = f"http://{loopback_for(settings.host)}:{settings.port}/slack/events"
        self.http: aiohttp.ClientSession | None = None

    def add_routes(self, app: web.Application) -> None:
        static = static_dir()

        async def index(_: web.Request) -> web.Response:
            return self.guard.page()

        app.router.add_get("/", index)
        app.router.add_static("/static/", static)
        app.router.add_get("/playground/ws", self.feed)
        app.router.add_post("/playground/act", self.act)
        app.on_startup.append(self._open)
        app.on_cleanup.append(self._close)

    async def _open(self, _: web.Application) -> None:
        # No proxies from the environment: these requests never leave loopback.
        self.http = aiohttp.ClientSession(trust_env=False)

    async def _close(self, _: web.Application) -> None:
        if self.http is not None:
            await self.http.close()

    async def feed(self, request: web.Request) -> web.WebSocketResponse:
        """Push the workspace to the page: a snapshot, then every change."""
        sock = web.WebSocketResponse(heartbeat=30)
        await sock.prepare(request)
        queue: asyncio.Queue[Event] = asyncio.Queue()
        self.ws.subscribers.add(queue.put_nowait)
        try:
            await sock.send_str(json.dumps(self.ws.snapshot()))
            reader = asyncio.ensure_future(sock.receive())
            while not sock.closed:
                getter = asyncio.ensure_future(queue.get())
                done, _ = await asyncio.wait({getter, reader}, return_when=asyncio.FIRST_COMPLETED)
                if reader in done:
                    getter.cancel()
                    if reader.result().type in (
                        aiohttp.WSMsgType.CLOSE,
                        aiohttp.WSMsgType.ERROR,
                        aiohttp.WSMsgType.CLOSED,
                    ):
                        break
                    reader = asyncio.ensure_future(sock.receive())
                    continue
                await sock.send_str(json.dumps(getter.result()))
            reader.cancel()
        finally:
            self.ws.subscribers.discard(queue.put_nowait)
        return sock

    async def _to_slack_events(self, body: bytes) -> tuple[int, Any]:
        assert self.http is not None
        async with self.http.post(
            self.events_url, data=body, headers=sr.sign(self.secret, body)
        ) as r:
            raw = await r.read()
            try:
                return r.status, json.loads(raw) if raw else None
            except ValueError:
                return r.status, raw.decode("utf-8", "replace")

    async def act(self, request: web.Request) -> web.Response:
        """One page action → one Slack request; answers what the page must show itself."""
        try:
            action = await request.json()
            user = self.ws.users[action["user"]]
        except (ValueError, KeyError, TypeError):
            return web.json_response({"ok": False, "error": "bad_action"}, status=400)
        kind = action.get("type")
        trigger = sr.trigger_id()
        self.ws.triggers[trigger] = user.id
        if kind == "command":
            return await self._command(user, action, trigger)
        if kind == "message":
            channel = action.get("channel", "")
            text = str(action.get("text") or "")
            if channel not in self.ws.channels or not text.strip():
                return web.json_response({"ok": False, "error": "bad_action"}, status=400)
            text = self.ws.encode_mentions(_escape(text))
            fields = {"text": text, "thread_ts": action.get("thread_ts")}
            self.ws.post(channel, fields, user=user.id)
            return web.json_response({"ok": True})
        if kind == "block_action":
            return await self._block_action(user, action, trigger)
        if kind == "submit":
            return await self._submit(user, action, trigger)
        if kind == "close":
            self.ws.close_modals(user.id, action.get("view_id"))
            return web.json_response({"ok": True})
        if kind == "home":
            home = self.ws.views.get(self.ws.homes.get(user.id, ""))
            status, _ = await self._to_slack_events(sr.app_home_opened(user, home))
            return web.json_response({"ok": status == 200, "status": status})
        return web.json_response({"ok": False, "error": "bad_action"}, status=400)

    async def _command(self, user: Any, action: dict[str, Any], trigger: str) -> web.Response:
        channel = self.ws.channels.get(action.get("channel", ""))
        command, _, text = str(action.get("text") or "").strip().partition(" ")
        if channel is None or not command.startswith("/"):
            return web.json_response({"ok": False, "error": "bad_action"}, status=400)
        text = self.ws.encode_mentions(text.strip())
        body = sr.slash_command(user, channel.id, channel.name, command, text, trigger)
        status, answer = await self._to_slack_events(body)
        if status != 200:
            # What Slack itself shows when an app fails to answer a command.
            reply = {"text": f'{command} failed with the error "dispatch_failed" (HTTP {status})'}
        elif isinstance(answer, dict) and (answer.get("text") or answer.get("blocks")):
            reply = answer
        elif isinstance(answer, str) and answer.strip():
            reply = {"text": answer}  # Bolt acks a text-only reply as text/plain
        else:
            reply = None
        if reply is not None:
            if isinstance(reply, dict) and reply.get("response_type") == "in_channel":
                self.ws.post(channel.id, reply)
            else:
                self.ws.post_ephemeral(channel.id, user.id, reply)
        return web.json_response({"ok": status == 200, "status": status})

    async def _block_action(self, user: Any, action: dict[str, Any], trigger: str) -> web.Response:
        element = action.get("action") or {}
        if not isinstance(element, dict) or not element.get("action_id"):
            return web.json_response({"ok": False, "error": "bad_action"}, status=400)
        if action.get("view_id"):
            view = self.ws.views.get(action["view_id"])
            if view is None:
                return web.json_response({"ok": False, "error": "view_not_found"}, status=404)
            view = {**view, "state": {"values": action.get("values") or {}}}
            body = sr.block_action(user, element, trigger, view=view)
        else:
            channel = self.ws.channels.get(action.get("channel", ""))
            key = (action.get("channel", ""), action.get("ts", ""))
            message = self.ws.messages.get(key)
            ephemeral = False
            if message is None:
                message = next((e for e in self.ws.ephemerals if e["ts"] == key[1]), None)
                ephemeral = True
            if channel is None or message is None:
                return web.json_response({"ok": False, "error": "message_not_found"}, status=404)
            body = sr.block_action(
                user,
                element,
                trigger,
                message=message,
                channel=(channel.id, channel.name),
                ephemeral=ephemeral,
            )
        status, _ = await self._to_slack_events(body)
        return web.json_response({"ok": status == 200, "status": status})

    async def _submit(self, user: Any, action: dict[str, Any], trigger: str) -> web.Response:
        view = self.ws.views.get(action.get("view_id", ""))
        if view is None or view.get("user") != user.id:
            return web.json_response({"ok": False, "error": "view_not_found"}, status=404)
        body = sr.view_submission(user, view, action.get("values") or {}, trigger)
        status, answer = await self._to_slack_events(body)
        answer = answer if isinstance(answer, dict) else {}
        response_action = answer.get("response_action")
        if status != 200:
            return web.json_response(
                {
                    "ok": False,
                    "status": status,
                    "error": "We had some trouble connecting. Try again?",
                }
            )
        if response_action == "errors":
            return web.json_response({"ok": False, "errors": answer.get("errors") or {}})
        if response_action == "update" and isinstance(answer.get("view"), dict):
            self.ws.update_view(view, answer["view"])
        elif response_action == "push" and isinstance(answer.get("view"), dict):
            self.ws.open_modal(user.id, answer["view"], push=True)
        elif response_action == "clear":
            self.ws.close_modals(user.id)
        else:
            self.ws.close_modals(user.id, view["id"])
        return web.json_response({"ok": True})


def _escape(text: str) -> str:
    """A person's message as Slack stores it: &, < and > as entities."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


async def run_playground(port: int) -> None:
    """Serve until SIGINT/SIGTERM; print the URL once the page can load."""
    from bot.app import build_app
    from bot.store.migrate import upgrade

    host = listen_host()
    sock = _bind(host, port)  # bound first so --port 0 works and the API URL names the real port
    port = sock.getsockname()[1]
    with tempfile.TemporaryDirectory(prefix="runbook-bot-playground-") as tmp:
        settings = playground_settings(port, Path(tmp), host)
        # A fresh temporary database runs every migration: eight INFO lines a
        # newcomer need not read before the URL (LOG_LEVEL=DEBUG still shows them).
        alembic_log = logging.getLogger("alembic")
        if not alembic_log.isEnabledFor(logging.DEBUG):
            alembic_log.setLevel(logging.WARNING)
        await upgrade(settings.database_url)
        workspace = Workspace()
        bot = build_app(settings)
        # On 0.0.0.0 (a container) the browser reaches it via the published port.
        url = f"http://{loopback_for(host)}:{port}/"
        guard = Guard(
            listen_host=host,
            bot_token=settings.slack_bot_token or "",
            index_html=static_dir() / "index.html",
        )
        guard.install(bot.web)
        WebApi(workspace).add_routes(bot.web)
        Playground(workspace, settings, guard).add_routes(bot.web)
        add_draft_route(bot.web, bot.ctx)
        runner = web.AppRunner(bot.web, access_log=None, shutdown_timeout=2.0)
        await runner.setup()
        await web.SockSite(runner, sock).start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        temporary = "playground.db" in settings.database_url
        where = "a temporary SQLite file" if temporary else "DATABASE_URL"
        print(f"runbook-bot playground: open {url} (data in {where})", flush=True)
        print(slack_hint(Path.cwd()), flush=True)
        try:
            await stop.wait()
        finally:
            with contextlib.suppress(Exception):
                await runner.cleanup()
