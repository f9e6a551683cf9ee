"""The app factory: settings → database → Slack client → Bolt app → aiohttp app.

Nothing here runs at import time; ``build_app`` is called by ``runbook-bot
serve`` and by each test with its own settings.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.alerts.actions import AlertActions, level_names
from bot.context import AppContext
from bot.home.channel import ChannelResolver
from bot.home.publisher import HomePublisher
from bot.incidents.deadlines import Deadlines
from bot.incidents.reminders import Reminders
from bot.intake.actions import Actions
from bot.intake.wakeup import Wake, WakeListener
from bot.intake.worker import IntakeWorker
from bot.intake.writer import Intake, PostgresSink, SqlAlchemySink
from bot.metrics import Metrics
from bot.runbook import Library, load_library
from bot.runbook.actions import ActionsFile
from bot.runbook.library import actions_path, read_actions
from bot.runs.action_runner import ActionRunner
from bot.runs.escalation import Escalation, escalation_for
from bot.settings import Settings
from bot.slack.approvers import Approvers
from bot.slack.budget import Budgets, LocalBudgets, SharedBudgets
from bot.slack.delivery import OutboxWorker
from bot.slack.owner import LeaseOwner
from bot.slack.sent_marks import SentMarks
from bot.store.db import make_engine, make_sessionmaker
from bot.store.models import utcnow
from bot.store.retention import Retention
from bot.store.urls import asyncpg_dsn, is_sqlite
from bot.web import add_routes
from commands import register

log = logging.getLogger("runbook_bot")


def make_slack_client(settings: Settings) -> AsyncWebClient:
    return AsyncWebClient(
        token=settings.slack_bot_token,
        base_url=settings.slack_api_url,
        timeout=10,
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(max_retry_count=3),
            AsyncRateLimitErrorRetryHandler(max_retry_count=5),
            AsyncServerErrorRetryHandler(max_retry_count=3),
        ],
    )


def gate_groups(library: Library) -> list[str]:
    """The user groups the loaded runbooks' approval gates name: listed from the start."""
    return [
        group
        for runbook in library.runbooks.values()
        for _phase, step in runbook.steps
        if step.approval is not None
        for group in step.approval.groups
    ]


def load_actions(settings: Settings) -> ActionsFile | None:
    """The actions file, if any; a broken one defines no actions and says why at start."""
    found = read_actions(actions_path(settings.runbooks_dir, settings.actions_file))
    if found is not None:
        for problem in found.problems:
            log.warning("actions file problem (no actions are run): %s", problem)
        log.info("loaded %d actions from %s", len(found.actions), found.path)
    return found


def build_escalation(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], owner: LeaseOwner
) -> Escalation | None:
    """ESCALATION_ACTION's action, read from the actions file (its problems are
    logged by ``load_actions``); an unknown id is said once where deadlines fire."""
    if not settings.escalation_action:
        return None
    path = actions_path(settings.runbooks_dir, settings.actions_file)
    found = read_actions(path)
    action, problem = escalation_for(
        settings.escalation_action,
        found.actions if found is not None else None,
        str(path),
        broken=found is not None and bool(found.problems),
    )
    return Escalation(sessions, action, owner=owner, problem=problem)


def load_runbooks(settings: Settings) -> Library:
    library = load_library(settings.runbooks_dir)
    for problem in library.problems:
        # One bad file never keeps the others out: log it, load the rest.
        log.warning("runbook problem: %s", problem)
    log.info("loaded %d runbooks from %s", len(library.runbooks), settings.runbooks_dir)
    found = load_actions(settings)  # says at start why a broken actions file runs nothing
    return replace(library, actions=dict(found.actions)) if found is not None else library


