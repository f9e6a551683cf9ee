"""Hostile requests through the doors they use: the Alertmanager webhook and
signed Slack requests. One bad item is refused or repaired alone; it never
fails, stalls or fools the handling of the others."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.incidents.blocks import REMINDER_SNOOZE, REMINDER_UPDATE, UPDATE_MODAL
from bot.store.models import Alert, Incident, Run, StepDecision, TimelineEvent
from bot.store.states import EventKind, IncidentState, RunStatus
from tests.alert_support import CHANNEL, TOKEN, alert_count, deliver, member, notification, until
from tests.alert_support import runbooks as alert_runbooks
from tests.conftest import BotFactory
from tests.rig import SlackStandIn
from tests.rig.botserver import BotServer
from tests.test_e2e_runbook import is_step, start
from tests.test_reminders import INTERVAL, declare, events, wait_reminders


@pytest.fixture
async def alerting(make_bot: BotFactory, tmp_path: Path) -> BotServer:
    return await make_bot(
        alert_webhook_token=TOKEN, alert_channel=CHANNEL, runbooks_dir=alert_runbooks(tmp_path)
    )


async def test_lone_surrogate_in_an_alert_does_not_fail_the_delivery(
    alerting: BotServer, slack: SlackStandIn
) -> None:
    alerts = [member(i) for i in range(6)]
    alerts[2]["labels"]["pod"] = "web-\udcff"  # JSON "\udcff": no UTF-8 form
    alerts[4]["annotations"]["summary"] = "disk \ud800 full"
    status, body = await deliver(alerting, notification(*alerts))
    assert status == 200, body
    await until(lambda: _count_is(alerting, 6))
    async with alerting.ctx.sessions() as session:
        labels = (await session.execute(select(Alert.labels))).scalars().all()
    assert {"web-\ufffd"} <= {str(dict(row).get("pod")) for row in labels}
    # The intake is not left poisoned: a command in another channel still answers.
    reply = await alerting.command("/incident", "list", channel_id="C0OTHER")
    assert reply.status == 200 and "database" not in reply.text.lower(), reply.text


async def _count_is(bot: BotServer, n: int) -> bool:
    return await alert_count(bot) == n


async def test_resolving_ends_the_run_and_its_steps_refuse_decisions(
    bot: BotServer, slack: SlackStandIn
) -> None:
    step1 = await start(bot, slack)
    resolved = await bot.command("/incident", "resolve INC-1")
    assert resolved.status == 200
    await bot.settle()
    late = await bot.click(step1, "step_approve", user_id="UBOB")
    assert late.status == 200
    abort = await bot.command("/runbook", "abort INC-1")
    assert abort.status == 200 and "Nothing was aborted" in abort.text, abort.text
    await bot.settle()
    async with bot.ctx.sessions() as session:
        assert (await session.execute(select(func.count(StepDecision.id)))).scalar() == 0
        [run] = (await session.execute(select(Run))).scalars().all()
        assert run.state == RunStatus.ABORTED and run.ended_at is not None
        events = (
            (await session.execute(select(TimelineEvent.kind).order_by(TimelineEvent.id)))
            .scalars()
            .all()
        )
    assert events[-2:] == [EventKind.RUNBOOK_ABORTED, EventKind.INCIDENT_RESOLVED], events
    # One step message only: nothing was decided, no rollback is offered.
    assert len([c for c in slack.calls_to("chat.postMessage") if is_step(c)]) == 1


@pytest.mark.parametrize("key", ["INC-99999999999999999999", "INC 7", "inc-x", "INC#1"])
async def test_a_malformed_incident_id_is_refused_by_name(
    bot: BotServer, slack: SlackStandIn, key: str
) -> None:
    await start(bot, slack)  # INC-1 is open here
    resolve = await bot.command("/incident", f"resolve {key}")
    shown = key.split()[0]
    assert f"`{shown}` is not an incident ID" in resolve.text, resolve.text
    again = await bot.command("/runbook", f"start RB-04 {key} more")
    assert "is not an incident ID" in again.text, again.text
    await bot.settle()
    async with bot.ctx.sessions() as session:
        incidents = (await session.execute(select(Incident))).scalars().all()
    assert [(i.id, i.state) for i in incidents] == [(1, IncidentState.OPEN)]


async def test_several_open_lists_titles_escaped(bot: BotServer, slack: SlackStandIn) -> None:
    for title in ("<https://evil.example|Join bridge>", "<!channel> second"):
        declared = await bot.command("/incident", f"declare {title}")
        assert declared.status == 200
    await bot.settle()
    reply = await bot.command("/incident", "update where are we")
    assert "Several incidents are open here" in reply.text, reply.text
    assert "&lt;https://evil.example|Join bridge&gt;" in reply.text
    assert "<https://evil" not in reply.text and "<!channel>" not in reply.text


async def test_an_overlong_id_in_a_button_fails_only_that_click(
    bot: BotServer, slack: SlackStandIn
) -> None:
    step1 = await start(bot, slack)
    forged = bot.signer.block_action(
        "step_approve", "7" * 70 + ":0", message_ts=step1.ts, channel_id=step1.args["channel"]
    )
    results = await asyncio.gather(
        bot.send(forged, "click"),
        *(bot.click(step1, "step_approve", user_id=f"U{i:03d}") for i in range(8)),
    )
    assert [r.status for r in results] == [200] * 9
    await bot.settle()
    async with bot.ctx.sessions() as session:
        decisions = (await session.execute(select(StepDecision))).scalars().all()
    assert len(decisions) == 1 and decisions[0].run_id == 1
    notes = [c.args["text"] for c in slack.calls_to("chat.postEphemeral")]
    assert any("malformed" in text for text in notes), notes


EVIL = "<https://evil.example|Join bridge> <!channel>"


async def test_runbook_titles_are_escaped_in_bot_text(
    make_bot: BotFactory, slack: SlackStandIn, tmp_path: Path
) -> None:
    folder = tmp_path / "rb"
    folder.mkdir()
    (folder / "RB-77.md").write_text(f"# {EVIL}\n\n## Mitigation\n\n1. look\n2. fix\n")
    bot = await make_bot(runbooks_dir=folder)
    listing = await bot.command("/runbook", "list")
    show = await bot.command("/runbook", "show RB-77")
    started = await bot.command("/runbook", "start RB-77 trouble")
    assert started.status == 200
    await bot.settle()
    posted = [c.args for c in slack.calls_to("chat.postMessage") + slack.calls_to("chat.update")]
    texts = [listing.body.get("text", ""), show.body.get("text", "")]
    texts += [str(args.get("text", "")) for args in posted]
    assert any("&lt;https://evil.example|Join bridge&gt;" in t for t in texts), texts
    for text in texts:
        assert "<https://evil" not in text and "<!channel>" not in text, text


async def test_unreadable_requests_get_clear_answers_not_500(bot: BotServer) -> None:
    url = bot.url + "/slack/events"
    body = b"command=%2Fincident&text=\xff\xfe&user_id=U1"  # not UTF-8, validly signed
    stamp = str(int(time.time()))
    base = b"v0:" + stamp.encode() + b":" + body
    digest = hmac.new(bot.signer.signing_secret.encode(), base, hashlib.sha256).hexdigest()
    signed = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": f"v0={digest}",
    }
    async with bot.http.post(url, data=body, headers=signed) as resp:
        assert resp.status == 400 and "UTF-8" in await resp.text()
    good = bot.signer.slash_command("/incident", "list")
    headers = {**bot.signer.headers(good), "X-Slack-Request-Timestamp": "soon"}
    async with bot.http.post(url, data=good, headers=headers) as resp:
        assert resp.status == 401
    show = await bot.command("/runbook", "show " + "1" * 5000)
    assert show.status == 200 and "Unknown runbook" in show.text, show


async def test_with_approvers_set_only_they_may_abort(
    make_bot: BotFactory, slack: SlackStandIn
) -> None:
    bot = await make_bot(approvers="UBOSS")
    await start(bot, slack)
    await bot.settle()
    run_msg = slack.calls_to("chat.postMessage")[0]
    clicked = await bot.click(run_msg, "run_abort", user_id="UMALLORY")
    assert clicked.status == 200
    notes = await slack.wait_for("chat.postEphemeral")
    assert notes[0].args["user"] == "UMALLORY" and "approvers" in notes[0].args["text"]
    typed = await bot.command("/runbook", "abort INC-1", user_id="UMALLORY")
    assert "Only the configured approvers can abort" in typed.text, typed.text
    async with bot.ctx.sessions() as session:
        assert (await session.execute(select(Run.state))).scalar() == RunStatus.RUNNING
    allowed = await bot.command("/runbook", "abort INC-1", user_id="UBOSS")
    assert allowed.status == 200 and "approvers" not in allowed.text
    await bot.settle()
    async with bot.ctx.sessions() as session:
        assert (await session.execute(select(Run.state))).scalar() == RunStatus.ABORTED


async def test_replayed_update_submission_and_snooze_act_once(
    make_bot: BotFactory, slack: SlackStandIn
) -> None:
    bot = await make_bot(status_update_interval=INTERVAL)
    await declare(bot, slack)
    reminder = (await wait_reminders(slack, 1))[0]
    await bot.settle()
    await bot.click(reminder, REMINDER_UPDATE, user_id="UCAROL")
    opened = (await slack.wait_for("views.open"))[0]
    stored = slack.views[opened.response["view"]["id"]]
    field = next(b for b in stored["blocks"] if b["type"] == "input")
    values = {field["block_id"]: {field["element"]["action_id"]: "DB failover done"}}
    forged = bot.signer.view_submission(UPDATE_MODAL, values, private_metadata="abc")
    refused = await bot.send(forged, "view")
    assert refused.status == 200 and refused.body["response_action"] == "errors"
    body = bot.signer.view_submission(
        UPDATE_MODAL, values, private_metadata=stored["private_metadata"], user_id="UCAROL"
    )
    for _ in range(5):  # the same request replayed
        assert (await bot.send(body, "view")).status == 200
    message = slack.message(reminder.args["channel"], reminder.ts)
    select_ = next(
        e
        for b in message["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == REMINDER_SNOOZE
    )
    snooze = bot.signer.block_action(
        REMINDER_SNOOZE,
        message_ts=reminder.ts,
        message=message,
        user_id="UBOB",
        selected_option_value=select_["options"][0]["value"],
        selected_option_text="Snooze 15 min",
    )
    for _ in range(5):
        assert (await bot.send(snooze, "click")).status == 200
    await bot.settle()
    assert len(await events(bot, kind="status_update")) == 1
    assert len(await events(bot, kind="reminder_snoozed")) == 1
    posted = [c.args["text"] for c in slack.calls_to("chat.postMessage")]
    assert sum("Status update" in t for t in posted) == 1
    assert sum("snoozed" in t for t in posted) == 1


async def test_a_value_the_database_refuses_is_not_reported_as_an_outage(
    bot: BotServer,
) -> None:
    reply = await bot.command("/incident", "declare Payments down", channel_id="C" + "9" * 100)
    assert reply.status == 200
    assert "Nothing changed" in reply.text and "database" not in reply.text.lower(), reply.text
