"""The postmortem draft from a real incident: a runbook run with an approved
and a skipped step and an RTO breach, status updates, a commander, two
follow-ups — printed by ``runbook-bot postmortem`` (a subprocess) and
summarised by ``/incident postmortem``."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from bot.incidents.postmortem import load_draft, read_draft
from bot.incidents.postmortem_render import render_markdown
from bot.store.direct import read_only
from bot.store.migrate import upgrade
from tests.rig import SlackStandIn
from tests.test_cli import run
from tests.test_e2e_deadlines import BotFactory, rto_breach, write_runbook
from tests.test_e2e_incident import is_step
from tests.test_stats import imported_modules

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


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
async def test_the_command_and_the_playground_load_the_same_draft(
    make_bot: BotFactory, slack: SlackStandIn, clean_db: str, tmp_path: Path, backend: str
) -> None:
    # `runbook-bot postmortem` reads straight over asyncpg / sqlite3 (no
    # SQLAlchemy: its import alone took longer than the queries); the playground's
    # page reads through its session. Each driver hands JSON and times back its
    # own way: the drafts must still be equal, on both databases.
    url = clean_db
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path}/bot.db"
        await upgrade(url)
    folder = tmp_path / "runbooks"
    write_runbook(folder, "RB-PM", "1h", steps=3)
    bot = await make_bot(database_url=url, runbooks_dir=folder)
    await bot.command("/runbook", "start RB-PM Checkout restore", user_id="UANA")
    await bot.command("/incident", "role commander <@UCMD>", user_id="UANA")
    for n, decision in enumerate(("step_approve", "step_skip", "step_approve"), start=1):
        step = (await slack.wait_for("chat.postMessage", is_step, count=n))[-1]
        await bot.decide(step, decision, user_id="UANA" if n != 2 else "UBOB")
    await bot.command("/incident", "followup Fix step 2 of RB-PM <@UANA> due 7d")
    await bot.command("/incident", "resolve", user_id="UCMD")
    await bot.settle()

    policy = bot.ctx.settings.priorities
    through_session = await load_draft(bot.ctx.sessions, 1, policy)
    async with read_only(url) as reader:
        direct = await read_draft(reader.fetch, reader.dialect, 1, policy)
        assert await read_draft(reader.fetch, reader.dialect, 9, policy) is None
    assert direct is not None and direct == through_session
    assert direct.head.roles == {"commander": "UCMD"} and direct.head.resolved_by == "UCMD"
    assert direct.head.resolved_at is not None and direct.head.resolved_at.tzinfo is not None
    assert [(r.runbook_id, r.state, r.rto_seconds) for r in direct.runs] == [
        ("RB-PM", "completed", 3600.0)
    ]
    assert [(f.step_index, f.skipped_in, f.of_runs) for f in direct.feedback] == [(1, 1, 1)]
    assert [(f.owner, f.due_at is not None) for f in direct.followups] == [("UANA", True)]
    assert {"UANA", "UBOB", "UCMD"} <= direct.handles.keys()

    env = {"DATABASE_URL": url, "PYTHONPROFILEIMPORTTIME": "1"}
    done = await asyncio.to_thread(run, ["postmortem", "INC-1"], tmp_path, **env)
    assert done.returncode == 0, done.stderr
    expected = render_markdown(direct, datetime.now(UTC))
    assert undated(done.stdout) == undated(expected) and "skipped in 1 of its last 1" in expected
    modules = imported_modules(done.stderr)
    assert "bot.incidents.postmortem" in modules and "json" in modules  # the lines were read
    assert not {m for m in modules if m.split(".")[0] in ("sqlalchemy", "aiosqlite")}


def undated(draft: str) -> list[str]:
    """The draft's lines but the one saying when it was written."""
    return [line for line in draft.splitlines() if not line.startswith("*Draft written")]
