"""Request verification (SPEC §5 Security) and Slack retries of handled requests.

Every forged, unsigned or stale request gets 401, makes no Slack call and
changes nothing in the database. A retry (``X-Slack-Retry-Num``) or replay of a
request the bot already handled has no second effect.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import func, select

from bot.store.models import (
    HandledRequest,
    Incident,
    OutboxMessage,
    Run,
    StepDecision,
    TimelineEvent,
)
from tests.conftest import requested
from tests.rig import SlackStandIn
from tests.rig.botserver import BotServer
from tests.test_e2e_runbook import is_step, start

TABLES = (Incident, Run, StepDecision, TimelineEvent, OutboxMessage, HandledRequest)


async def row_counts(bot: BotServer) -> dict[str, int]:
    async with bot.ctx.sessions() as session:
        return {
            t.__tablename__: (await session.execute(select(func.count()).select_from(t))).scalar()
            for t in TABLES
        }


def forged_requests(bot: BotServer) -> list[tuple[str, bytes, dict]]:
    """(label, body, send kwargs): each must be refused with 401."""
    command = bot.signer.slash_command("/runbook", "start RB-04 forged")
    now = int(time.time())
    return [
        ("bad signature", command, {"headers_override": {"X-Slack-Signature": "v0=" + "0" * 64}}),
        (
            "signed with another secret",
            command,
            {
                "headers_override": {"X-Slack-Signature": _other_secret_sig(command, now)},
                "timestamp": now,
            },
        ),
        ("no signature header", command, {"headers_override": {"X-Slack-Signature": None}}),
        ("no timestamp header", command, {"headers_override": {"X-Slack-Request-Timestamp": None}}),
        (
            "no headers at all",
            command,
            {"headers_override": {"X-Slack-Signature": None, "X-Slack-Request-Timestamp": None}},
        ),
        # Correctly signed, but the timestamp is more than 5 minutes off (replay).
        ("timestamp 6 min old", command, {"timestamp": now - 6 * 60}),
        ("timestamp 6 min ahead", command, {"timestamp": now + 6 * 60}),
        (
            "body altered after signing",
            command.replace(b"forged", b"FORGED"),
            {
                "headers_override": {"X-Slack-Signature": bot.signer.signature(command, now)},
                "timestamp": now,
            },
        ),
    ]


def _other_secret_sig(body: bytes, ts: int) -> str:
    from tests.rig.signing import SlackSigner

    return SlackSigner("not-the-secret").signature(body, ts)


async def test_unverified_requests_get_401_and_change_nothing(
    bot: BotServer, slack: SlackStandIn
) -> None:
    before = await row_counts(bot)
    for label, body, kwargs in forged_requests(bot):
        response = await bot.send(body, "forged", **kwargs)
        assert response.status == 401, f"{label}: {response.status} {response.body}"
    # A forged click on a (made-up) step and a forged command on /incident, too.
    click = bot.signer.block_action("step_approve", "1:0", message_ts="1.000001")
    response = await bot.send(click, "forged", headers_override={"X-Slack-Signature": "v0=00"})
    assert response.status == 401
    incident = bot.signer.slash_command("/incident", "declare forged")
    response = await bot.send(incident, "forged", timestamp=int(time.time()) - 301)
    assert response.status == 401
    await asyncio.sleep(0.3)
    assert requested(slack.calls) == [] and requested(slack.rejected) == []
    assert await row_counts(bot) == before
    # The same command, properly signed, is accepted: the 401s were the verification.
    ok = await bot.send(bot.signer.slash_command("/runbook", "start RB-04 real"), "/runbook")
    assert ok.status == 200
    await slack.wait_for("chat.postMessage", count=2)


async def test_timestamp_within_five_minutes_is_accepted(bot: BotServer) -> None:
    body = bot.signer.slash_command("/runbook", "help")
    response = await bot.send(body, "/runbook", timestamp=int(time.time()) - 4 * 60)
    assert response.status == 200 and "/runbook start" in response.text


@pytest.mark.parametrize("verb", ["start RB-04 retried", "declare retried"])
async def test_retried_slash_command_has_no_second_effect(
    bot: BotServer, slack: SlackStandIn, verb: str
) -> None:
    command = "/runbook" if verb.startswith("start") else "/incident"
    body = bot.signer.slash_command(command, verb, trigger_id="111.222.retried")
    first = await bot.send(body, command)
    assert first.status == 200
    # Slack's retries carry the same body (same trigger_id) and X-Slack-Retry-Num.
    retries = await asyncio.gather(
        *(bot.send(body, command, retry_num=n, retry_reason="http_timeout") for n in (1, 2))
    )
    assert all(r.status == 200 for r in retries)
    await bot.settle()
    async with bot.ctx.sessions() as session:
        assert (await session.execute(select(func.count(Incident.id)))).scalar() == 1
        assert (await session.execute(select(func.count(Run.id)))).scalar() == (
            1 if command == "/runbook" else 0
        )
        opened = (
            await session.execute(
                select(func.count()).where(TimelineEvent.kind == "incident_opened")
            )
        ).scalar()
        assert opened == 1
    posted = [c for c in slack.calls_to("chat.postMessage") if not is_step(c)]
    assert len(posted) == 1, slack.summary()


async def test_replayed_click_and_retry_decide_once(bot: BotServer, slack: SlackStandIn) -> None:
    step1 = await start(bot, slack)
    message = slack.message(step1.args["channel"], step1.ts)
    from tests.rig.botserver import button_value

    body = bot.signer.block_action(
        "step_approve",
        button_value(message["blocks"], "step_approve"),
        message_ts=step1.ts,
        channel_id=step1.args["channel"],
        user_id="UALICE",
        message=message,
    )
    first = await bot.send(body, "click")
    assert first.status == 200
    # The identical request again: Slack's retry header, then a plain replay.
    retry = await bot.send(body, "click", retry_num=1)
    replay = await bot.send(body, "click")
    assert retry.status == replay.status == 200
    await slack.wait_for("chat.postEphemeral", count=2)
    await bot.settle()
    async with bot.ctx.sessions() as session:
        assert (await session.execute(select(func.count(StepDecision.id)))).scalar() == 1
        approvals = (
            await session.execute(select(func.count()).where(TimelineEvent.kind == "step_approved"))
        ).scalar()
        assert approvals == 1
    assert len([c for c in slack.calls_to("chat.postMessage") if is_step(c)]) == 2
    assert len([c for c in slack.calls_to("chat.update") if c.args["ts"] == step1.ts]) == 1
    for e in slack.calls_to("chat.postEphemeral"):
        assert "already approved" in e.args["text"] and "<@UALICE>" in e.args["text"]
