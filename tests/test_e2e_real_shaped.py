"""End to end: an upstream-shaped alert runbook with no numbered steps runs as
written through the real app (signed requests, Slack stand-in, PostgreSQL)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.rig import Call, SlackStandIn
from tests.rig.botserver import BotServer
from tests.test_e2e_runbook import is_step, kinds

CORPUS = Path(__file__).parent / "fixtures" / "real_shaped"


def blocks_text(call: Call) -> str:
    return json.dumps(call.args.get("blocks", []), ensure_ascii=False)


async def test_prose_alert_runbook_runs_one_step_per_action_phase(
    make_bot, slack: SlackStandIn
) -> None:
    bot: BotServer = await make_bot(runbooks_dir=CORPUS)
    show = await bot.command("/runbook", "show kubepodcrashlooping")
    assert show.status == 200
    shown = json.dumps(show.body, ensure_ascii=False)
    assert "runs as one step" in shown and "(whole section)" in shown

    response = await bot.command("/runbook", "start KubePodCrashLooping pod api-7f restarting")
    assert response.status == 200
    first = (await slack.wait_for("chat.postMessage", is_step))[0]
    assert "Diagnosis · step 1 of 2" in blocks_text(first)
    assert "kubectl -n $NAMESPACE describe pod $POD" in blocks_text(first)  # the phase's text
    await bot.click(first, "step_approve", user_id="UBOB")
    second = (await slack.wait_for("chat.postMessage", is_step, count=2))[1]
    assert "Mitigation · step 2 of 2" in blocks_text(second)
    assert "debugging pods" in blocks_text(second)
    await bot.click(second, "step_approve", user_id="UBOB")
    await slack.wait_for("chat.postMessage", lambda c: "completed" in c.args["text"])
    await bot.settle()
    assert await kinds(bot) == [
        "incident_opened",
        "runbook_started",
        "step_approved",
        "incident_acknowledged",  # by the first decision (SPEC §7)
        "step_approved",
        "runbook_completed",
    ]
