"""The reminder's **Post update** button (a modal) and **Snooze** choices."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.context import AppContext
from bot.incidents import blocks as incident_blocks
from bot.incidents import flows
from bot.incidents.service import incident_view
from bot.slack.buttons import SnoozeButton
from bot.store.models import Incident
from bot.store.states import IncidentState
from commands.common import MALFORMED, clean_text, ephemeral, log, where_clicked

NOT_OPEN = "That incident is not open any more."


def register(bolt: AsyncApp, ctx: AppContext) -> None:
    @bolt.action(incident_blocks.REMINDER_UPDATE)
    async def open_update_modal(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]
    ) -> None:
        await ack()
        click = where_clicked(body)
        channel, thread, user = click.channel, click.thread_ts, click.user
        raw = str(action.get("value") or "")
        if not (raw.isascii() and raw.isdigit() and len(raw) <= 12):
            ephemeral(ctx, channel, user, MALFORMED, thread)
            return
        async with ctx.sessions() as session:
            incident = await session.get(Incident, int(raw))
        if incident is None or incident.state != IncidentState.OPEN:
            ephemeral(ctx, channel, user, NOT_OPEN, thread)
            return
        view = incident_blocks.update_modal(incident_view(incident))

        async def open_view() -> None:
            try:
                await ctx.client.views_open(trigger_id=body["trigger_id"], view=view)
                ctx.metrics.slack_call("views.open", True)
            except Exception as exc:
                ctx.metrics.slack_call("views.open", False)
                log.warning("views.open failed: %r", exc)

        ctx.background.spawn(open_view())

    @bolt.view(incident_blocks.UPDATE_MODAL)
    async def submit_update(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        user = (body.get("user") or {}).get("id", "")
        values = (view.get("state") or {}).get("values") or {}
        text = clean_text(str(((values.get("update") or {}).get("text") or {}).get("value") or ""))
        text = text.strip()
        if not text:
            await ack(response_action="errors", errors={"update": "Write the update first."})
            return
        update = flows.post_update(user, text, policy=ctx.settings.priorities, via="modal")
        metadata = str(view.get("private_metadata") or "")
        if not (metadata.isascii() and metadata.isdigit() and len(metadata) <= 12):
            await ack(response_action="errors", errors={"update": NOT_OPEN})
            return
        # A replayed submission of the same modal (same view id) records nothing.
        request = flows.Request("", user, _slack_key("view", view.get("id")))
        outcome = await flows.act_on_open(ctx.sessions, request, int(metadata), update)
        if outcome.reply is not None:
            await ack(response_action="errors", errors={"update": NOT_OPEN})
            return
        await ack()
        ctx.outbox.notify()
        ctx.reminders.nudge(outcome.due)

    @bolt.action(incident_blocks.REMINDER_SNOOZE)
    async def snooze(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        click = where_clicked(body)
        channel, thread, user = click.channel, click.thread_ts, click.user
        raw = str((action.get("selected_option") or {}).get("value") or action.get("value") or "")
        try:
            button = SnoozeButton.from_json(raw)
            incident_id, minutes = button.incident_id, button.minutes
        except ValueError:
            await ack()
            return
        if minutes not in incident_blocks.SNOOZE_MINUTES:
            await ack()
            ephemeral(ctx, channel, user, "Snooze for 15, 30 or 60 minutes.", thread)
            return
        snooze = flows.snooze(user, minutes)
        # Slack's trigger id is one per interaction: a replay of it is a no-op.
        request = flows.Request(channel, user, _slack_key("trigger", body.get("trigger_id")))
        outcome = await flows.act_on_open(ctx.sessions, request, incident_id, snooze)
        await ack()
        if outcome.reply is not None:
            ephemeral(ctx, channel, user, NOT_OPEN, thread)
            return
        ctx.outbox.notify()


def _slack_key(kind: str, slack_id: object) -> str | None:
    """An idempotency key from Slack's own id for the interaction, if it sent one."""
    return f"{kind}:{slack_id}" if isinstance(slack_id, str) and slack_id else None
