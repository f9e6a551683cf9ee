"""Timeline export: ``runbook-bot timeline INC-<n> --format json|markdown`` as a
real subprocess against the test database, the pure renderers, and the
ephemeral ``/incident timeline``."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import select

from bot.incidents.timeline_render import EventRow, IncidentRow, render_json, render_markdown
from bot.store.models import Incident, TimelineEvent
from bot.store.people import names_of
from tests.rig import Call, SlackStandIn
from tests.rig.botserver import BotServer

CLI = Path(sys.executable).with_name("runbook-bot")


def is_step(call: Call) -> bool:
    return any(
        b.get("type") == "actions" and str(b.get("block_id", "")).startswith("step:")
        for b in call.args.get("blocks", [])
    )


async def run_cli(database_url: str, cwd: Path, *args: str) -> tuple[int, str, str]:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(cwd), "DATABASE_URL": database_url}
    proc = await asyncio.create_subprocess_exec(
        str(CLI),
        *args,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def declare(bot: BotServer, slack: SlackStandIn, title: str, **kw: str) -> None:
    response = await bot.command("/incident", f"declare {title}", **kw)
    assert response.status == 200 and response.text == ""
    await slack.wait_for("chat.postMessage", lambda c: "declared" in c.args["text"])


async def incident_with_history(bot: BotServer, slack: SlackStandIn) -> None:
    """INC-1: RB-04 started, step 1 approved, step 2 skipped, an update, a note."""
    await bot.command("/runbook", "start RB-04 Share link | leaked", user_id="UALICE")
    step1 = (await slack.wait_for("chat.postMessage", is_step))[0]
    await bot.click(step1, "step_approve", user_id="UBOB")
    step2 = (await slack.wait_for("chat.postMessage", is_step, count=2))[1]
    await bot.skip(step2, user_id="UCAROL")
    await slack.wait_for("chat.postMessage", is_step, count=3)
    await bot.command("/incident", "update Link revoked;\ncustomer told", user_id="UALICE")
    await bot.command("/incident", "note Root cause: <public> bucket | ACL", user_id="UBOB")
    await bot.settle()


async def test_cli_json_and_markdown(
    bot: BotServer, slack: SlackStandIn, clean_db: str, tmp_path: Path
) -> None:
    await incident_with_history(bot, slack)
    async with bot.ctx.sessions() as session:
        stored = list(
            (await session.execute(select(TimelineEvent).order_by(TimelineEvent.id))).scalars()
        )
        step_text = stored[2].text

    code, out, err = await run_cli(clean_db, tmp_path, "timeline", "INC-1", "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert isinstance(data, list)
    assert [e["kind"] for e in data] == [
        "incident_opened",
        "runbook_started",
        "step_approved",
        "incident_acknowledged",  # by the first decision (SPEC §7)
        "step_skipped",
        "status_update",
        "note",
    ]
    assert [e["actor"] for e in data] == [
        "UALICE",
        "UALICE",
        "UBOB",
        "UBOB",
        "UCAROL",
        "UALICE",
        "UBOB",
    ]
    # RB-04's severity SEV1 is the first level; the title is the summary.
    assert data[0]["data"] == {"priority": "critical", "title": "Share link | leaked"}
    assert data[3]["data"]["via"] == "step_decision"
    assert all({"at", "kind", "actor", "text"} <= set(e) for e in data)
    # IDs for machines, and each actor's handle as Slack sent it with their request.
    assert [e["actor_handle"] for e in data] == [
        "alice",
        "alice",
        "bob",
        "bob",
        "carol",
        "alice",
        "bob",
    ]
    times = []
    for event in data:
        at = datetime.fromisoformat(event["at"].replace("Z", "+00:00"))
        assert at.utcoffset() == timedelta(0)  # ISO 8601, UTC
        times.append(at)
    assert times == sorted(times)  # oldest first
    assert abs((times[0] - stored[0].at).total_seconds()) < 0.001
    assert data[5]["text"] == "Link revoked;\ncustomer told"  # JSON keeps the text as typed
    assert data[6]["text"] == "Root cause: <public> bucket | ACL"
    assert data[2]["text"] == step_text and "RB-04" in step_text

    code, md, err = await run_cli(clean_db, tmp_path, "timeline", "INC-1", "--format", "markdown")
    assert code == 0, err
    assert md.startswith("# INC-1: Share link \\| leaked\n")
    assert "## Timeline (UTC)" in md and "| Time | Event | Who | Details |" in md
    assert "- **State:** open" in md
    assert "- **Priority:** critical" in md
    assert "- **Acknowledged:** by @bob after " in md  # people by handle, as in a postmortem
    assert "1 approved, 1 skipped" in md and "**Status updates:** 1" in md
    rows = [line for line in md.splitlines() if line.startswith("| 20")]
    assert len(rows) == 7  # one table row per event, multi-line text kept on one row
    for row, event, at in zip(rows, data, times, strict=True):
        assert row.startswith(f"| {at.strftime('%Y-%m-%d %H:%M:%S')} |")  # UTC time
        assert f"| @{event['actor_handle']} |" in row
    assert "<@" not in md  # no raw Slack mentions in a file people read
    assert "Step approved" in rows[2] and step_text[:40] in rows[2]
    assert "Acknowledged" in rows[3] and "| @bob |" in rows[3]
    assert "Step skipped" in rows[4] and "| @carol |" in rows[4]
    assert "Status update" in rows[5] and "Link revoked; customer told" in rows[5]
    assert "Note" in rows[6] and "&lt;public&gt; bucket \\| ACL" in rows[6]
    assert all(row.count(" | ") == 3 for row in rows)  # pipes in text don't add columns

    # The default format is Markdown.
    code, default, _ = await run_cli(clean_db, tmp_path, "timeline", "inc-1")
    assert code == 0 and default == md

    # A role and a mention in typed text read as handles too; an ID nobody has
    # a handle for stays an ID.
    await bot.command("/incident", "role commander <@UCAROL>", user_id="UALICE")
    await bot.command("/incident", "note paged <@UBOB> and <@UNOBODY>", user_id="UALICE")
    await bot.settle()
    code, md, _ = await run_cli(clean_db, tmp_path, "timeline", "INC-1")
    assert code == 0 and "- **Roles:** commander @carol" in md
    assert "| @alice | @carol is the commander |" in md
    assert "| @alice | paged @bob and @UNOBODY |" in md and "<@" not in md

    # After resolve the export says so, with the duration.
    await bot.command("/incident", "resolve")
    await bot.settle()
    code, md, _ = await run_cli(clean_db, tmp_path, "timeline", "INC-1")
    assert code == 0 and "- **Resolved:**" in md and "UTC (after " in md
    assert "Incident resolved" in md.splitlines()[-1]


async def test_people_who_only_type_commands_show_by_handle(
    bot: BotServer, slack: SlackStandIn, clean_db: str, tmp_path: Path
) -> None:
    """A commander who never clicks a button still appears as @name: a slash
    command's sender is recorded too (after the ack, in the background)."""
    await declare(bot, slack, "Search slow", user_id="UDANA")
    await bot.command("/incident", "role commander <@UERIN>", user_id="UDANA")
    await bot.command("/incident", "update Erin is on it", user_id="UERIN")
    async with asyncio.timeout(15):
        while True:
            async with bot.ctx.sessions() as session:
                known = await names_of(session, ["UDANA", "UERIN"])
            if len(known) == 2:
                break
            await asyncio.sleep(0.1)
    assert known == {"UDANA": "dana", "UERIN": "erin"}
    code, md, err = await run_cli(clean_db, tmp_path, "timeline", "INC-1")
    assert code == 0, err
    assert "| Incident opened | @dana |" in md and "- **Roles:** commander @erin" in md
    assert "| Status update | @erin | Erin is on it |" in md


