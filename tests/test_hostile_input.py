"""Hostile input: injection is shown literally, huge and odd text neither crashes
nor breaks Block Kit limits (the ``slack`` fixture asserts the stand-in saw no
invalid call), SQL metacharacters are inert, a broken runbook file is reported
while the valid ones load."""

from __future__ import annotations

import json
import logging
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text

from bot.store.models import Incident, TimelineEvent
from tests.conftest import BotFactory
from tests.rig import SlackStandIn
from tests.rig.botserver import BotServer
from tests.test_e2e_runbook import is_step

INJECTION = "<!channel> <!here> <@U0BOSS> <#C0SECRET> <http://evil.example|click me> *bold* & co"
# What an escaped injection looks like: no raw control sequence survives.
RAW_CONTROL = re.compile(r"<[!@#]|<http")


def rendered(calls: list[Any]) -> str:
    return "\n".join(json.dumps(c.args, ensure_ascii=False) for c in calls)


def assert_no_injection(blob: str) -> None:
    # JSON keeps "<" literal; the bot's own mentions are <@U1> (the clicker) etc.
    leaked = [
        m
        for m in re.findall(r"<[^>]{0,60}>?", blob)
        if RAW_CONTROL.match(m)
        and any(x in m for x in ("channel", "here", "U0BOSS", "C0SECRET", "evil"))
    ]
    assert leaked == [], leaked


async def test_injection_in_summary_update_and_note_is_shown_literally(
    bot: BotServer, slack: SlackStandIn
) -> None:
    response = await bot.command("/runbook", f"start RB-04 {INJECTION}")
    assert response.status == 200 and response.text == ""
    await slack.wait_for("chat.postMessage", is_step)
    update = await bot.command("/incident", f"update {INJECTION}")
    assert update.status == 200
    note = await bot.command("/incident", f"note INC-1 {INJECTION}")
    assert "Note added" in note.text
    await bot.settle()
    timeline = await bot.command("/incident", "timeline INC-1")
    posted = slack.calls_to("chat.postMessage") + slack.calls_to("chat.update")
    blob = rendered(posted)
    assert "&lt;!channel&gt;" in blob and "&lt;http://evil.example|click me&gt;" in blob
    assert "&amp; co" in blob
    assert_no_injection(blob)
    # The timeline (ephemeral reply) shows the note and the update escaped, too.
    shown = json.dumps(timeline.body, ensure_ascii=False)
    assert shown.count("&lt;!channel&gt;") >= 2
    assert_no_injection(shown)
    # Stored as typed: escaping is for display only.
    async with bot.ctx.sessions() as session:
        notes = (
            (await session.execute(select(TimelineEvent.text).where(TimelineEvent.kind == "note")))
            .scalars()
            .all()
        )
        assert notes == [INJECTION]


ODD = (
    "ctl:\x01\x02\x07\x08\x0b\x0c\x1b[31m\x7f tab\tcr\r "
    "rtl:\u202eevil\u202c zw:\u200b\u200d\ufeff combining:e\u0301\u0301\u0301 "
    "emoji:👩‍👩‍👧‍👦🏳️‍🌈 astral:𝔘𝔫𝔦𝔠𝔬𝔡𝔢 surrogate-ish:\ufffd cjk:障害対応 "
    "backticks:``` ~~~ > quote"
)


@pytest.mark.parametrize("field", ["summary", "update", "note", "declare"])
async def test_huge_and_odd_text_fits_block_kit(
    bot: BotServer, slack: SlackStandIn, field: str
) -> None:
    huge = (ODD + " ") * 10
    huge = (huge + "x" * 40_000)[:39_900]  # a slash command's text, near Slack's 40k cap
    if field == "declare":
        response = await bot.command("/incident", f"declare {huge}")
    else:
        started = await bot.command(
            "/runbook", "start RB-04 " + (huge if field == "summary" else "normal")
        )
        assert started.status == 200
        await slack.wait_for("chat.postMessage", is_step)
        if field == "summary":
            response = started
        else:
            response = await bot.command("/incident", f"{field} INC-1 {huge}")
    assert response.status == 200
    assert "temporarily unavailable" not in response.text
    await bot.settle()
    # Every call reached Slack valid (the fixture re-checks slack.invalid at teardown).
    assert slack.invalid == [] and slack.rejected == []
    for call in slack.calls_to("chat.postMessage"):
        assert len(call.args.get("blocks", [])) <= 50
        assert 0 < len(call.args["text"]) <= 40_000
    async with bot.ctx.sessions() as session:
        assert (await session.execute(select(func.count(Incident.id)))).scalar() == 1
    # The bot still answers afterwards.
    help_ = await bot.command("/incident", "timeline INC-1")
    assert help_.status == 200 and "Timeline" in json.dumps(help_.body)


