"""``POST /alerts/alertmanager``: Alertmanager's webhook receiver (SPEC §10).

Answers 404 while ``ALERT_WEBHOOK_TOKEN`` is unset (the route does not
exist, as far as anyone can tell), 401 without the right bearer token
(compared in constant time), 400 for a body that is not a version-4
payload — recording nothing in each case. Otherwise the delivery is
committed to the intake (one item, group-committed with whatever else
arrives) before the 200, so an acknowledged alert is never lost; the intake worker acts on each
(``bot/alerts/actions.py``). 503 when the database is down: Alertmanager
retries 5xx, and does not retry 4xx.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from bot.alerts.actions import delivery_payload
from bot.alerts.payload import PayloadError, parse_notification
from bot.context import AppContext
from bot.store.db import is_db_down

log = logging.getLogger(__name__)

PATH = "/alerts/alertmanager"


def bearer_ok(header: str | None, token: str) -> bool:
    """``Authorization: Bearer <token>``, the token compared in constant time."""
    scheme, _, given = (header or "").strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


def _problem(status: int, message: str, **headers: str) -> web.Response:
    return web.json_response({"status": "error", "error": message}, status=status, headers=headers)


def alertmanager_route(ctx: AppContext) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def receive(request: web.Request) -> web.Response:
        started = time.perf_counter()
        response = await _receive(ctx, request)
        ctx.metrics.requests.labels("alertmanager", str(response.status)).inc()
        ctx.metrics.request_seconds.labels("alertmanager").observe(time.perf_counter() - started)
        return response

    return receive


async def _receive(ctx: AppContext, request: web.Request) -> web.Response:
    token = ctx.settings.alert_webhook_token
    if token is None:
        return _problem(404, "not found (set ALERT_WEBHOOK_TOKEN to receive alerts)")
    if not bearer_ok(request.headers.get("Authorization"), token):
        return _problem(401, "missing or wrong bearer token", **{"WWW-Authenticate": "Bearer"})
    try:
        notification = parse_notification(await request.read())
    except PayloadError as exc:
        return _problem(400, str(exc))
    count = len(notification.alerts)
    try:
        if count:
            await ctx.intake.submit(*delivery_payload(notification))
    except Exception as exc:
        if not is_db_down(exc):
            raise
        ctx.metrics.db_errors.inc()
        log.warning("alertmanager webhook: database unavailable: %r", exc)
        return _problem(503, "database unavailable; nothing was recorded, retry")
    ctx.metrics.acks.labels("alertmanager").inc()
    return web.json_response({"status": "ok", "alerts": count})
