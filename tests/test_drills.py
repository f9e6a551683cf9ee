"""Drills end to end (SPEC §8): `/runbook drill` through the real app, every
message about it marked DRILL, one validation recorded when its run ends
(pass, or fail with the reason), `/runbook list` / `history`, and the
`runbook-bot validations` console script over the same database."""

from __future__ import annotations

import asyncio
import json
import subprocess
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select, text

from bot.store.models import Incident, IntakeItem, Person, Run, TimelineEvent, Validation
from bot.store.people import record_name
from tests.conftest import requested
from tests.rig import Call, SlackStandIn
from tests.rig.botserver import BotServer
from tests.test_cli import run as run_cli
from tests.test_e2e_runbook import is_step


def drill_texts(slack: SlackStandIn) -> list[str]:
    """The text of every message the bot posted or updated (channel and ephemeral)."""
    return [
        str(c.args.get("text", ""))
        for c in slack.calls
        if c.method in ("chat.postMessage", "chat.update", "chat.postEphemeral")
    ]


def step_of(run_id: int, index: int):
    def match(call: Call) -> bool:
        return is_step(call) and any(
            b.get("block_id") == f"step:{run_id}:{index}" for b in call.args.get("blocks", [])
        )

    return match


async def walk(
    bot: BotServer,
    slack: SlackStandIn,
    *,
    skip: tuple[int, ...] = (),
    users: tuple[str, ...] = ("UALICE", "UBOB"),
    names: dict[str, str] | None = None,
    reasons: dict[int, str] | None = None,
) -> None:
    """Decide every step of the newest run: approve, or skip the positions in ``skip``
    (with the reason ``reasons`` gives the position, if any).

    ``names``: handles to click with (else the rig's, derived from the id)."""
    async with bot.ctx.sessions() as session:
        run = (await session.execute(select(Run).order_by(Run.id.desc()).limit(1))).scalar_one()
    n = len(run.snapshot["steps"])
    for k in range(1, n + 1):
        [current] = await slack.wait_for("chat.postMessage", step_of(run.id, k - 1))
        user = users[(k - 1) % len(users)]
        name = (names or {}).get(user)
        if k in skip:
            why = (reasons or {}).get(k, "")
            response = await bot.skip(current, user_id=user, user_name=name, reason=why)
        else:
            response = await bot.click(current, "step_approve", user_id=user, user_name=name)
        assert response.status == 200
    await slack.wait_for("chat.postMessage", lambda c: "completed" in c.args["text"])
    await bot.settle()


async def drill(bot: BotServer, slack: SlackStandIn, text: str = "RB-11") -> None:
    response = await bot.command("/runbook", f"drill {text}", user_id="UALICE")
    assert response.status == 200 and response.text == "", response.text
    await slack.wait_for("chat.postMessage", is_step)
    await bot.settle()


async def validations(bot: BotServer) -> list[Validation]:
    async with bot.ctx.sessions() as session:
        return list((await session.execute(select(Validation).order_by(Validation.id))).scalars())


async def test_drill_marks_every_message_and_records_a_pass(
    bot: BotServer, slack: SlackStandIn
) -> None:
    await drill(bot, slack, "RB-11 staging Q4 failover rehearsal")
    async with bot.ctx.sessions() as session:
        incident = (await session.execute(select(Incident))).scalar_one()
        opened = (
            await session.execute(
                select(TimelineEvent).where(TimelineEvent.kind == "incident_opened")
            )
        ).scalar_one()
    assert incident.drill and incident.drill_environment == "staging"
    assert incident.title == "Q4 failover rehearsal"
    assert opened.data["drill"] is True
    # Notes become the validation's notes; a status update is a drill message too.
    await bot.command("/incident", "note Scenario: Neon outage", user_id="UALICE")
    await bot.command("/incident", "update Primary promoted in staging", user_id="UALICE")
    await walk(bot, slack)
    await bot.command("/incident", "resolve", user_id="UALICE")
    await bot.settle()

    texts = drill_texts(slack)
    posted = [c for c in slack.calls if c.method in ("chat.postMessage", "chat.update")]
    # Run message, every step, every decided step, completion (thread + channel),
    # the status update and the resolve summary: all of them say DRILL.
    assert len(posted) >= 2 * bot.ctx.library.get("RB-11").step_count + 4
    assert all("DRILL" in t for t in (c.args["text"] for c in posted)), [
        c.args["text"] for c in posted if "DRILL" not in c.args["text"]
    ]
    assert any("resolved" in t for t in texts) and any("Status update" in t for t in texts)
    # The completion summary (the run message's last update may land after it).
    done = [c for c in posted if c.method == "chat.postMessage" and "completed" in c.args["text"]]
    assert (
        done
        and "Validation" in str(done[-1].args["blocks"])
        and "pass" in str(done[-1].args["blocks"])
    )

    [v] = await validations(bot)
    assert (v.runbook_id, v.environment, v.result, v.reason) == ("RB-11", "staging", "pass", None)
    assert v.validators == ["UALICE", "UBOB"]
    assert v.notes == ["Scenario: Neon outage"]
    assert v.incident_id == incident.id and v.duration_s >= 0