async def test_nul_bytes_do_not_crash(bot: BotServer, slack: SlackStandIn) -> None:
    response = await bot.command("/runbook", "start RB-04 nul\x00byte\x00summary")
    assert response.status == 200
    assert "temporarily unavailable" not in response.text
    await slack.wait_for("chat.postMessage", is_step)
    note = await bot.command("/incident", "note INC-1 a\x00b")
    assert note.status == 200 and "Note added" in note.text


SQL = "x'); DROP TABLE incidents; -- \" ; DELETE FROM timeline_events; \\' %s %(x)s $1 ::text"


async def test_sql_metacharacters_are_inert(bot: BotServer, slack: SlackStandIn) -> None:
    response = await bot.command("/runbook", f"start RB-04 {SQL}")
    assert response.status == 200 and response.text == ""
    await slack.wait_for("chat.postMessage", is_step)
    await bot.command("/incident", f"note INC-1 {SQL}")
    await bot.command("/incident", f"update INC-1 {SQL}")
    odd_key = await bot.command("/incident", "note INC-1' OR 1=1 -- hi")
    assert odd_key.status == 200
    await bot.settle()
    async with bot.ctx.sessions() as session:
        incident = (await session.execute(select(Incident))).scalar_one()
        assert incident.title == SQL
        texts = (
            (
                await session.execute(
                    select(TimelineEvent.text).where(
                        TimelineEvent.kind.in_(("note", "status_update"))
                    )
                )
            )
            .scalars()
            .all()
        )
        assert SQL in texts and texts.count(SQL) == 2
        tables = (
            await session.execute(
                text(
                    "SELECT count(*) FROM information_schema.tables WHERE table_name IN "
                    "('incidents', 'timeline_events', 'runs')"
                )
            )
        ).scalar()
        assert tables == 3
        assert (await session.execute(select(func.count(TimelineEvent.id)))).scalar() >= 4


async def test_broken_runbook_file_is_reported_and_others_load(
    make_bot: BotFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    good = Path(__file__).parent / "fixtures" / "runbooks" / "good" / "rb-01-restart.md"
    shutil.copy(good, tmp_path / "rb-01-restart.md")
    (tmp_path / "second.md").write_text(
        "# Second\n\n## Steps\n\n1. Check <!channel> the thing\n2. Fix it\n", encoding="utf-8"
    )
    broken = tmp_path / "broken.md"
    broken.write_text(
        "---\nid: [unclosed\ntitle: {{\n---\n# Broken\n\n## Steps\n\n1. x\n", encoding="utf-8"
    )
    nosteps = tmp_path / "sub" / "nosteps.md"
    nosteps.parent.mkdir()
    nosteps.write_text("# Notes\n\n## Background\n\n- just\n- bullets\n", encoding="utf-8")
    (tmp_path / "binary.md").write_bytes(b"\xff\xfe\x00garbage\x00\x81")
    with caplog.at_level(logging.WARNING, logger="runbook_bot"):
        bot = await make_bot(runbooks_dir=tmp_path)
    ids = {rb.id for rb in bot.ctx.library.runbooks.values()}
    assert "second" in ids and len(ids) == 2, ids
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert re.search(rf"{re.escape(str(broken))}:\d+: ", logged), logged
    assert re.search(rf"{re.escape(str(nosteps))}:\d+: ", logged), logged
    health = await bot.http.get(bot.url + "/healthz")
    assert health.status == 200
    listing = await bot.command("/runbook", "list")
    assert "second" in listing.text.lower() or "Second" in json.dumps(listing.body)
