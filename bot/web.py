"""HTTP routes: Slack's single request URL, Alertmanager's webhook, health and metrics."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from sqlalchemy import func, select, text

from bot.alerts import webhook
from bot.context import AppContext
from bot.slack.health import AUTH
from bot.store.models import Incident, IntakeItem, OutboxMessage, SlackProblem, utcnow
from bot.store.states import IncidentState, IntakeState, OutboxState

log = logging.getLogger(__name__)


# Why Slack is unusable, if it is (bot/slack/health.py): one small read per /healthz.
_AUTH_PROBLEM = text(f"SELECT error FROM slack_problems WHERE scope = '{AUTH}'")


def request_kind(body: str) -> str:
    if body.startswith("payload="):
        return "interaction"
    if "command=" in body[:2000]:
        return "command"
    return "event"


async def refresh_database_gauges(ctx: AppContext) -> None:
    """Intake, outbox and reminder health, read from the database (one small query each)."""
    now = utcnow()
    async with ctx.sessions() as session:
        states = dict(
            (
                await session.execute(
                    select(OutboxMessage.state, func.count())
                    .where(OutboxMessage.state.in_((OutboxState.PENDING, OutboxState.FAILED)))
                    .group_by(OutboxMessage.state)
                )
            ).all()
        )
        oldest, in_doubt = (
            await session.execute(
                select(
                    func.min(OutboxMessage.created_at),
                    func.count().filter(OutboxMessage.in_doubt.is_(True)),
                ).where(OutboxMessage.state == OutboxState.PENDING)
            )
        ).one()
        intake = {
            state: (count, first)
            for state, count, first in (
                await session.execute(
                    select(
                        IntakeItem.state, func.count(), func.min(IntakeItem.received_at)
                    ).group_by(IntakeItem.state)
                )
            ).all()
        }
        problems = (await session.execute(select(SlackProblem.scope))).scalars().all()
        open_count, overdue = (
            await session.execute(
                select(
                    func.count(),
                    func.count().filter(Incident.next_reminder_at < now - timedelta(minutes=1)),
                ).where(Incident.state == IncidentState.OPEN)
            )
        ).one()
    m = ctx.metrics
    m.outbox_pending.set(states.get(OutboxState.PENDING, 0))
    m.outbox_failed.set(states.get(OutboxState.FAILED, 0))
    m.outbox_oldest_pending.set((now - oldest).total_seconds() if oldest else 0)
    m.outbox_in_doubt.set(in_doubt)
    pending, first = intake.get(IntakeState.PENDING, (0, None))
    m.intake_pending.set(pending)
    m.intake_oldest_pending.set((now - first).total_seconds() if first else 0)
    m.intake_failed.set(intake.get(IntakeState.FAILED, (0, None))[0])
    m.slack_unusable.set(1 if AUTH in problems else 0)
    m.slack_channels_unreachable.set(sum(1 for p in problems if p.startswith("channel:")))
    m.open_incidents.set(open_count)
    m.reminders_overdue.set(overdue)


async def _unreadable(request: web.Request) -> web.Response | None:
    """A request Slack cannot have sent: a timestamp that is not a number (401,
    as for a bad signature) or a body that is not UTF-8 (400)."""
    stamp = request.headers.get("X-Slack-Request-Timestamp", "")
    if not (stamp.isascii() and stamp.isdigit() and len(stamp) <= 12):
        return web.Response(status=401, text="invalid request timestamp")
    try:
        (await request.read()).decode("utf-8")
    except UnicodeDecodeError:
        return web.Response(status=400, text="the body is not UTF-8")
    return None


def add_routes(app: web.Application, ctx: AppContext, bolt: AsyncApp) -> None:
    async def slack_events(request: web.Request) -> web.Response:
        started = time.perf_counter()
        refused = await _unreadable(request)
        if refused is not None:  # Bolt would answer these with a 500
            ctx.metrics.requests.labels("unreadable", str(refused.status)).inc()
            return refused
        bolt_request = await to_bolt_request(request)
        kind = request_kind(bolt_request.raw_body)
        bolt_response = await bolt.async_dispatch(bolt_request)
        response = await to_aiohttp_response(bolt_response)
        ctx.metrics.requests.labels(kind, str(response.status)).inc()
        ctx.metrics.request_seconds.labels(kind).observe(time.perf_counter() - started)
        return response

    async def healthz(_: web.Request) -> web.Response:
        try:
            async with asyncio.timeout(2):
                async with ctx.engine.connect() as conn:
                    auth = (await conn.execute(_AUTH_PROBLEM)).scalar()
        except Exception as exc:  # any failure means "not healthy", never a crash
            log.warning("healthz: database unavailable: %r", exc)
            return web.json_response({"status": "unavailable", "database": "down"}, status=503)
        if auth:
            # Requests are still taken and stored; nothing reaches Slack until it is fixed.
            return web.json_response(
                {"status": "unavailable", "database": "up", "slack": str(auth)}, status=503
            )
        return web.json_response(
            {"status": "ok", "database": "up", "runbooks": len(ctx.library.runbooks)}
        )

    async def metrics(_: web.Request) -> web.Response:
        try:
            async with asyncio.timeout(2):
                await refresh_database_gauges(ctx)
        except Exception as exc:  # metrics still answer when the database does not
            log.warning("metrics: database gauges unavailable: %r", exc)
        return web.Response(body=ctx.metrics.render(), content_type="text/plain", charset="utf-8")

    app.router.add_post("/slack/events", slack_events)
    app.router.add_post(webhook.PATH, webhook.alertmanager_route(ctx))
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
