"""The incident's own buttons — Acknowledge, Assign commander, Resolve — on its
declare and run messages, and one live reminder per incident. Through the real
app: signed requests as Slack sends them, the Web API stand-in (Slack's pace
on), real PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot.incidents.action_blocks import INCIDENT_ACK, INCIDENT_COMMANDER, INCIDENT_RESOLVE
from bot.incidents.blocks import REMINDER_SNOOZE
from bot.slack.buttons import SnoozeButton
from bot.store.models import Incident, Run, TimelineEvent
from bot.store.states import EventKind, IncidentState, RunStatus
from tests.conftest import BotFactory
from tests.rig import SlackStandIn
from tests.rig.botserver import BotServer
from tests.rig.standin import Call
from tests.test_e2e_runbook import is_step


def actions_of(message: dict[str, Any]) -> list[str]:
    """The action ids a message offers now."""
    return [
        e.get("action_id", "")
        for b in message.get("blocks", [])
        if b.get("type") == "actions"
        for e in b.get("elements", [])
    ]


def element(message: dict[str, Any], action_id: str) -> dict[str, Any]:
    for b in message.get("blocks", []):
        for e in b.get("elements", []) if b.get("type") == "actions" else []:
            if e.get("action_id") == action_id:
                return dict(e)
    raise AssertionError(f"no {action_id} in {message.get('blocks')}")


async def declared(bot: BotServer, slack: SlackStandIn, title: str = "Checkout errors") -> Call:
    reply = await bot.command("/incident", f"declare {title}")
    assert reply.status == 200, reply.text
    (call,) = await slack.wait_for("chat.postMessage", lambda c: "declared" in c.args["text"])
    return call


async def pick(bot: BotServer, call: Call, user: str, *, by: str = "U1", block: str = "b") -> int:
    """Choose ``user`` in the message's commander picker, as Slack sends it."""
    channel = call.args["channel"]
    body = bot.signer.block_action(
        INCIDENT_COMMANDER,
        message_ts=call.ts,
        channel_id=channel,
        user_id=by,
        message=bot.slack.message(channel, call.ts),
        selected_user=user,
        block_id=block,
    )
    return (await bot.send(body, "click")).status


async def incident(bot: BotServer, incident_id: int = 1) -> Incident:
    async with bot.ctx.sessions() as session:
        found = await session.get(Incident, incident_id)
    assert found is not None
    return found


async def test_acknowledge_and_commander_buttons_act_like_the_commands(
    bot: BotServer, slack: SlackStandIn
) -> None:
    call = await declared(bot, slack)
    channel = call.args["channel"]
    assert actions_of(call.args) == [INCIDENT_ACK, INCIDENT_COMMANDER, INCIDENT_RESOLVE]
    assert element(call.args, INCIDENT_COMMANDER)["type"] == "users_select"

    assert (await bot.click(call, INCIDENT_ACK, user_id="U0BEA")).status == 200
    await bot.settle()
    inc = await incident(bot)
    assert inc.acknowledged_by == "U0BEA" and inc.acknowledged_at is not None
    now = slack.message(channel, call.ts)
    assert INCIDENT_ACK not in actions_of(now), "acknowledged: no Acknowledge button"
    assert "Acknowledged by <@U0BEA>" in str(now["blocks"])
    told = [e["text"] for e in slack.ephemerals if e.get("user") == "U0BEA"]
    assert any("You acknowledged INC-1" in t for t in told), told

    # A second Acknowledge (a stale message): refused by name, nothing recorded twice.
    assert (await bot.click(call, INCIDENT_ACK, user_id="U0CAL")).status == 200
    await bot.settle()
    told = [e["text"] for e in slack.ephemerals if e.get("user") == "U0CAL"]
    assert any("already acknowledged by <@U0BEA>" in t for t in told), told

    assert await pick(bot, call, "U04DANA", by="U0BEA") == 200
    await bot.settle()
    assert (await incident(bot)).roles == {"commander": "U04DANA"}
    now = slack.message(channel, call.ts)
    assert element(now, INCIDENT_COMMANDER).get("initial_user") == "U04DANA"
    async with bot.ctx.sessions() as session:
        roles = (
            await session.execute(
                select(TimelineEvent).where(TimelineEvent.kind == EventKind.ROLE_ASSIGNED)
            )
        ).scalars()
        assert [(e.actor, e.data["user"]) for e in roles] == [("U0BEA", "U04DANA")]


async def test_a_forged_picker_changes_nothing(bot: BotServer, slack: SlackStandIn) -> None:
    call = await declared(bot, slack)
    assert await pick(bot, call, "U04DANA", block="incident:x1") == 200
    assert await pick(bot, call, "not a user") == 200
    await bot.settle()
    assert (await incident(bot)).roles in ({}, None)
    told = [e["text"] for e in slack.ephemerals]
    assert len([t for t in told if "malformed" in t]) == 2, told