async def test_skipped_step_fails_the_drill_with_which(bot: BotServer, slack: SlackStandIn) -> None:
    await drill(bot, slack, "RB-11")
    await walk(bot, slack, skip=(2,))
    [v] = await validations(bot)
    assert v.result == "fail"
    assert v.reason is not None
    assert v.reason.startswith("skipped 1: Prerequisites 2 (Test data is prepared in staging")


async def test_aborted_drill_fails(bot: BotServer, slack: SlackStandIn) -> None:
    await drill(bot, slack, "RB-11 production")
    steps = await slack.wait_for("chat.postMessage", is_step)
    await bot.click(steps[0], "step_approve", user_id="UCAROL")
    await bot.settle()
    response = await bot.command("/runbook", "abort", user_id="UCAROL")
    assert response.status == 200 and response.text == ""
    await bot.settle()
    [v] = await validations(bot)
    n = bot.ctx.library.get("RB-11").step_count
    assert (v.result, v.environment, v.validators) == ("fail", "production", ["UCAROL"])
    assert v.reason == f"aborted after 1 of {n} steps"
    aborted = [c for c in slack.calls if "aborted" in str(c.args.get("text", ""))]
    assert aborted and all("DRILL" in c.args["text"] for c in aborted)


async def test_rto_missed_fails_the_drill(bot: BotServer, slack: SlackStandIn) -> None:
    await drill(bot, slack, "RB-11")
    # The run started 2 hours ago (RB-11's RTO is 60m): move its clock back.
    async with bot.ctx.engine.begin() as conn:
        await conn.execute(text("UPDATE runs SET started_at = started_at - interval '2 hours'"))
    await walk(bot, slack)
    [v] = await validations(bot)
    assert v.result == "fail"
    assert v.reason is not None and v.reason.startswith("RTO missed: took 2h 0")
    assert v.reason.endswith("RTO 1h") and v.duration_s >= timedelta(hours=2).total_seconds()


async def test_drill_on_a_real_incident_is_refused_and_stores_nothing(
    bot: BotServer, slack: SlackStandIn
) -> None:
    await bot.command("/incident", "declare Database down")
    await bot.settle()
    before = len(requested(slack.calls))
    response = await bot.command("/runbook", "drill RB-11 INC-1")
    assert "never attached to a real incident" in response.text
    bad = await bot.command("/runbook", "drill RB-11 stag<ing>")
    assert "not an environment name" in bad.text
    await asyncio.sleep(0.2)
    await bot.settle()
    assert len(requested(slack.calls)) == before
    async with bot.ctx.sessions() as session:
        assert (await session.execute(select(func.count(Run.id)))).scalar() == 0
        assert (await session.execute(select(func.count(Incident.id)))).scalar() == 1


async def test_reminders_fire_for_a_drill_and_say_drill(make_bot, slack: SlackStandIn) -> None:
    bot = await make_bot(status_update_interval=1)
    await drill(bot, slack, "RB-11")
    reminders = await slack.wait_for(
        "chat.postMessage", lambda c: "status update" in c.args["text"], timeout=10
    )
    assert "DRILL" in reminders[0].args["text"] and "INC-1" in reminders[0].args["text"]


async def test_list_marks_due_runbooks_and_history_shows_drills(
    bot: BotServer, slack: SlackStandIn
) -> None:
    listed = await bot.command("/runbook", "list")
    assert "drill due" in str(listed.body)
    await drill(bot, slack, "RB-11")
    await walk(bot, slack)
    listed = await bot.command("/runbook", "list")
    body = str(listed.body)
    assert "RB-11 Conduct quarterly DR drill (drill due)" not in body  # just passed
    assert "RB-04 " in body and "drill due" in body  # the others are still due
    history = await bot.command("/runbook", "history RB-11")
    shown = str(history.body)
    assert "drill (staging)" in shown and "✅ pass" in shown and "<@UALICE>" in shown


