"""Socket Mode for the Slack stand-in: the websocket ``apps.connections.open``
hands out, and the envelopes Slack sends over it instead of HTTP requests."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import WSMsgType, web


class SocketModeMixin:
    """Mixed into ``SlackStandIn``: uses its ``sockets``, ``socket_acks``,
    ``socket_messages``, ``socket_connections``, ``_changed`` and ``_notify``."""

    sockets: list[web.WebSocketResponse]
    socket_connections: int
    socket_acks: dict[str, dict[str, Any]]
    socket_messages: list[dict[str, Any]]
    _changed: asyncio.Condition | None

    async def _notify(self) -> None:  # provided by SlackStandIn
        raise NotImplementedError

    async def _handle_socket(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self.sockets.append(ws)
        self.socket_connections += 1
        await self._notify()
        await ws.send_json(
            {
                "type": "hello",
                "num_connections": len(self.sockets),
                "debug_info": {"host": "stand-in", "approximate_connection_time": 18060},
                "connection_info": {"app_id": "A1"},
            }
        )
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    data = json.loads(msg.data)
                except ValueError:
                    data = {"invalid_json": msg.data}
                if not isinstance(data, dict):
                    data = {"invalid_json": msg.data}
                self.socket_messages.append(data)
                if isinstance(data.get("envelope_id"), str):
                    self.socket_acks[data["envelope_id"]] = data
                await self._notify()
        finally:
            if ws in self.sockets:
                self.sockets.remove(ws)
            await self._notify()
        return ws

    async def _wait(self, ready: Callable[[], bool], timeout: float, what: str) -> None:
        if self._changed is None:
            raise RuntimeError("SlackStandIn not started")
        try:
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(ready)
        except TimeoutError:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}") from None

    async def socket_connected(self, timeout: float = 10.0) -> None:
        """Wait until a Socket Mode client holds an open websocket."""
        await self._wait(lambda: bool(self.sockets), timeout, "a Socket Mode connection")

    async def socket_send(self, envelope: dict[str, Any], timeout: float = 10.0) -> str:
        """Send ``envelope`` to the newest connected client (as Slack does, to one
        connection); fills in a fresh ``envelope_id`` if missing and returns it."""
        await self.socket_connected(timeout)
        envelope = dict(envelope)
        envelope.setdefault("envelope_id", str(uuid.uuid4()))
        await self.sockets[-1].send_json(envelope)
        return str(envelope["envelope_id"])

    async def socket_ack(self, envelope_id: str, timeout: float = 5.0) -> dict[str, Any]:
        """The client's ack of ``envelope_id``: ``{"envelope_id", "payload"?}``."""
        await self._wait(
            lambda: envelope_id in self.socket_acks, timeout, f"the ack of envelope {envelope_id}"
        )
        return self.socket_acks[envelope_id]


def socket_envelope(body: bytes | str, *, envelope_id: str | None = None) -> dict[str, Any]:
    """The Socket Mode envelope carrying what Slack would POST as ``body`` over HTTP.

    ``payload=<json>`` → ``interactive``; a form with ``command`` → ``slash_commands``;
    a JSON event callback → ``events_api``.
    """
    text = body.decode() if isinstance(body, bytes) else body
    envelope_id = envelope_id or str(uuid.uuid4())
    if text.lstrip().startswith("{"):
        return {
            "envelope_id": envelope_id,
            "type": "events_api",
            "payload": json.loads(text),
            "accepts_response_payload": False,
            "retry_attempt": 0,
            "retry_reason": "",
        }
    fields = dict(parse_qsl(text, keep_blank_values=True))
    if "payload" in fields:
        payload = json.loads(fields["payload"])
        return {
            "envelope_id": envelope_id,
            "type": "interactive",
            "payload": payload,
            # Slack accepts a response payload for view submissions and option loads.
            "accepts_response_payload": payload.get("type")
            in ("view_submission", "block_suggestion"),
        }
    if "command" in fields:
        return {
            "envelope_id": envelope_id,
            "type": "slash_commands",
            "payload": fields,
            "accepts_response_payload": True,
        }
    raise ValueError(f"not a Slack request body: {text[:80]!r}")
