"""A Slack Web API stand-in served by aiohttp on loopback.

The bot talks to it through the real ``AsyncWebClient`` (``base_url=slack.url``), so
everything above the network edge — the SDK's request building, retry handlers and
response parsing — runs exactly as in production. The stand-in answers with
Slack-shaped JSON, keeps the state of posted messages, validates every Block Kit
payload against Slack's limits and can inject rate limits, server errors and latency.

Like Slack, it keeps a pace (``pace``: one post per second per channel with a burst
of 4, each other method its tier's calls per minute; beyond that HTTP 429 with
``Retry-After``), on by default so that no test passes only because Slack is
infinitely fast; ``limits=False`` turns the pace off (say why where you do). It
refuses a message whose blocks hold more than 12,000 characters of text
(``msg_blocks_too_long``) and a ``chat.update`` text over 4,000 (``msg_too_long``):
the bot must never send one, so these are recorded in ``invalid`` too (the fixtures
fail the test) unless ``oversize_is_invalid=False``. ``conditions`` gives a revoked
token, archived / left / unknown channels, missing scopes and calls carried out then
answered with an error.

Block Kit validation lives in ``blockkit``, per-method behaviour in ``slack_methods``,
fault injection in ``faults``, the call records in ``calls``; ``Call``, ``Fault``,
``Rejected``, ``validate_blocks`` and ``validate_view`` are re-exported here.

Socket Mode: ``apps.connections.open`` (with an ``xapp-`` app token) answers with
``ws://<host>:<port>/socket``, served here. A test pushes envelopes to the connected
bot with ``socket_send`` and reads the bot's ack (``{"envelope_id", "payload"?}``)
with ``socket_ack``; ``socket_envelope`` turns a body built by ``SlackSigner`` into
the envelope Slack would send over the socket instead.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

from aiohttp import web

from .blockkit import oversize, validate_blocks, validate_view
from .calls import Call, CallRecords, Rejected
from .conditions import WorkspaceConditions
from .faults import Fault, FaultInjection, Hold, fault_response
from .pace import Pace
from .slack_methods import SlackMethods
from .socket_mode import SocketModeMixin, socket_envelope

__all__ = [
    "Call",
    "Fault",
    "Hold",
    "Rejected",
    "SlackStandIn",
    "socket_envelope",
    "validate_blocks",
    "validate_view",
]

# Arguments the Web API accepts as JSON-encoded strings inside form bodies.
_JSON_FIELDS = ("blocks", "attachments", "view")


# ---------------------------------------------------------------------------
# The stand-in
# ---------------------------------------------------------------------------


class SlackStandIn(CallRecords, FaultInjection, WorkspaceConditions, SocketModeMixin, SlackMethods):
    """Slack Web API on ``http://127.0.0.1:<ephemeral port>/api/``.

    ``limits``: keep Slack's pace (429 beyond it); ``clock``, ``post_rate`` (posts per
    second per channel), ``post_burst`` and ``tiers`` (method → calls per minute, ``"*"``
    for methods not listed) change it for tests of the stand-in itself.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        limits: bool = True,
        clock: Callable[[], float] = time.monotonic,
        post_rate: float = 1.0,
        post_burst: float = 4,
        tiers: Mapping[str, float] | None = None,
        oversize_is_invalid: bool = True,
    ) -> None:
        FaultInjection.__init__(self)
        WorkspaceConditions.__init__(self)
        self.host = host
        self.pace: Pace | None = (
            Pace(clock=clock, post_rate=post_rate, post_burst=post_burst, tiers=tiers)
            if limits
            else None
        )
        self.oversize_is_invalid = oversize_is_invalid
        self.received = 0  # Web API calls received, answered however
        self.calls: list[Call] = []
        self.rejected: list[Rejected] = []
        self.invalid: list[tuple[str, dict[str, Any], list[str]]] = []
        self.messages: dict[tuple[str, str], dict[str, Any]] = {}
        self.ephemerals: list[dict[str, Any]] = []
        self.views: dict[str, dict[str, Any]] = {}
        self.home_views: dict[str, dict[str, Any]] = {}  # views.publish, by user
        self.channel_names: dict[str, str] = {}
        self.users: dict[str, dict[str, Any]] = {}
        self.usergroups: dict[str, list[str]] = {}
        self.usergroup_handles: dict[str, str] = {}  # group ID → handle (usergroups.list)
        self._last_ts_us = 0
        self._ids = itertools.count(1)
        self._changed: asyncio.Condition | None = None
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        # Socket Mode: open websockets (newest last) and the acks received, by envelope_id.
        self.sockets: list[web.WebSocketResponse] = []
        self.socket_connections = 0  # websockets ever accepted
        self.socket_acks: dict[str, dict[str, Any]] = {}
        self.socket_messages: list[dict[str, Any]] = []  # everything the clients sent
        self.app = web.Application(client_max_size=10 * 1024**2)
        self.app.router.add_get("/socket", self._handle_socket)
        self.app.router.add_post("/api/{method}", self._handle)
        self.app.router.add_get("/api/{method}", self._handle)  # a few methods allow GET
        self.app.router.add_post("/respond/{key}", self._handle_response_url)

    # -- lifecycle ---------------------------------------------------------

    async def start(self) -> None:
        # shutdown_timeout is short so a delayed handler can't stall teardown for a minute.
        self._runner = web.AppRunner(self.app, shutdown_timeout=2.0, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        self._port = self._runner.addresses[0][1]
        self._changed = asyncio.Condition()

    async def stop(self) -> None:
        self.release_holds()
        for ws in list(self.sockets):
            await ws.close(code=1001, message=b"stand-in stopping")
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> SlackStandIn:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("SlackStandIn not started")
        return self._port

    @property
    def url(self) -> str:
        """Base URL for ``AsyncWebClient(base_url=...)`` (ends with ``/api/``)."""
        return f"http://{self.host}:{self.port}/api/"

    @property
    def socket_url(self) -> str:
        """The Socket Mode websocket URL ``apps.connections.open`` hands out."""
        return f"ws://{self.host}:{self.port}/socket"

    def response_url(self, key: str = "default") -> str:
        """A ``response_url`` served here; posts to it are recorded as method ``response_url``."""
        return f"http://{self.host}:{self.port}/respond/{key}"

    # -- inspection (more in CallRecords) ------------------------------------

    def clear(self) -> None:
        """Forget recorded calls, rejections, invalid calls and the counts of calls and
        429s (message state, faults, conditions and the pace's buckets stay)."""
        self.calls.clear()
        self.rejected.clear()
        self.invalid.clear()
        self.ephemerals.clear()
        self.received = 0
        if self.pace is not None:
            self.pace.refused.clear()
            self.pace.early.clear()

    def message(self, channel: str, ts: str) -> dict[str, Any]:
        """Current state of a posted message (after any chat.update)."""
        return self.messages[(channel, ts)]

    def thread(self, channel: str, thread_ts: str) -> list[dict[str, Any]]:
        """Replies in a thread, oldest first (the parent itself excluded)."""
        replies = [
            m
            for (ch, ts), m in self.messages.items()
            if ch == channel and m.get("thread_ts") == thread_ts and ts != thread_ts
        ]
        return sorted(replies, key=lambda m: float(m["ts"]))

    # -- request handling --------------------------------------------------

    async def _parse_args(self, request: web.Request) -> dict[str, Any]:
        args: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            raw = await request.read()
            if raw:
                body = json.loads(raw)
                if not isinstance(body, dict):
                    raise ValueError("JSON body must be an object")
                args.update(body)
        elif request.method == "POST":
            form = await request.post()  # url-encoded and multipart alike
            for k, v in form.items():
                args[k] = v if isinstance(v, str) else getattr(v, "filename", "<file>")
        for name in _JSON_FIELDS:
            # Form bodies (and some JSON callers) send these as JSON strings.
            if isinstance(args.get(name), str):
                try:
                    args[name] = json.loads(args[name])
                except ValueError:
                    pass  # left as a string; validation reports it
        return args

    async def _notify(self) -> None:
        if self._changed is not None:
            async with self._changed:
                self._changed.notify_all()

    async def _refuse(
        self, method: str, args: dict[str, Any], at: float, wall: float, fault: Fault
    ) -> web.Response:
        """Record a refusal in ``rejected`` and answer it as Slack would."""
        self.rejected.append(Rejected(method, args, fault.status, fault.error, at, wall))
        await self._notify()
        return fault_response(fault)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        at, wall = time.monotonic(), time.time()
        method = request.match_info["method"]
        self.received += 1
        try:
            args = await self._parse_args(request)
        except ValueError as exc:
            return web.json_response({"ok": False, "error": "invalid_json", "detail": str(exc)})

        auth = request.headers.get("Authorization", "")
        token = args.pop("token", None)  # Slack also accepts a token argument
        # apps.connections.open takes the app-level token; every other method the bot token.
        prefix = "xapp-" if method == "apps.connections.open" else "xoxb-"
        if not (
            auth.startswith(f"Bearer {prefix}")
            or (isinstance(token, str) and token.startswith(prefix))
        ):
            return await self._refuse(method, args, at, wall, Fault(200, 1, 0, "not_authed"))
        if self.token_error is not None:
            return await self._refuse(method, args, at, wall, Fault(200, 1, 0, self.token_error))

        delay = self._delay_for(method)
        if delay:
            await asyncio.sleep(delay)

        fault = self._take_fault(method)
        if fault is not None:
            return await self._refuse(method, args, at, wall, fault)

        if self.pace is not None:
            retry_after = self.pace.retry_after(method, self._pace_key(args))
            if retry_after is not None:  # refused before anything is done: nothing stored
                return await self._refuse(
                    method, args, at, wall, Fault(429, 1, retry_after, "ratelimited")
                )

        refusal = self._scope_error(method) or self._channel_error(method, args)
        if refusal is not None:
            self.rejected.append(Rejected(method, args, 200, refusal["error"], at, wall))
            await self._notify()
            return web.json_response(refusal)

        errors, error_code = self._validate(method, args)
        if errors:
            self.invalid.append((method, args, errors))
            await self._notify()
            return web.json_response({"ok": False, "error": error_code, "errors": errors})

        too_long = oversize(method, args)  # checked even where validation is off (benchmarks)
        if too_long is not None:
            error, detail = too_long
            if self.oversize_is_invalid:
                self.invalid.append((method, args, [detail]))
            self.rejected.append(Rejected(method, args, 200, error, at, wall))
            await self._notify()
            return web.json_response({"ok": False, "error": error, "errors": [detail]})

        return await self._carry_out(request, method, args, at, wall)

    async def _carry_out(
        self, request: web.Request, method: str, args: dict[str, Any], at: float, wall: float
    ) -> web.StreamResponse:
        body = self._respond(method, args)
        if not body.get("ok"):
            # Slack-level errors (message_not_found, ...) are rejections too.
            self.rejected.append(Rejected(method, args, 200, body.get("error"), at, wall))
            await self._notify()
            return web.json_response(body)
        peer = request.transport.get_extra_info("peername") if request.transport else None
        where = f"{peer[0]}:{peer[1]}" if peer else ""
        self.calls.append(Call(method, args, at, wall, body, where))
        after = self._take_after_store(method, args)
        if after is not None:  # done at Slack, and yet answered with an error
            self.rejected.append(
                Rejected(method, args, after.status, after.error, at, wall, carried_out=True)
            )
        await self._notify()
        if after is not None:
            return fault_response(after)
        held = self._take_hold(method, args)
        if held is not None:
            held.response = body
            await held.released.wait()  # done at Slack; the answer waits
        return web.json_response(body)

    def _pace_key(self, args: dict[str, Any]) -> str:
        """A channel's posts count against its ID, however the call names it."""
        channel = str(args.get("channel") or "").removeprefix("#")
        if channel in self.channel_names:
            return channel
        return next((cid for cid, name in self.channel_names.items() if name == channel), channel)

    async def _handle_response_url(self, request: web.Request) -> web.StreamResponse:
        at, wall = time.monotonic(), time.time()
        try:
            args = await self._parse_args(request)
        except ValueError as exc:
            return web.Response(status=400, text=f"invalid_json: {exc}")
        args["response_url_key"] = request.match_info["key"]
        errors = validate_blocks(args["blocks"]) if "blocks" in args else []
        if errors:
            self.invalid.append(("response_url", args, errors))
            await self._notify()
            return web.json_response({"ok": False, "error": "invalid_blocks", "errors": errors})
        self.calls.append(Call("response_url", args, at, wall))
        await self._notify()
        return web.json_response({"ok": True})