def build_context(
    settings: Settings, *, library: Library | None = None, worker_process: bool = False
) -> AppContext:
    """``worker_process``: for ``runbook-bot worker``, which acts on what it
    commits itself, so its transactions need not notify anyone (migration
    0004; whatever another process commits still wakes it), and which retries
    whatever fails (``bot.db.make_engine``)."""
    engine = make_engine(settings.database_url, worker=worker_process)
    sessions = make_sessionmaker(engine)
    metrics = Metrics()
    client = make_slack_client(settings)
    library = library if library is not None else load_runbooks(settings)
    metrics.runbooks_loaded.set(len(library.runbooks))
    postgres = not is_sqlite(settings.database_url)
    dsn = asyncpg_dsn(settings.database_url) if postgres else None
    # Slack's rate budgets, one set for every caller (and, on PostgreSQL, every process).
    budgets: Budgets = SharedBudgets(sessions) if postgres else LocalBudgets()
    owner = LeaseOwner(dsn)  # connected on first use: only where delivery runs
    outbox = OutboxWorker(
        sessions,
        client,
        postgres=postgres,
        on_call=metrics.slack_call,
        on_hand_off=metrics.outbox_handed_off.inc,
        on_lookup=metrics.outbox_lookup,
        lease_seconds=settings.outbox_lease_seconds,
        owner=owner,
        marks=SentMarks(sessions, dsn),
        on_wait=lambda bucket, why: metrics.slack_waits.labels(bucket, why).inc(),
        budgets=budgets,
    )
    policy = settings.priorities
    intervals = [policy.interval_for(name) for name in policy.names]
    reminders = Reminders(
        sessions,
        outbox=outbox,
        interval_seconds=settings.status_update_interval,
        postgres=postgres,
        metrics=metrics,
        max_sleep=min(30.0, settings.status_update_interval, *intervals),
        interval_for=policy.interval_for,
    )
    deadlines = Deadlines(
        sessions,
        outbox=outbox,
        policy=policy,
        postgres=postgres,
        metrics=metrics,
        escalation=build_escalation(settings, sessions, owner),
    )
    approvers = Approvers(settings.approvers, client, budgets=budgets)
    runner = ActionRunner(sessions, dsn=dsn, notify_outbox=outbox.notify)
    actions = Actions(
        runner=runner,
        library=library,
        policy=policy,
        metrics=metrics,
        notify_outbox=outbox.notify,
        nudge_reminders=reminders.nudge,
        approvers=approvers,
        nudge_deadlines=deadlines.nudge,
    )
    alerts = AlertActions(
        library=library,
        channel=settings.alerts_channel,
        levels=level_names(settings),
        policy=policy,
        metrics=metrics,
        notify_outbox=outbox.notify,
        nudge_reminders=reminders.nudge,
    )
    intake_worker = IntakeWorker(
        sessions,
        {**actions.handlers(), **alerts.handlers()},
        postgres=postgres,
        on_failed=outbox.notify,
        hand_off=outbox,
    )
    # In one process the writer wakes the worker directly; across processes
    # the intake table's trigger does (migration 0003).
    sink = PostgresSink(asyncpg_dsn(settings.database_url)) if postgres else SqlAlchemySink(engine)

    def written(count: int) -> None:
        metrics.intake_commits.inc()
        metrics.intake_items.inc(count)
        intake_worker.notify()

    intake = Intake(sink, on_written=written)
    approvers.want(gate_groups(library))
    # A click kept waiting for a group's members is judged as soon as they are known.
    approvers.on_learned = intake_worker.retry_deferred
    home = HomePublisher(
        sessions,
        client,
        library,
        postgres=postgres,
        refresh_interval=settings.home_refresh_interval,
        recent_seconds=settings.home_recent_window,
        validation_interval=settings.validation_interval,
        on_call=metrics.slack_call,
        levels=settings.priorities.names,
        budgets=budgets,
    )
    context = AppContext(
        settings,
        engine,
        sessions,
        library,
        client,
        metrics,
        outbox,
        reminders,
        approvers,
        intake,
        intake_worker,
        home,
        ChannelResolver(client, settings.incident_channels),
        deadlines,
        runner=runner,
    )
    return context


class _QuietClientWarning(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN from the environment itself and then warns that
    our (identically configured) client wins; that is intended, say nothing."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


def build_bolt(ctx: AppContext) -> AsyncApp:
    socket_mode = bool(ctx.settings.slack_app_token)
    bolt_log = logging.getLogger("runbook_bot.bolt")
    if not any(isinstance(f, _QuietClientWarning) for f in bolt_log.filters):
        bolt_log.addFilter(_QuietClientWarning())
    bolt = AsyncApp(
        client=ctx.client,
        signing_secret=ctx.settings.slack_signing_secret or "",
        # The ack leaves as soon as the listener returns: listeners commit (the
        # request to the intake, or their whole work), ack, and leave Slack
        # calls to the outbox.
        process_before_response=True,
        request_verification_enabled=not socket_mode,
        logger=bolt_log,
    )
    register(bolt, ctx)
    return bolt


async def start_background(ctx: AppContext, *, worker: bool = True) -> None:
    """Start Slack delivery and reminders here (``worker``), or leave them to a
    worker process that LISTENs for this process's commits."""
    if not worker:
        return
    ctx.outbox.start()
    ctx.approvers.start()
    if ctx.runner is not None:  # executions cut short are in doubt before a click is acted on
        await ctx.runner.begin()
    ctx.intake_worker.start()
    await ctx.reminders.start()
    ctx.home.start()
    await ctx.deadlines.start()
    ctx.retention = Retention(ctx.sessions)
    ctx.retention.start()
    if ctx.postgres:

        def on_wake(wake: Wake) -> None:
            if wake.intake:
                ctx.intake_worker.notify()
            if wake.outbox:
                ctx.outbox.notify()
            if wake.reminders:
                ctx.reminders.nudge(wake.due)
            if wake.deadlines:
                # A due time came with it (migration 0006), or look now.
                ctx.deadlines.nudge(wake.due or utcnow())

        ctx.listener = WakeListener(asyncpg_dsn(ctx.settings.database_url), on_wake)
        ctx.listener.start()


async def stop_background(ctx: AppContext) -> None:
    if ctx.listener is not None:
        await ctx.listener.stop()
    if ctx.retention is not None:
        await ctx.retention.stop()
    await ctx.reminders.stop()
    await ctx.home.stop()
    await ctx.deadlines.stop()
    await ctx.intake.close()
    await ctx.intake_worker.stop()
    if ctx.runner is not None:
        await ctx.runner.stop()
    await ctx.approvers.stop()
    await ctx.background.drain()
    await ctx.outbox.stop()
    await ctx.engine.dispose()


def build_web_app(ctx: AppContext, bolt: AsyncApp, *, worker: bool = True) -> web.Application:
    app = web.Application(client_max_size=1024 * 1024)
    add_routes(app, ctx, bolt)

    async def on_startup(_: web.Application) -> None:
        ctx.declare_channel.start()  # the Declare modal is answered here, worker or not
        await start_background(ctx, worker=worker)
        ctx.background.spawn(ctx.home.warm())

    async def on_cleanup(_: web.Application) -> None:
        await ctx.declare_channel.stop()
        await stop_background(ctx)

    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    return app


@dataclass
class BotApp:
    ctx: AppContext
    bolt: AsyncApp
    web: web.Application


def build_app(settings: Settings, *, library: Library | None = None, worker: bool = True) -> BotApp:
    """``worker=False``: serve Slack only; a worker process delivers and reminds."""
    ctx = build_context(settings, library=library)
    bolt = build_bolt(ctx)
    return BotApp(ctx, bolt, build_web_app(ctx, bolt, worker=worker))