async def test_cli_unknown_incident(clean_db: str, tmp_path: Path) -> None:
    code, out, err = await run_cli(clean_db, tmp_path, "timeline", "INC-99", "--format", "json")
    assert code == 1 and out == ""
    assert err.strip().splitlines() == ["error: there is no INC-99"]
    code, out, err = await run_cli(clean_db, tmp_path, "timeline", "99")
    assert code != 0 and out == "" and len(err.strip().splitlines()) == 1
    assert "INC-<n>" in err


# --- pure renderers ----------------------------------------------------------------

OPENED = datetime(2025, 3, 4, 23, 50, 0, tzinfo=UTC)
CEST = timezone(timedelta(hours=2))


def rows() -> tuple[IncidentRow, list[EventRow]]:
    head = IncidentRow(
        "INC-7", "DB | failover", "C_INC", "resolved", OPENED, OPENED + timedelta(minutes=95)
    )
    events = [
        EventRow(OPENED, "incident_opened", "UALICE", "INC-7 opened"),
        # Stored aware in another zone: shown in UTC (01:55 CEST = 23:55 UTC).
        EventRow(
            datetime(2025, 3, 5, 1, 55, tzinfo=CEST),
            "step_approved",
            "UBOB",
            "RB-01 Steps step 1/5: Fail over to the replica",
        ),
        EventRow(OPENED + timedelta(minutes=30), "reminder_sent", None, "Reminder"),
        EventRow(OPENED + timedelta(minutes=31), "status_update", "UALICE", "Line 1\nline 2 ✓"),
        EventRow(OPENED + timedelta(minutes=95), "incident_resolved", "UBOB", "INC-7 resolved"),
    ]
    return head, events