async def test_validations_cli_markdown_json_and_due(
    bot: BotServer, slack: SlackStandIn, tmp_path: Path
) -> None:
    await drill(bot, slack, "RB-11 staging")
    await bot.command("/incident", "note Scenario: Mux downtime; restored from PITR")
    await walk(bot, slack)
    await bot.command("/incident", "resolve")
    await drill(bot, slack, "RB-11 staging")
    await walk(bot, slack, skip=(3,))
    env = {"DATABASE_URL": bot.settings.database_url}

    md = run_cli(["validations", "RB-11", "--format", "markdown"], tmp_path, **env)
    assert md.returncode == 0, md.stderr
    print("\n" + md.stdout)
    lines = md.stdout.splitlines()
    assert lines[0] == "## Validation Log — RB-11 Conduct quarterly DR drill"
    assert "| Date | Validator | Environment | Result | Notes |" in lines
    rows = [line for line in lines if line.startswith("| 20")]
    assert len(rows) == 2
    assert (
        "❌ Fail" in rows[0] and "Fail: skipped 1: Prerequisites 3 (Stakeholders" in rows[0]
    )  # newest first
    assert "✅ Pass" in rows[1] and "Scenario: Mux downtime; restored from PITR" in rows[1]
    # Handles for people, with their ID (unambiguous), in the order they first decided.
    assert "| Staging | ✅ Pass |" in rows[1] and "| @alice (UALICE), @bob (UBOB) |" in rows[1]
    assert "| UALICE" not in md.stdout  # never the bare ID for someone the bot has seen

    js = run_cli(["validations", "--format", "json"], tmp_path, **env)
    assert js.returncode == 0, js.stderr
    data = json.loads(js.stdout)
    assert [d["result"] for d in data] == ["fail", "pass"]
    assert data[1]["incident"] == "INC-1" and data[0]["incident"] == "INC-2"
    assert set(data[1]) >= {
        "runbook", "date", "validators", "environment", "result", "reason",
        "duration_s", "notes", "incident",
    }  # fmt: skip
    assert data[1]["date"].endswith("Z") and data[1]["reason"] is None
    assert data[0]["reason"].startswith("skipped 1: Prerequisites 3")
    # JSON keeps Slack user IDs (SPEC §8); the names ride along.
    assert data[1]["validators"] == ["UALICE", "UBOB"]
    assert data[1]["validator_names"] == ["alice", "bob"]

    # RB-11 passed just now: not due; everything else never validated: due.
    one = run_cli(["validations", "RB-11", "--due"], tmp_path, **env)
    assert one.returncode == 0 and "No runbook is due" in one.stdout
    every = run_cli(["validations", "--due", "--format", "json"], tmp_path, **env)
    assert every.returncode == 1
    due = {d["runbook"] for d in json.loads(every.stdout)}
    assert "RB-11" not in due and "RB-04" in due
    # A shorter interval than the pass's age makes RB-11 due as well.
    short = run_cli(["validations", "RB-11", "--due"], tmp_path, VALIDATION_INTERVAL="1s", **env)
    await asyncio.sleep(0)
    assert short.returncode == 1 and "RB-11" in short.stdout and "last passed" in short.stdout
    unknown = run_cli(["validations", "RB-99"], tmp_path, **env)
    assert unknown.returncode == 2 and "RB-99" in unknown.stderr
    assert isinstance(md, subprocess.CompletedProcess)


async def people(bot: BotServer) -> dict[str, Person]:
    async with bot.ctx.sessions() as session:
        return {p.user_id: p for p in (await session.execute(select(Person))).scalars()}


async def newest_run(bot: BotServer) -> Run:
    async with bot.ctx.sessions() as session:
        return (await session.execute(select(Run).order_by(Run.id.desc()).limit(1))).scalar_one()


