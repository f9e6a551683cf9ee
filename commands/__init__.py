"""Slack listeners: parse the request, call the domain in ``bot/``, ack.

Each listener commits before it acknowledges, so nothing acknowledged is lost:
clicks and ``/runbook start`` commit the request to the intake (the worker acts
on it right after), the other commands commit their whole work. Slack writes
are left to the outbox worker.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

# The slash commands the Slack app's manifest declares (slack/manifest.*.yaml).
KNOWN_COMMANDS = ("/runbook", "/incident")

if TYPE_CHECKING:
    from slack_bolt.async_app import AsyncApp

    from bot.context import AppContext


def register(bolt: AsyncApp, ctx: AppContext) -> None:
    from commands import (
        alerts,
        common,
        home,
        incident,
        incident_actions,
        outage,
        reminder_actions,
        runbook,
        steps,
    )

    outage.register(bolt, ctx)  # a database outage's reply, for every listener below

    runbook.register(bolt, ctx)
    incident.register(bolt, ctx)
    incident_actions.register(bolt, ctx)
    steps.register(bolt, ctx)
    reminder_actions.register(bolt, ctx)
    home.register(bolt, ctx)
    alerts.register(bolt, ctx)
    common.answer_unknown_commands(bolt, ctx, KNOWN_COMMANDS)  # last: matches any command
