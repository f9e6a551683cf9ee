"""The postmortem draft from a real incident: a runbook run with an approved
and a skipped step and an RTO breach, status updates, a commander, two
follow-ups — printed by ``runbook-bot postmortem`` (a subprocess) and
summarised by ``/incident postmortem``."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from markdown_it import MarkdownIt

from tests.rig import SlackStandIn
from tests.test_cli import run
from tests.test_e2e_deadlines import BotFactory, rto_breach, write_runbook
from tests.test_e2e_incident import is_step

HEADINGS = [
    "Postmortem: INC-1 — Checkout restore",
    "Escalations",
    "Runbooks run",
    "RB-PM: Clocked RB-PM (completed)",
    "Status updates",
    "Timeline",
    "Follow-ups",
    "Runbook feedback",
    "Root cause",
    "What went well",
    "What went badly",
]


async def test_draft_from_a_real_incident(
    make_bot: BotFactory, slack: SlackStandIn, clean_db: str, tmp_path: Path
) -> None:
    folder = tmp_path / "runbooks"
    write_runbook(folder, "RB-PM", "1s", steps=3)
    bot = await make_bot(runbooks_dir=folder)
    await bot.command("/runbook", "start RB-PM Checkout restore", user_id="UANA")
    await slack.wait_for("chat.postMessage", rto_breach, timeout=10)
    await bot.command("/incident", "role commander <@UCMD>", user_id="UANA")
    for n, decision in enumerate(("step_approve", "step_skip", "step_approve"), start=1):
        step = (await slack.wait_for("chat.postMessage", is_step, count=n))[-1]
        await bot.decide(step, decision, user_id="UANA" if n != 2 else "UBOB")
    await bot.command("/incident", "update Payments are back for 90% of users")
    await bot.command("/incident", "update All traffic restored | watching")
    await bot.command("/incident", "followup Alert on *queue* depth <@UBOB> due 7d")
    await bot.command("/incident", "followup Fix step 2 of RB-PM <@UANA>")
    await bot.command("/incident", "resolve", user_id="UCMD")
    await bot.settle()

    done = await asyncio.to_thread(run, ["postmortem", "INC-1"], tmp_path, DATABASE_URL=clean_db)
    assert done.returncode == 0, done.stderr
    tokens = MarkdownIt().enable("table").parse(done.stdout)
    headings = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open"]
    assert headings == HEADINGS
    # The summary and timeline are tables; root cause and lessons are left empty.
    assert sum(1 for t in tokens if t.type == "table_open") == 2
    text = done.stdout
    assert "| **Roles** | commander @cmd |" in text  # by handle: UCMD typed /incident resolve
    assert "RTO 1s: missed" in text
    assert "step 2/3: Do thing 2. — **skipped** by @bob" in text  # handles, as clicked
    assert "| @cmd is the commander |" in text  # a mention as a handle
    assert "Payments are back for 90% of users" in text
    assert "All traffic restored \\| watching" in text  # a pipe stays literal
    assert "Alert on \\*queue\\* depth — @bob" in text and ", open" in text
    assert (
        "- RB-PM step 2 (Do thing 2.): skipped here by @bob; skipped in 1 of its last 1 runs"
        in text
    )
    assert "RTO breached" in text.split("## Escalations")[1].split("## Runbooks run")[0]
    assert text.rstrip().endswith("## What went badly")
    assert "## Actions run" not in text  # no action was run here

    as_json = await asyncio.to_thread(
        run, ["postmortem", "INC-1", "--format", "json"], tmp_path, DATABASE_URL=clean_db
    )
    body = json.loads(as_json.stdout)
    assert [s["decision"] for s in body["runs"][0]["steps"]] == [
        "step_approved",
        "step_skipped",
        "step_approved",
    ]
    assert body["feedback"][0]["skipped_in"] == 1 and len(body["followups"]) == 2

    reply = (await bot.command("/incident", "postmortem INC-1")).text
    assert reply.startswith("*Postmortem draft for INC-1*")
    assert "1 runbook run: 2 steps approved, 1 skipped" in reply
    assert "2 status updates" in reply and "2 follow-ups, 2 open" in reply
    assert "`runbook-bot postmortem INC-1 > INC-1-postmortem.md`" in reply

    missing = await asyncio.to_thread(run, ["postmortem", "INC-9"], tmp_path, DATABASE_URL=clean_db)
    assert missing.returncode == 1 and "no INC-9" in missing.stderr
    assert "There is no INC-9" in (await bot.command("/incident", "postmortem INC-9")).text
