"""App Home end to end (SPEC §8): `app_home_opened` → `views.publish` (validated
against Block Kit by the stand-in), its contents, the Declare incident modal
declaring exactly as `/incident declare`, and the debounced refresh."""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid

from sqlalchemy import select

from bot.app import build_context, start_background, stop_background
from bot.settings import load_settings
from bot.store.models import Incident, TimelineEvent
from tests.rig import SlackStandIn
from tests.rig.botserver import SIGNING_SECRET, BotServer
from tests.test_drills import drill, walk
from tests.test_e2e_runbook import is_step


async def open_home(bot: BotServer, user: str = "UALICE") -> float:
    body = bot.signer.event(
        {"type": "app_home_opened", "user": user, "channel": "D1", "tab": "home"},
        event_id=f"Ev{uuid.uuid4().hex[:10]}",
    )
    sent = time.monotonic()
    response = await bot.send(body, "event")
    assert response.status == 200
    return sent


async def incidents(bot: BotServer) -> list[Incident]:
    async with bot.ctx.sessions() as session:
        return list((await session.execute(select(Incident).order_by(Incident.id))).scalars())


def home_text(slack: SlackStandIn, user: str = "UALICE") -> str:
    return str(slack.home_views[user]["blocks"])


def publishes(slack: SlackStandIn, user: str) -> list[float]:
    return [c.at for c in slack.calls_to("views.publish") if c.args.get("user_id") == user]


