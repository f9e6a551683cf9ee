"""A click's messages go first at Slack's pace: the step's update, the run
message's progress and the next step all carry the click's priority. The run
message's update shares its run's queue of updates with the next click's
step update, so at a lower priority it would hold that update up whenever
Slack's update budget is busy (signed requests, stand-in, PostgreSQL)."""

from __future__ import annotations

from sqlalchemy import select

from bot.slack.pace import Priority
from bot.store.models import OutboxMessage
from tests.rig import SlackStandIn
from tests.rig.botserver import BotServer
from tests.test_e2e_runbook import is_step, start


async def test_a_clicks_run_message_update_goes_at_the_clicks_priority(
    bot: BotServer, slack: SlackStandIn
) -> None:
    step1 = await start(bot, slack)
    response = await bot.click(step1, "step_approve", user_id="UALICE")
    assert response.status == 200
    await slack.wait_for("chat.postMessage", is_step, count=2)  # the next step is out
    async with bot.ctx.sessions() as session:
        rows = (
            await session.execute(
                select(OutboxMessage.method, OutboxMessage.collapse_key, OutboxMessage.priority)
                .where(OutboxMessage.method == "chat.update")
                .order_by(OutboxMessage.id)
            )
        ).all()
    run_message = [r for r in rows if (r.collapse_key or "").startswith("run-message:")]
    assert run_message, rows
    assert {r.priority for r in rows} == {int(Priority.CLICK)}, rows