def test_render_json() -> None:
    _, events = rows()
    data = json.loads(render_json(events, {"UBOB": "bob"}))
    assert [e["at"] for e in data] == [
        "2025-03-04T23:50:00Z",
        "2025-03-04T23:55:00Z",
        "2025-03-05T00:20:00Z",
        "2025-03-05T00:21:00Z",
        "2025-03-05T01:25:00Z",
    ]
    assert data[2]["actor"] is None and data[2]["kind"] == "reminder_sent"
    assert [e["actor_handle"] for e in data] == [None, "bob", None, None, "bob"]
    assert data[3]["text"] == "Line 1\nline 2 ✓"
    assert "✓" in render_json(events)  # readable, not \\u-escaped
    assert json.loads(render_json([])) == []


def test_render_markdown() -> None:
    head, events = rows()
    md = render_markdown(head, events, {"UBOB": "bob", "UALICE": "a|ice"})
    lines = md.splitlines()
    assert lines[0] == "# INC-7: DB \\| failover"
    assert "- **Opened:** 2025-03-04 23:50:00 UTC" in lines
    assert "- **Resolved:** 2025-03-05 01:25:00 UTC (after 1h 35m)" in lines
    table = [line for line in lines if line.startswith("| 2025")]
    assert table[1] == (
        "| 2025-03-04 23:55:00 | Step approved | @bob "
        "| RB-01 Steps step 1/5: Fail over to the replica |"
    )
    assert table[2] == "| 2025-03-05 00:20:00 | Reminder sent | bot | Reminder |"
    # A handle is escaped like any cell text.
    assert table[3] == "| 2025-03-05 00:21:00 | Status update | @a\\|ice | Line 1 line 2 ✓ |"
    assert "| Incident resolved | @bob |" in md
    # Without a known handle, the ID.
    assert "| Step approved | @UBOB |" in render_markdown(head, events)
    assert md.endswith("|\n")

    open_head = IncidentRow("INC-8", "t", "C", "open", OPENED, None)
    empty = render_markdown(open_head, [])
    assert "- **State:** open" in empty and "Resolved" not in empty
    assert empty.rstrip().endswith("|---|---|---|---|")


