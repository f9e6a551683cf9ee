"""``runbook-bot serve | migrate | lint | actions | timeline | validations | stats``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from bot.settings import Settings

log = logging.getLogger("runbook_bot")


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # The Slack SDK logs every retry at INFO; keep warnings only.
    logging.getLogger("slack_sdk").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)


class DatabaseUnreachable(Exception):
    """The database refused or dropped the connection (as opposed to a port clash)."""


class AppTokenRejected(Exception):
    """Slack refused SLACK_APP_TOKEN for apps.connections.open."""


_TOKEN_ERRORS = (
    "invalid_auth",
    "not_authed",
    "not_allowed_token_type",
    "account_inactive",
    "token_revoked",
    "token_expired",
    "missing_scope",
)


async def _check_app_token(client: Any, app_token: str) -> None:
    """Fail fast, in one line, when Slack rejects the app-level token: the Socket
    Mode client would otherwise retry forever. Network trouble is left to its retries."""
    from slack_sdk.errors import SlackApiError

    try:
        await client.apps_connections_open(app_token=app_token)
    except SlackApiError as exc:
        error = str(exc.response.get("error", ""))
        if error in _TOKEN_ERRORS:
            raise AppTokenRejected(f"Slack answered {error} for apps.connections.open") from None
        log.warning("apps.connections.open failed (%s); Socket Mode will retry", error)
    except Exception as exc:  # network trouble: the Socket Mode client keeps retrying
        log.warning("apps.connections.open failed (%r); Socket Mode will retry", exc)


async def _upgrade(url: str) -> None:
    from bot.store.migrate import upgrade

    try:
        await upgrade(url)
    except OSError as exc:
        raise DatabaseUnreachable(str(exc)) from exc


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def _unless_stopped(stop: asyncio.Event, work: Any) -> bool:
    """Run ``work`` unless ``stop`` is set first (then cancel it): False if stopped."""
    task = asyncio.ensure_future(work)
    waiter = asyncio.ensure_future(stop.wait())
    await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        waiter.cancel()
        task.result()
        return True
    task.cancel()
    # A connection attempt that ignores cancellation must not hold the stop up.
    await asyncio.wait({task}, timeout=1.0)
    return False


async def _serve(settings: Settings) -> None:
    from aiohttp import web

    from bot.app import build_app, start_background, stop_background
    from bot.worker import WorkerSupervisor

    # Handlers first: a SIGTERM while the database hangs at start-up stops at once.
    stop = _stop_on_signals()
    if not await _unless_stopped(stop, _upgrade(settings.database_url)):
        log.info("stopped before start-up finished")
        return
    mode = settings.worker_mode
    # "process": a supervised child delivers to Slack and reminds, so this
    # process spends its CPU on acknowledging; "external": you run workers.
    bot = build_app(settings, worker=mode == "embedded")
    if settings.slack_app_token:
        await _check_app_token(bot.ctx.client, settings.slack_app_token)
    supervisor = WorkerSupervisor() if mode == "process" else None
    if supervisor is not None:
        await supervisor.start()
    if settings.slack_app_token:
        from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler

        from bot.web import add_routes

        # Socket Mode: Slack events arrive over a websocket (Bolt does not verify
        # signatures then), so /slack/events is not served; /healthz and /metrics are.
        @web.middleware
        async def no_slack_over_http(request: web.Request, handler: Any) -> web.StreamResponse:
            if request.path.startswith("/slack/"):
                raise web.HTTPNotFound(text="Socket Mode: Slack requests arrive over the websocket")
            return await handler(request)

        await start_background(bot.ctx, worker=mode == "embedded")
        # The handler asks apps.connections.open through bot.client (SLACK_API_URL).
        handler = AsyncSocketModeHandler(bot.bolt, settings.slack_app_token)
        health = web.Application(middlewares=[no_slack_over_http])
        add_routes(health, bot.ctx, bot.bolt)
        runner = web.AppRunner(health, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, settings.host, settings.port).start()
        # Connecting retries until Slack answers; SIGTERM must still stop it.
        connecting = asyncio.create_task(handler.connect_async())
        log.info("runbook-bot serving in Socket Mode (health on port %d)", settings.port)
        await stop.wait()
        log.info("shutting down")
        with contextlib.suppress(TimeoutError):  # closing waits on Slack's side: bound it
            await asyncio.wait_for(handler.close_async(), timeout=5)
        connecting.cancel()
        await asyncio.gather(connecting, return_exceptions=True)
        await runner.cleanup()
        await stop_background(bot.ctx)
        if supervisor is not None:
            await supervisor.stop()
        return
    runner = web.AppRunner(bot.web, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, settings.host, settings.port).start()
    log.info("runbook-bot listening on http://%s:%d/slack/events", settings.host, settings.port)
    await stop.wait()
    log.info("shutting down")
    # The worker stops alongside: what it has not delivered stays in the outbox.
    stopping = [runner.cleanup()] + ([supervisor.stop()] if supervisor is not None else [])
    await asyncio.gather(*stopping)


async def _migrate(settings: Settings) -> None:
    from bot.store.migrate import current_revision

    await _upgrade(settings.database_url)
    print(f"database at revision {await current_revision(settings.database_url)}")


async def _validations(settings: Settings, args: argparse.Namespace) -> int:
    from bot.drills.report import validations_report
    from bot.runbook import load_library
    from bot.store.db import make_engine, make_sessionmaker

    engine = make_engine(settings.database_url)
    try:
        report = await validations_report(
            make_sessionmaker(engine),
            load_library(settings.runbooks_dir),
            runbook_id=args.runbook,
            fmt=args.format,
            due=args.due,
            interval_seconds=settings.validation_interval,
        )
    finally:
        await engine.dispose()
    if report.error:
        print(f"error: {report.error}", file=sys.stderr)
    sys.stdout.write(report.text)
    return report.status


async def _stats(settings: Settings, args: argparse.Namespace) -> int:
    # Straight over the driver, no SQLAlchemy: its import alone took longer
    # than the query (docs/performance.md, "runbook-bot stats").
    from bot.drills.report import stats_report
    from bot.runbook import load_library
    from bot.store.direct import read_only

    async with read_only(settings.database_url) as reader:
        report = await stats_report(
            reader,
            load_library(settings.runbooks_dir),
            days=args.days,
            fmt=args.format,
            levels=settings.priorities.names,
        )
    sys.stdout.write(report.text)
    return report.status


def _run_direct(settings: Settings, args: argparse.Namespace) -> int:
    """``stats``, ``postmortem``: the other commands' messages for an unusable database."""
    from bot import cli_reports
    from bot.store.direct import DatabaseRefused

    try:
        if args.command == "postmortem":
            return asyncio.run(cli_reports.postmortem(settings, args))
        return asyncio.run(_stats(settings, args))
    except KeyboardInterrupt:
        return 130
    except DatabaseRefused as exc:
        print(f"runbook-bot: DATABASE_URL: cannot use the database: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # e.g. the database refuses connections
        print(f"runbook-bot: {exc}", file=sys.stderr)
        return 1


def _positive_days(text: str) -> int:
    try:
        days = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of days, got {text!r}") from None
    if not 1 <= days <= 3660:
        raise argparse.ArgumentTypeError(f"must be 1 to 3660 days, got {days}")
    return days


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="runbook-bot", description="Run Markdown incident runbooks step by step in Slack."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="serve Slack requests (HTTP, or Socket Mode with SLACK_APP_TOKEN)")
    worker = sub.add_parser("worker", help="deliver Slack messages and reminders (no HTTP)")
    worker.add_argument("--parent-pid", type=int, help=argparse.SUPPRESS)
    sub.add_parser("migrate", help="apply database migrations to DATABASE_URL")
    lint = sub.add_parser("lint", help="check runbook files (default: RUNBOOKS_DIR)")
    lint.add_argument("--fix", action="store_true", help="number plain-bullet steps in place")
    lint.add_argument("paths", nargs="*", help="files or folders")
    acts = sub.add_parser("actions", help="list the actions steps can run, and which steps do")
    acts.add_argument("paths", nargs="*", help="runbooks folder (default: RUNBOOKS_DIR)")
    acts.add_argument("--format", choices=("text", "json"), default="text")
    playground = sub.add_parser("playground", help="try the bot in a browser, no Slack needed")
    playground.add_argument("--port", type=int, default=None, help="HTTP port (default: PORT)")
    timeline = sub.add_parser("timeline", help="print an incident's timeline")
    timeline.add_argument("incident", help="INC-<n>")
    timeline.add_argument("--format", choices=("markdown", "json"), default="markdown")
    followups = sub.add_parser("followups", help="list open follow-ups across incidents")
    followups.add_argument("--overdue", action="store_true", help="only overdue; exit 1 if any")
    followups.add_argument("--format", choices=("markdown", "json"), default="markdown")
    postmortem = sub.add_parser("postmortem", help="print a postmortem draft of an incident")
    postmortem.add_argument("incident", help="INC-<n>")
    postmortem.add_argument("--format", choices=("markdown", "json"), default="markdown")
    validations = sub.add_parser(
        "validations", help="print the validation log (drills), newest first"
    )
    validations.add_argument("runbook", nargs="?", help="one runbook's, e.g. RB-11")
    validations.add_argument("--format", choices=("markdown", "json"), default="markdown")
    validations.add_argument(
        "--due",
        action="store_true",
        help="list the runbooks due for a drill (VALIDATION_INTERVAL); exit 1 if any",
    )
    stats = sub.add_parser("stats", help="insights over the last N days (drills excluded)")
    stats.add_argument("--days", type=_positive_days, default=90, help="default 90")
    stats.add_argument("--format", choices=("markdown", "json"), default="markdown")
    return parser