async def test_resolve_button_ends_the_running_run_and_every_button(
    bot: BotServer, slack: SlackStandIn
) -> None:
    call = await declared(bot, slack)
    channel = call.args["channel"]
    assert (await bot.command("/runbook", "start RB-04 INC-1")).status == 200
    (step,) = await slack.wait_for("chat.postMessage", is_step)
    await bot.settle()
    (run_msg,) = [
        c for c in slack.calls_to("chat.postMessage") if "runbook RB-04" in c.args["text"]
    ]
    n = bot.ctx.library.get("RB-04").step_count
    confirm = element(slack.message(channel, run_msg.ts), INCIDENT_RESOLVE)["confirm"]
    assert f"RB-04 is still running (step 1 of {n}); resolving ends it." in str(confirm)
    # The declare message's Resolve names the run too.
    confirm = element(slack.message(channel, call.ts), INCIDENT_RESOLVE)["confirm"]
    assert "RB-04 is still running" in str(confirm)

    assert (await bot.click(call, INCIDENT_RESOLVE, user_id="U0BEA")).status == 200
    await bot.settle()
    inc = await incident(bot)
    assert inc.state == IncidentState.RESOLVED and inc.resolved_by == "U0BEA"
    async with bot.ctx.sessions() as session:
        (run,) = (await session.execute(select(Run))).scalars().all()
    assert run.state == RunStatus.ABORTED
    # No button is left: declare message, run message, the waiting step.
    for ts in (call.ts, run_msg.ts, step.ts):
        assert actions_of(slack.message(channel, ts)) == [], slack.message(channel, ts)
    assert "Run ended: incident resolved" in str(slack.message(channel, step.ts)["blocks"])
    run_now = str(slack.message(channel, run_msg.ts)["blocks"])
    assert "Steps follow in this thread" not in run_now and "Step 1 of" not in run_now
    assert "Run ended: incident resolved" in run_now
    (summary,) = [
        c for c in slack.calls_to("chat.postMessage") if "INC-1 resolved" in c.args["text"]
    ]
    said = str(summary.args["blocks"])
    assert f"RB-04 ended at step 1 of {n} when the incident was resolved (RTO " in said
    assert "RB-04: aborted" not in said  # its RTO is on that line, not on a second one
    assert "1 runbook run" in said and "run(s)" not in said
    assert "`/incident timeline INC-1`" in said
    # A late Approve on the step changes nothing.
    assert (await bot.click(step, "step_approve", user_id="U0CAL")).status == 200
    # Resolve again from a stale message: refused by name.
    assert (await bot.click(call, INCIDENT_RESOLVE, user_id="U0CAL")).status == 200
    await bot.settle()
    told = [e["text"] for e in slack.ephemerals if e.get("user") == "U0CAL"]
    assert any("already resolved" in t for t in told), told
    async with bot.ctx.sessions() as session:
        kinds = (await session.execute(select(TimelineEvent.kind))).scalars().all()
    assert kinds.count(EventKind.INCIDENT_RESOLVED) == 1
    assert EventKind.STEP_APPROVED not in kinds


async def test_runbook_abort_removes_the_waiting_steps_buttons(
    bot: BotServer, slack: SlackStandIn
) -> None:
    assert (await bot.command("/runbook", "start RB-04 leaked link")).status == 200
    (step,) = await slack.wait_for("chat.postMessage", is_step)
    channel = step.args["channel"]
    assert (await bot.command("/runbook", "abort INC-1", user_id="U0BEA")).status == 200
    await bot.settle()
    assert actions_of(slack.message(channel, step.ts)) == []
    assert "Run aborted by <@U0BEA>" in str(slack.message(channel, step.ts)["blocks"])
    (run_msg,) = [
        c for c in slack.calls_to("chat.postMessage") if "runbook RB-04" in c.args["text"]
    ]
    run_now = slack.message(channel, run_msg.ts)
    assert "Steps follow in this thread" not in str(run_now["blocks"])
    # The incident is still open: its buttons stay on the run message.
    assert actions_of(run_now) == [INCIDENT_ACK, INCIDENT_COMMANDER, INCIDENT_RESOLVE]


async def test_one_live_reminder_per_incident(make_bot: BotFactory, slack: SlackStandIn) -> None:
    from tests.test_reminders import reminders, wait_reminders

    bot = await make_bot(status_update_interval=1.0)
    call = await declared(bot, slack)
    channel = call.args["channel"]
    await wait_reminders(slack, 4, timeout=30)
    # Snoozed from the newest reminder (as a responder would): the count holds still.
    newest = reminders(slack)[-1]
    snooze = bot.signer.block_action(
        REMINDER_SNOOZE,
        message_ts=newest.ts,
        channel_id=channel,
        message=slack.message(channel, newest.ts),
        selected_option_value=SnoozeButton(1, 60).to_json(),
    )
    assert (await bot.send(snooze, "click")).status == 200
    await bot.settle()
    live = [c for c in reminders(slack) if actions_of(slack.message(channel, c.ts))]
    posted = reminders(slack)
    assert len(posted) >= 4 and len(live) == 1, [slack.message(channel, c.ts) for c in posted]
    # The superseded ones say so in one line.
    old = slack.message(channel, posted[0].ts)
    assert "superseded by a newer reminder" in str(old["blocks"]) and len(old["blocks"]) == 1
    assert (await bot.command("/incident", "resolve INC-1")).status == 200
    await bot.settle()
    live = [c for c in reminders(slack) if actions_of(slack.message(channel, c.ts))]
    assert live == []
    last = slack.message(channel, reminders(slack)[-1].ts)
    assert "INC-1 was resolved" in str(last["blocks"])


async def test_a_step_decision_acknowledges_and_the_declare_message_follows(
    bot: BotServer, slack: SlackStandIn
) -> None:
    call = await declared(bot, slack)
    assert (await bot.command("/runbook", "start RB-04 INC-1")).status == 200
    (step,) = await slack.wait_for("chat.postMessage", is_step)
    assert (await bot.click(step, "step_approve", user_id="U0BEA")).status == 200
    await bot.settle()
    assert (await incident(bot)).acknowledged_by == "U0BEA"
    now = slack.message(call.args["channel"], call.ts)
    assert actions_of(now) == [INCIDENT_COMMANDER, INCIDENT_RESOLVE]
    assert "Acknowledged by <@U0BEA>" in str(now["blocks"])
