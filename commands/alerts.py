"""Start runbook / Acknowledge / Declare incident on an alert message.

Each click is committed to the intake before the ack, ordered with the
alert's own notifications (``bot/alerts/actions.py`` acts on it).
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.alerts import actions, blocks
from bot.context import AppContext
from commands.common import MALFORMED, clicker_name, ephemeral, submit_click, where_clicked

KINDS = {
    blocks.START: actions.START,
    blocks.ACKNOWLEDGE: actions.ACKNOWLEDGE,
    blocks.DECLARE: actions.DECLARE,
}


def register(bolt: AsyncApp, ctx: AppContext) -> None:
    async def on_click(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        click = where_clicked(body)
        channel, ts, thread, user = click.channel, click.ts, click.thread_ts, click.user
        parsed = blocks.parse_button_value(str(action.get("value", "")))
        kind = KINDS.get(str(action.get("action_id", "")))
        if parsed is None or kind is None:
            await ack()
            ephemeral(ctx, channel, user, MALFORMED, thread)
            return
        alert_id, fingerprint = parsed
        item = actions.click_payload(
            kind,
            alert_id=alert_id,
            fingerprint=fingerprint,
            user=user,
            channel=channel,
            ts=ts,
            thread_ts=thread,
            trigger_id=body.get("trigger_id"),
            name=clicker_name(body),
        )
        await submit_click(ctx, ack, item)

    for action_id in KINDS:
        bolt.action(action_id)(on_click)