def _exit_now() -> NoReturn:
    """Exit 0 after a clean stop, skipping the interpreter's teardown: everything
    is closed by now, and tearing down the loaded modules takes over a second on
    a busy host, eating into the stop grace period (docker stop, Kubernetes)."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Each command imports what it uses, here and in its function: the
    # read-only ones (stats, validations, timeline, lint) never load Bolt,
    # aiohttp, APScheduler or the Slack SDK, and --help loads no pydantic.
    from bot.settings import SettingsError, load_settings

    try:
        settings = load_settings()
        if args.command == "serve":
            settings.require_slack()
            if not settings.runbooks_dir.is_dir():
                raise SettingsError(
                    f"RUNBOOKS_DIR is invalid: {settings.runbooks_dir} is not a folder"
                )
        if args.command == "worker" and not settings.slack_bot_token:
            raise SettingsError("SLACK_BOT_TOKEN is not set: the worker posts to Slack with it")
    except SettingsError as exc:
        print(f"runbook-bot: {exc}", file=sys.stderr)
        return 2
    _configure_logging(settings.log_level)
    if args.command == "lint":
        from bot.runbook.lint import run_lint

        return run_lint(
            args.paths or [str(settings.runbooks_dir)],
            fix=args.fix,
            out=sys.stdout,
            err=sys.stderr,
            runbooks_dir=settings.runbooks_dir,
            actions_file=settings.actions_file,
        )
    if args.command == "actions":
        from bot.runbook import listing

        return listing.run(args, settings, sys.stdout, sys.stderr)
    from bot.store.urls import missing_sqlite_folder, unwritable_sqlite_folder

    folder = missing_sqlite_folder(settings.database_url)
    if folder is not None:
        print(
            f"runbook-bot: DATABASE_URL: cannot use the database: folder {folder} does not exist",
            file=sys.stderr,
        )
        return 1
    if args.command in ("serve", "migrate", "worker"):
        unwritable = unwritable_sqlite_folder(settings.database_url)
        if unwritable is not None:
            print(
                f"runbook-bot: DATABASE_URL: cannot use the database: folder {unwritable} "
                f"is not writable by this user (uid {os.getuid()})",
                file=sys.stderr,
            )
            return 1
    if args.command in ("stats", "postmortem"):
        return _run_direct(settings, args)
    # Imported here, not at the top: `lint`, `stats` and `postmortem` never load it,
    # and SQLAlchemy is a third of every other command's start-up.
    from sqlalchemy.exc import SQLAlchemyError

    try:
        if args.command == "serve":
            asyncio.run(_serve(settings))
            _exit_now()
        if args.command == "migrate":
            asyncio.run(_migrate(settings))
            return 0
        if args.command == "worker":
            from bot.worker import run_worker

            asyncio.run(run_worker(settings, parent_pid=args.parent_pid))
            _exit_now()
        if args.command == "playground":
            from bot.playground.server import run_playground

            asyncio.run(run_playground(settings.port if args.port is None else args.port))
            return 0
        if args.command in ("timeline", "followups"):
            from bot import cli_reports

            return asyncio.run(cli_reports.run(settings, args))
        if args.command == "validations":
            return asyncio.run(_validations(settings, args))
    except KeyboardInterrupt:
        return 130
    except AppTokenRejected as exc:
        print(f"runbook-bot: SLACK_APP_TOKEN is invalid: {exc}", file=sys.stderr)
        return 2
    except DatabaseUnreachable as exc:
        print(f"runbook-bot: DATABASE_URL: cannot reach the database: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        # e.g. the database refuses connections, or the port is taken
        print(f"runbook-bot: {exc}", file=sys.stderr)
        return 1
    except SQLAlchemyError as exc:
        # e.g. a SQLite path in a missing folder, a wrong PostgreSQL user or database
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines() or ["?"]
        print(f"runbook-bot: DATABASE_URL: cannot use the database: {reason[0]}", file=sys.stderr)
        return 1
    return 2


if __name__ == "__main__":
    sys.exit(main())
