"""The incident's buttons on its declare and run messages: **Acknowledge**,
**Assign commander** (a user picker) and **Resolve** (confirmed in Slack).

Each calls the same transition as its command (``/incident ack``,
``/incident role commander @x``, ``/incident resolve``: ``commands/incident.py``),
committed before the ack; what the clicker is told goes after it, privately.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.context import AppContext
from bot.incidents import flows
from bot.incidents.action_blocks import (
    INCIDENT_ACK,
    INCIDENT_COMMANDER,
    INCIDENT_RESOLVE,
    incident_of_block,
    incident_of_value,
)
from bot.incidents.response import COMMANDER, parse_user
from commands.common import MALFORMED, ephemeral, where_clicked
from commands.incident import acknowledging, assigning, resolving


def register(bolt: AsyncApp, ctx: AppContext) -> None:
    @bolt.action(INCIDENT_ACK)
    async def acknowledge(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        user = where_clicked(body).user
        await _act(ctx, ack, body, _incident(action), acknowledging(ctx, user, via="button"))

    @bolt.action(INCIDENT_RESOLVE)
    async def resolve(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        user = where_clicked(body).user
        await _act(ctx, ack, body, _incident(action), resolving(ctx, user))

    @bolt.action(INCIDENT_COMMANDER)
    async def commander(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        user = where_clicked(body).user
        holder = parse_user(str(action.get("selected_user") or ""))
        incident_id = incident_of_block(str(action.get("block_id") or ""))
        if holder is None:
            incident_id = None  # a picker cleared, or forged: nothing to assign
        await _act(ctx, ack, body, incident_id, assigning(user, COMMANDER, holder or ""))


def _incident(action: dict[str, Any]) -> int | None:
    return incident_of_value(str(action.get("value") or ""))


async def _act(
    ctx: AppContext,
    ack: AsyncAck,
    body: dict[str, Any],
    incident_id: int | None,
    action: flows.Action,
) -> None:
    """Commit the transition, ack, then tell the clicker what it did not do."""
    click = where_clicked(body)
    if incident_id is None:
        await ack()
        ephemeral(ctx, click.channel, click.user, MALFORMED, click.thread_ts)
        return
    trigger = body.get("trigger_id")
    # Slack's trigger id is one per interaction: a replayed click is a no-op.
    key = f"trigger:{trigger}" if isinstance(trigger, str) and trigger else None
    request = flows.Request(click.channel, click.user, key)
    # Clicks acknowledged before this one (a step's Approve) are acted on first.
    await ctx.intake_worker.drain_channel(click.channel)
    outcome = await flows.act_on_open(ctx.sessions, request, incident_id, action)
    await ack()
    ctx.metrics.acks.labels("interaction").inc()
    if outcome.reply is not None and outcome.reply.get("text"):
        ephemeral(ctx, click.channel, click.user, outcome.reply["text"], click.thread_ts)
    if outcome.delivered:
        ctx.outbox.notify()
    if outcome.due is not None:
        ctx.reminders.nudge(outcome.due)
    if outcome.deadline is not None:
        ctx.deadlines.nudge(outcome.deadline)