# --- /incident timeline ---------------------------------------------------------------
async def test_timeline_command_is_ephemeral(bot: BotServer, slack: SlackStandIn) -> None:
    await declare(bot, slack, "Cache stampede", user_id="UALICE")
    await bot.command("/incident", "update warming cache", user_id="UBOB")
    await bot.command("/incident", "note <script> in logs", user_id="UBOB")
    await bot.settle()
    posted = len(slack.calls_to("chat.postMessage"))
    response = await bot.command("/incident", "timeline")
    assert response.status == 200
    body = response.body
    assert isinstance(body, dict) and body.get("response_type", "ephemeral") == "ephemeral"
    rendered = str(body["blocks"])
    assert "Timeline of INC-1" in rendered
    # What happened in words, in order; never the stored kind names.
    for words in ("Incident declared", "Status update: warming cache", "Note:"):
        assert words in rendered
    assert not any(k in rendered for k in ("incident_opened", "status_update", "note`"))
    assert rendered.index("Incident declared") < rendered.index("Status update")
    assert rendered.index("Status update") < rendered.index("Note:")
    assert "<@UALICE>" in rendered and "<@UBOB>" in rendered
    # Times in each reader's own zone: one day heading, then times only.
    assert rendered.count("^{date_long_pretty}|") in (1, 2)  # 2 only across midnight UTC
    assert rendered.count("^{time_secs}|") == 3
    assert "{date_short}" not in rendered
    assert "&lt;script&gt;" in rendered and "<script>" not in rendered
    # A resolved incident's timeline can still be read by ID.
    await bot.command("/incident", "role commander <@U04DANA|dana>", user_id="UBOB")
    await bot.command("/incident", "resolve")
    await bot.settle()
    later = str((await bot.command("/incident", "timeline INC-1")).body["blocks"])
    assert "Commander assigned: <@U04DANA> · by <@UBOB>" in later
    assert "Acknowledged by <@UBOB>" in later and "Incident resolved by <@U1>" in later
    assert "role_assigned" not in later and "is the commander" not in later
    # The role's note in the thread and the resolve summary (the rest were ephemeral).
    assert len(slack.calls_to("chat.postMessage")) == posted + 2
    assert slack.calls_to("chat.postEphemeral") == []


async def test_long_timeline_fits_one_message(bot: BotServer, slack: SlackStandIn) -> None:
    await declare(bot, slack, "Noisy incident")
    async with bot.ctx.sessions() as session, session.begin():
        incident = await session.get(Incident, 1)
        assert incident is not None
        for i in range(400):
            session.add(
                TimelineEvent(
                    incident_id=1,
                    kind="note",
                    actor="UBOB",
                    at=incident.opened_at + timedelta(seconds=i + 1),
                    text=f"note {i} " + "words " * 60,
                    data={},
                )
            )
    response = await bot.command("/incident", "timeline")
    blocks = response.body["blocks"]
    assert len(blocks) <= 50
    assert all(len(b.get("text", {}).get("text", "")) <= 3000 for b in blocks)
    assert "note 399" in str(blocks)  # the newest events are the ones shown
    assert "runbook-bot timeline INC-1" in str(blocks)


def test_the_slack_timeline_is_grouped_by_day_in_words() -> None:
    from bot.incidents.blocks import EventView
    from bot.incidents.timeline_blocks import timeline_lines

    day1 = datetime(2026, 3, 4, 23, 50, tzinfo=UTC)
    events = [
        EventView(day1, "incident_opened", "UANA", "INC-2 opened: Checkout errors"),
        EventView(
            day1 + timedelta(minutes=5),
            "role_assigned",
            "UBOB",
            "<@U04DANA> is the commander",
            {"role": "commander", "user": "U04DANA", "previous": None},
        ),
        EventView(day1 + timedelta(minutes=20), "reminder_sent", None, "Status update reminder"),
        EventView(day1 + timedelta(minutes=21), "mystery_kind", None, "x"),
    ]
    lines = timeline_lines(events)
    headings = [line for line in lines if "{date_long_pretty}" in line]
    assert len(headings) == 2 and "Wednesday 04 March 2026" in headings[0]
    assert lines[0] == headings[0] and lines[3] == "" and lines[4] == headings[1]
    assert "Commander assigned: <@U04DANA> · by <@UBOB>" in lines[2]
    assert lines[2].startswith(
        f"<!date^{int((day1 + timedelta(minutes=5)).timestamp())}^{{time_secs}}|23:55:00 UTC>"
    )
    assert "Mystery kind: x" in lines[-1]
    assert not any("role_assigned" in line or "2026-03" in line for line in lines)


def test_plural_counts_read_as_english() -> None:
    from bot.timefmt import plural

    assert [plural(n, "reminder") for n in (0, 1, 2)] == [
        "0 reminders",
        "1 reminder",
        "2 reminders",
    ]
    assert (
        plural(1, "runbook run") == "1 runbook run" and plural(3, "runbook run") == "3 runbook runs"
    )
    assert plural(2, "person", "people") == "2 people"
