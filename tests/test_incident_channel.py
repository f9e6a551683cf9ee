"""An incident is handled from its own channel: a command naming ``INC-<n>``
from any other channel (or a direct message) is refused with the channel to
use, and changes nothing. Through the HTTP door, real PostgreSQL."""

from __future__ import annotations

import asyncio

from tests.rig import SlackStandIn
from tests.rig.botserver import BotServer
from tests.test_e2e_incident import declare, kinds, snapshot

ELSEWHERE = (("C_GEN", "general"), ("D_ALICE", "directmessage"))
COMMANDS = (
    "resolve INC-1",
    "update INC-1 All good now",
    "note INC-1 Looked at the graphs",
    "timeline INC-1",
    "ack INC-1",
    "priority INC-1 low",
    "role INC-1 commander <@U2>",
    "followup INC-1 Add an alert on disk usage",
    "postmortem INC-1",
    "postmortem INC-1 done https://wiki.example/pm-1",
)


async def test_commands_naming_an_incident_elsewhere_are_refused(
    bot: BotServer, slack: SlackStandIn
) -> None:
    await declare(bot, slack, "Disk full on db-2")
    await bot.settle()
    before = await snapshot(bot)
    posts = len([c for c in slack.calls if c.method == "chat.postMessage"])
    for channel_id, channel_name in ELSEWHERE:
        for text in COMMANDS:
            response = await bot.command(
                "/incident", text, user_id="UMALLORY", channel_id=channel_id,
                channel_name=channel_name,
            )  # fmt: skip
            assert response.status == 200
            assert "INC-1 belongs to another channel" in response.text, (text, response.text)
            assert "<#C_INC>" in response.text
    await asyncio.sleep(0.3)  # give a wrongly enqueued message time to show up
    await bot.settle()
    assert await snapshot(bot) == before
    assert len([c for c in slack.calls if c.method == "chat.postMessage"]) == posts

    # In its own channel the same commands work, with or without INC-1.
    note = await bot.command("/incident", "note INC-1 Looked at the graphs")
    assert "Note added" in note.text
    resolved = await bot.command("/incident", "resolve INC-1")
    assert resolved.status == 200 and resolved.text == ""
    await bot.settle()
    assert (await kinds(bot)).count("incident_resolved") == 1
