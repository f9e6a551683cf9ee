"""A drill rehearses the clocks too (SPEC §8): its response target, RTO warning
and RTO breach fire as for a real incident, and they — like its priority and
role messages — say DRILL, in the notification text and in the message. A real
incident beside it gets the same messages unmarked."""

from __future__ import annotations

from pathlib import Path

from bot.incidents.blocks import DRILL
from tests.rig import Call, SlackStandIn
from tests.test_e2e_deadlines import (
    LEVELS,
    TARGET,
    BotFactory,
    declare,
    missed,
    rto_breach,
    rto_warning,
    write_runbook,
)
from tests.test_e2e_runbook import is_step


def about(key: str):
    def match(call: Call) -> bool:
        return f"{key} " in call.args.get("text", "") or f"{key}:" in call.args.get("text", "")

    return match


def marked(call: Call) -> bool:
    """DRILL in the text (what notifications show) and in the first block."""
    blocks = call.args.get("blocks") or [{}]
    return call.args["text"].startswith(DRILL) and DRILL in str(blocks[0])


async def test_drill_clock_priority_and_role_messages_say_drill(
    make_bot: BotFactory, slack: SlackStandIn, tmp_path: Path
) -> None:
    folder = tmp_path / "runbooks"
    write_runbook(folder, "RB-T", "2s")  # warning at 80 %, breach at 2 s
    bot = await make_bot(runbooks_dir=folder, **LEVELS)
    response = await bot.command("/runbook", "drill RB-T staging Failover rehearsal")
    assert response.status == 200 and response.text == ""
    await slack.wait_for("chat.postMessage", is_step)
    await declare(bot, slack, "critical Real outage")  # INC-2, the control
    # Critical: a 1.5 s response target counted from the drill's opening.
    await bot.command("/incident", "priority INC-1 critical", user_id="UALICE")
    warning = (await slack.wait_for("chat.postMessage", rto_warning, timeout=5))[0]
    breach = (await slack.wait_for("chat.postMessage", rto_breach, timeout=5))[0]
    targets = await slack.wait_for("chat.postMessage", missed, count=2, timeout=TARGET + 5)
    # Only now: a commander acknowledges the incident (no target would be missed).
    await bot.command("/incident", "role INC-1 commander <@UCAROL>", user_id="UALICE")
    await bot.command("/incident", "role INC-2 commander <@UCAROL>", user_id="UALICE")
    await bot.settle()
    drill_target = [c for c in targets if "INC-1" in c.args["text"]]
    real_target = [c for c in targets if "INC-2" in c.args["text"]]
    priority = [
        c for c in slack.calls_to("chat.postMessage") if "priority changed" in c.args["text"]
    ]
    roles = [
        c for c in slack.calls_to("chat.postMessage") if "is now the commander" in c.args["text"]
    ]
    assert len(drill_target) == len(real_target) == 1 and len(priority) == 1 and len(roles) == 2
    assert "INC-1" in warning.args["text"] and "INC-1" in breach.args["text"]
    for call in (warning, breach, drill_target[0], priority[0]):
        assert marked(call), call.args
    [drill_role] = [c for c in roles if about("INC-1")(c)]
    [real_role] = [c for c in roles if about("INC-2")(c)]
    assert marked(drill_role), drill_role.args
    # The real incident's messages are not marked.
    for call in (real_target[0], real_role):
        assert DRILL not in call.args["text"] and DRILL not in str(call.args["blocks"])