async def wait_home(slack: SlackStandIn, user: str, predicate, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if user in slack.home_views and predicate(home_text(slack, user)):
            return home_text(slack, user)
        await asyncio.sleep(0.05)
    raise AssertionError(f"home view never matched: {slack.home_views.get(user)}")


async def test_home_shows_incidents_runs_and_drills_due(
    bot: BotServer, slack: SlackStandIn
) -> None:
    response = await bot.command("/runbook", "start RB-04 Share link for Acme leaked")
    assert response.status == 200
    first = await slack.wait_for("chat.postMessage", is_step)
    await bot.click(first[0], "step_approve", user_id="UBOB")
    await slack.wait_for("chat.postMessage", is_step, count=2)
    await drill(bot, slack, "RB-11 staging")
    await walk(bot, slack, skip=(1,))
    role = await bot.command("/incident", "role INC-1 commander <@UCAROL>", user_id="UALICE")
    assert role.status == 200
    await bot.settle()

    sent = await open_home(bot)
    view = await wait_home(slack, "UALICE", lambda t: "INC-1" in t)
    publish = publishes(slack, "UALICE")[0]
    n = bot.ctx.library.get("RB-04").step_count
    # Open incidents: both (the drill is still open), with the run's progress,
    # a link to each thread and a DRILL mark on the drill.
    assert "Open incidents (2)" in view
    assert "Share link for Acme leaked" in view and f"RB-04 step 2 of {n}" in view
    assert "https://example.slack.com/archives/C_INC/p" in view
    assert "🧪 DRILL" in view and "no status update yet" in view
    assert "commander <@UCAROL>" in view and "no commander" in view  # INC-1, the drill
    levels = {i.id: i.priority for i in await incidents(bot)}
    assert "*<https://example.slack.com/archives/C_INC/p" in view and f"`{levels[1]}`" in view
    assert "home_declare" in view  # the Declare incident button
    # Drills: RB-11 just failed (a skipped step), so it is overdue, in red; the
    # eleven never drilled are named plainly, not as overdue.
    assert "Drills — 1 overdue" in view and "🔴 *RB-11*" in view and view.count("🔴") == 1
    assert "drills failed, none passed yet" in view
    assert "Not drilled yet (11 runbooks): RB-01, RB-02" in view
    assert "never validated" not in view
    # Last runs: the drill's failure and the running RB-04.
    assert "❌ fail" in view and "▶️ running" in view
    assert len(slack.home_views["UALICE"]["blocks"]) <= 100
    print(f"\napp_home_opened → views.publish: {(publish - sent) * 1000:.1f} ms")
    # Permalinks are asked once per thread, then cached.
    links = len(slack.calls_to("chat.getPermalink"))
    await open_home(bot)
    await wait_for_count(slack, "UALICE", 2)
    # Insights are computed off the publish path, a moment after start-up: a view
    # sent before they exist leaves its viewer owed one more, which carries them.
    await wait_home(slack, "UALICE", lambda t: "Insights, last 90 days" in t, timeout=20)
    assert len(slack.calls_to("chat.getPermalink")) == links == 2
    # Insights (drills excluded): the RB-04 run, not the RB-11 drill.
    insights = home_text(slack).split("Insights, last 90 days")[1]
    assert "RB-04" in insights and "1 run," in insights and "RB-11" not in insights
    # One period for both sections, and no view ever said "no runs" beside a run.
    assert "Last runs, last 90 days" in home_text(slack)
    for call in slack.calls_to("views.publish"):
        shown = str(call.args["view"])
        assert not ("No incidents or runs" in shown and "▶️ running" in shown), shown


def test_a_fresh_install_shows_no_drill_as_overdue() -> None:
    from datetime import UTC, datetime

    from bot.drills.views import DueRunbook
    from bot.home.view import HomeData, home_view

    now = datetime(2026, 3, 4, 12, tzinfo=UTC)
    fresh = [DueRunbook(f"RB-{n:02d}", f"Runbook {n}", None, None) for n in range(1, 13)]
    view = str(home_view(HomeData(now=now, incidents=[], open_count=0, due=fresh))["blocks"])
    assert "🔴" not in view and "overdue" not in view
    assert "Not drilled yet (12 runbooks): RB-01, RB-02" in view and "RB-12" in view
    late = DueRunbook("RB-03", "Runbook 3", datetime(2025, 1, 1, tzinfo=UTC), "pass")
    view = str(
        home_view(HomeData(now=now, incidents=[], open_count=0, due=[late, *fresh[3:]]))["blocks"]
    )
    assert view.count("🔴") == 1 and "Drills — 1 overdue" in view and "overdue: last passed" in view


async def until(condition, timeout: float = 5.0) -> None:
    """A publisher counts a publish when Slack's answer is back, a moment after
    the stand-in has recorded the view: wait for the count, not just the view."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition never held"
        await asyncio.sleep(0.02)


async def wait_for_count(slack: SlackStandIn, user: str, count: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while len(publishes(slack, user)) < count:
        assert time.monotonic() < deadline, f"{user}: {len(publishes(slack, user))} publishes"
        await asyncio.sleep(0.02)


async def test_messages_tab_publishes_nothing(bot: BotServer, slack: SlackStandIn) -> None:
    body = bot.signer.event({"type": "app_home_opened", "user": "UALICE", "tab": "messages"})
    assert (await bot.send(body, "event")).status == 200
    await asyncio.sleep(0.3)
    assert slack.calls_to("views.publish") == []


async def test_declare_button_opens_modal_and_submission_declares(
    make_bot, slack: SlackStandIn
) -> None:
    slack.channel_names["C_INC"] = "incidents"
    bot = await make_bot()
    await until(lambda: bot.ctx.declare_channel.cached() == "C_INC")  # listed at start
    await open_home(bot)
    await wait_home(slack, "UALICE", lambda t: "Open incidents (0)" in t)
    click = bot.signer.view_block_action(
        "home_declare", slack.home_views["UALICE"], user_id="UALICE"
    )
    assert (await bot.send(click, "click")).status == 200
    [opened] = await slack.wait_for("views.open")
    modal = opened.args["view"]
    assert modal["type"] == "modal" and modal["callback_id"] == "home_declare_modal"
    [picker] = [b["element"] for b in modal["blocks"] if b["block_id"] == "priority"]
    assert [o["value"] for o in picker["options"]] == ["critical", "high", "medium", "low"]
    assert picker["initial_option"]["value"] == "medium"  # DEFAULT_PRIORITY

    empty = bot.signer.view_submission("home_declare_modal", {"title": {"title": "  "}})
    refused = await bot.send(empty, "view")
    assert refused.body["response_action"] == "errors" and "title" in refused.body["errors"]

    chosen = {"type": "static_select", "selected_option": {"value": "high"}}
    body = bot.signer.view_submission(
        "home_declare_modal",
        {"title": {"title": "Checkout <errors> spiking"}, "priority": {"priority": chosen}},
        user_id="UALICE",
    )
    assert (await bot.send(body, "view")).status == 200
    await bot.settle()
    await bot.command("/incident", "declare high Second one, by command", user_id="UALICE")
    await bot.settle()
    declared = [c for c in slack.calls_to("chat.postMessage") if "declared" in c.args["text"]]
    assert [c.args["channel"] for c in declared] == ["C_INC", "C_INC"]
    assert declared[0].args["text"] == "INC-1 (high) declared: Checkout &lt;errors&gt; spiking"
    assert declared[1].args["text"] == "INC-2 (high) declared: Second one, by command"
    # Same message shape and same events as the slash command's.
    assert [b["type"] for b in declared[0].args["blocks"]] == [
        b["type"] for b in declared[1].args["blocks"]
    ]
    async with bot.ctx.sessions() as session:
        incidents = (await session.execute(select(Incident).order_by(Incident.id))).scalars().all()
        kinds = [
            (e.incident_id, e.kind, e.actor)
            for e in (await session.execute(select(TimelineEvent).order_by(TimelineEvent.id)))
            .scalars()
            .all()
        ]
    assert [(i.channel_id, i.opened_by, i.title, i.priority) for i in incidents] == [
        ("C_INC", "UALICE", "Checkout <errors> spiking", "high"),
        ("C_INC", "UALICE", "Second one, by command", "high"),
    ]
    assert kinds == [(1, "incident_opened", "UALICE"), (2, "incident_opened", "UALICE")]
    # The declared incident is an ordinary one: /incident update in the channel finds it.
    update = await bot.command("/incident", "update INC-1 Rolled back the deploy")
    assert update.status == 200 and "Rolled back" not in update.text


async def test_home_refresh_is_debounced_and_coalesced(make_bot, slack: SlackStandIn) -> None:
    interval = 1.0
    bot = await make_bot(home_refresh_interval=interval)
    for user in ("UALICE", "UBOB"):
        await open_home(bot, user)
        await wait_for_count(slack, user, 1)
    # A busy minute compressed: 8 incidents declared back to back.
    burst = time.monotonic()
    for k in range(8):
        await bot.command("/incident", f"declare Incident number {k + 1}")
    burst_end = time.monotonic()
    for user in ("UALICE", "UBOB"):
        await wait_home(slack, user, lambda t: "Open incidents (8)" in t, timeout=10)
    await asyncio.sleep(interval * 1.5)  # nothing further is owed
    for user in ("UALICE", "UBOB"):
        times = publishes(slack, user)
        refreshes = [t for t in times if t >= burst]
        # One per interval at most, however many changes: the burst took
        # (burst_end - burst) s, so at most that many intervals plus the last one.
        assert 1 <= len(refreshes) <= int((burst_end - burst) / interval) + 2, times
        gaps = [b - a for a, b in itertools.pairwise(times)]
        # Arrival times at the stand-in: a loaded machine delays one publish's
        # HTTP call more than the next's (0.899 s was seen), not the debounce.
        assert all(g >= interval * 0.75 for g in gaps), gaps
    assert len(slack.calls_to("views.publish")) < 2 * 8


async def test_views_carry_insights_with_the_worker_in_its_own_process(
    make_bot, slack: SlackStandIn, clean_db: str
) -> None:
    """As `runbook-bot serve` under WORKER=process (bench/home_bench.py): the
    serving process publishes when the tab is opened, a worker — its own
    process, its own insights cache — when incidents change. Each computes its
    insights at start-up, and a view sent before they were ready is followed,
    an interval later, by one with them: no viewer is left without insights."""
    interval = 1.0
    settings = load_settings(
        slack_bot_token="xoxb-test-token",
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=slack.url,
        database_url=clean_db,
        home_refresh_interval=interval,
        log_level="WARNING",
    )
    worker = build_context(settings, worker_process=True)  # as `runbook-bot worker`
    await start_background(worker)
    try:
        serving = await make_bot(worker=False, home_refresh_interval=interval)
        await serving.command("/incident", "declare Checkout errors")
        await slack.wait_for("chat.postMessage", lambda c: "Checkout errors" in str(c.args))
        await serving.settle()
        await open_home(serving)
        opened = await wait_home(slack, "UALICE", lambda t: "Insights, last 90 days" in t)
        assert "Open incidents (1)" in opened
        # The tab was published by the serving process (counted once Slack answered).
        await until(lambda: serving.ctx.home.published >= 1)
        before = worker.home.published + serving.ctx.home.published
        # A change: whichever process claims the refresh first (the worker, or the
        # serving process paying an owed view) republishes, with its own insights.
        await serving.command("/incident", "declare Queue stuck")
        changed = await wait_home(
            slack, "UALICE", lambda t: "Open incidents (2)" in t and "Insights, last 90" in t
        )
        assert "Queue stuck" in changed
        await until(lambda: worker.home.published + serving.ctx.home.published > before)
        await asyncio.sleep(interval * 1.5)  # nothing further is owed
        assert "Insights, last 90 days" in home_text(slack)
        gaps = [b - a for a, b in itertools.pairwise(publishes(slack, "UALICE"))]
        assert all(g >= interval * 0.75 for g in gaps), gaps  # still one view per interval
    finally:
        await stop_background(worker)