async def test_names_are_recorded_off_the_ack_path_once_per_pair(
    bot: BotServer, slack: SlackStandIn
) -> None:
    await drill(bot, slack, "RB-11")  # UALICE's /runbook drill carries her handle
    assert {u: p.name for u, p in (await people(bot)).items()} == {"UALICE": "alice"}
    run = await newest_run(bot)
    # With the intake worker stopped, a click is acked and waits in intake:
    # the ack path wrote the item and nothing else.
    await bot.ctx.intake_worker.stop()
    [first] = await slack.wait_for("chat.postMessage", step_of(run.id, 0))
    assert (await bot.click(first, "step_approve", user_id="UBOB")).status == 200
    async with bot.ctx.sessions() as session:
        [received_at] = (await session.execute(select(IntakeItem.received_at))).scalars()
    assert "UBOB" not in await people(bot)
    bot.ctx.intake_worker.start()
    await bot.settle()
    bob = (await people(bot))["UBOB"]
    assert (bob.name, bob.seen_at) == ("bob", received_at)  # when Slack sent it
    # Bob's next click: the worker has seen (UBOB, bob), so the row is not rewritten.
    [second] = await slack.wait_for("chat.postMessage", step_of(run.id, 1))
    assert (await bot.click(second, "step_approve", user_id="UBOB")).status == 200
    await bot.settle()
    assert (await people(bot))["UBOB"].seen_at == received_at
    async with bot.ctx.sessions() as session:
        assert (await session.execute(select(func.count()).select_from(Person))).scalar() == 2


async def test_validations_show_a_renamed_validator_by_the_new_name(
    bot: BotServer, slack: SlackStandIn, tmp_path: Path
) -> None:
    await drill(bot, slack, "RB-11")
    await walk(bot, slack)
    await bot.command("/incident", "resolve", user_id="UALICE")
    await drill(bot, slack, "RB-11")
    await walk(bot, slack, names={"UBOB": "robert"})  # Bob changed his handle meanwhile
    renamed = (await people(bot))["UBOB"]
    assert renamed.name == "robert"
    async with bot.ctx.sessions() as session, session.begin():
        # A request older than the rename, acted on late, does not bring "bob" back.
        earlier = renamed.seen_at - timedelta(seconds=5)
        await record_name(session, "UBOB", "bob", at=earlier, postgres=bot.ctx.postgres)
    assert (await people(bot))["UBOB"].name == "robert"

    md = run_cli(["validations", "RB-11"], tmp_path, DATABASE_URL=bot.settings.database_url)
    assert md.returncode == 0, md.stderr
    rows = [line for line in md.stdout.splitlines() if line.startswith("| 20")]
    assert len(rows) == 2 and all("| @alice (UALICE), @robert (UBOB) |" in r for r in rows), rows
    assert "@bob" not in md.stdout


async def test_a_validator_the_bot_never_saw_shows_as_the_id(
    bot: BotServer, slack: SlackStandIn, tmp_path: Path
) -> None:
    await drill(bot, slack, "RB-11")
    await walk(bot, slack)
    [v] = await validations(bot)
    async with bot.ctx.sessions() as session, session.begin():
        # A validation whose second validator never sent the bot a request
        # (say, recorded before names were kept), and a handle with a pipe in it.
        await record_name(session, "UPIPE", "a|b", at=v.at, postgres=bot.ctx.postgres)
        run = await session.get(Run, v.run_id)
        assert run is not None
        copy = Run(
            incident_id=v.incident_id,
            runbook_id=run.runbook_id,
            runbook_title=run.runbook_title,
            content_hash=run.content_hash,
            snapshot=run.snapshot,
            channel_id=run.channel_id,
            started_by="UALICE",
        )
        session.add(copy)
        await session.flush()
        session.add(
            Validation(
                runbook_id="RB-11",
                incident_id=v.incident_id,
                run_id=copy.id,
                at=v.at + timedelta(seconds=1),
                environment="staging",
                result="pass",
                reason=None,
                duration_s=1.0,
                validators=["UALICE", "UGHOST", "UPIPE"],
                notes=[],
            )
        )
    env = {"DATABASE_URL": bot.settings.database_url}
    md = run_cli(["validations", "RB-11"], tmp_path, **env)
    assert md.returncode == 0, md.stderr
    rows = [line for line in md.stdout.splitlines() if line.startswith("| 20")]
    assert "| @alice (UALICE), UGHOST, @a\\|b (UPIPE) |" in rows[0], rows
    assert "| @alice (UALICE), @bob (UBOB) |" in rows[1], rows
    js = json.loads(run_cli(["validations", "RB-11", "--format", "json"], tmp_path, **env).stdout)
    assert js[0]["validators"] == ["UALICE", "UGHOST", "UPIPE"]
    assert js[0]["validator_names"] == ["alice", "UGHOST", "a|b"]
