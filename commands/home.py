"""The App Home tab: ``app_home_opened`` publishes the view; its **Declare
incident** button opens a modal whose submission declares an incident in the
first incident channel, exactly as ``/incident declare`` does (same flow).

Nothing here asks Slack before the ack: the channel's ID comes from the
cache ``bot/home/channel.py`` keeps (the modal opens after the ack)."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.context import AppContext
from bot.home import view as home_view
from bot.home.channel import NO_SUCH_CHANNEL
from bot.incidents import flows
from bot.incidents.flows import Request
from commands.common import clean_text, log


def priority_levels(ctx: AppContext) -> tuple[list[str], str | None]:
    """The levels a declared incident may take (``PRIORITY_LEVELS``), and the default."""
    policy = ctx.settings.priorities
    return list(policy.names), policy.default


def channel_problem(ctx: AppContext, channel: object) -> str:
    name = ctx.declare_channel.name
    if channel is NO_SUCH_CHANNEL:
        return f"The bot cannot find #{name} (is it a member?). Nothing was declared."
    return (
        f"The bot is still asking Slack for #{name}. Nothing was declared yet — "
        "submit again in a few seconds."
    )


def register(bolt: AsyncApp, ctx: AppContext) -> None:
    @bolt.event("app_home_opened")
    async def home_opened(event: dict[str, Any]) -> None:
        if event.get("tab", "home") != "home" or not event.get("user"):
            return
        # Off the ack path: the view is read and published right after.
        ctx.background.spawn(ctx.home.opened(str(event["user"])))

    @bolt.action(home_view.DECLARE)
    async def open_declare(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        if not isinstance(ctx.declare_channel.cached(), str):
            ctx.declare_channel.nudge()  # known by the time the modal is submitted
        levels, default = priority_levels(ctx)
        modal = home_view.declare_modal(levels, default)

        async def open_view() -> None:
            try:
                await ctx.client.views_open(trigger_id=body["trigger_id"], view=modal)
                ctx.metrics.slack_call("views.open", True)
            except Exception as exc:
                ctx.metrics.slack_call("views.open", False)
                log.warning("views.open failed: %r", exc)

        ctx.background.spawn(open_view())

    @bolt.view(home_view.DECLARE_MODAL)
    async def submit_declare(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        user = (body.get("user") or {}).get("id", "")
        values = (view.get("state") or {}).get("values") or {}
        title = clean_text(str(((values.get("title") or {}).get("title") or {}).get("value") or ""))
        title = title.strip()
        if not title:
            await ack(response_action="errors", errors={"title": "Give the incident a title."})
            return
        chosen = ((values.get("priority") or {}).get("priority") or {}).get("selected_option")
        priority = str((chosen or {}).get("value") or "") or None
        levels, _ = priority_levels(ctx)
        if priority is not None and levels and priority not in levels:
            await ack(response_action="errors", errors={"priority": "Pick one of the levels."})
            return
        channel = ctx.declare_channel.cached()
        if not isinstance(channel, str):
            await ack(response_action="errors", errors={"title": channel_problem(ctx, channel)})
            ctx.declare_channel.nudge()
            return
        request = Request(channel=channel, user=user, request_key=f"view:{view.get('id')}")
        await ctx.intake_worker.drain_channel(channel)
        outcome = await flows.declare(
            ctx.sessions, request, title, policy=ctx.settings.priorities, priority=priority
        )
        await ack()
        if outcome.delivered:
            ctx.outbox.notify()
        if outcome.due is not None:
            ctx.reminders.nudge(outcome.due)
        if outcome.deadline is not None:
            ctx.deadlines.nudge(outcome.deadline)
