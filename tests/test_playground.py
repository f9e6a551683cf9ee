"""The playground in a real headless browser (SPEC §9): ``runbook-bot
playground`` started as a newcomer would, Debian's Chromium driven by
Playwright. The page's actions reach the real Bolt app signed as Slack signs
them; nothing here talks to the bot except through the page.

One playground process and one browser serve the whole module; each test gets
a fresh page and fails if the page logged a console error or asked any other
host for anything. On failure, screenshots of the page land in the test's
``tmp_path``. Set ``RUNBOOK_BOT_SCREENSHOT=docs/playground.png`` to refresh the
README's screenshot from the RB-04 test.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from bot.playground.workspace import Workspace
from tests import playground_page
from tests.playground_page import REPO, command, step_in, switch_to
from tests.playground_support import (
    clean_env,
    start_run,
)

# The module's fixtures: one playground and one browser, a fresh page per test.
browser, page, playground = (
    playground_page.browser,
    playground_page.page,
    playground_page.playground,
)


async def test_rb04_runs_to_completion_and_the_timeline_shows_it(page: Any) -> None:
    composer = page.locator("#composer-input")
    await composer.press_sequentially("/runb")
    await expect(page.locator("#hints")).to_contain_text("/runbook start RB-04")
    await page.locator("#hints li", has_text="/runbook start RB-04").click()
    await expect(composer).to_have_value("/runbook start RB-04")

    run_message = await start_run(page, "/runbook start RB-04")
    run = run_message.locator("xpath=ancestor::div[@data-key]")
    await expect(run).to_contain_text("RB-04")
    key = re.search(r"INC-\d+", await run.inner_text())
    assert key is not None
    thread = page.locator("#thread-messages")
    await expect(thread).to_contain_text("step 1 of 18")
    await page.shots("thread-open")
    approve = thread.locator("button.bk-button", has_text="Approve")
    for n in range(1, 19):
        await approve.last.click()
        await expect(thread.get_by_text("Approved by")).to_have_count(n)
        if n == 3 and os.environ.get("RUNBOOK_BOT_SCREENSHOT"):
            await expect(approve).to_have_count(1)  # step 4 posted, with its buttons
            await page.screenshot(path=REPO / os.environ["RUNBOOK_BOT_SCREENSHOT"])
    await expect(thread).to_contain_text("RB-04 completed")
    await expect(approve).to_have_count(0)
    await page.shots("completed")

    await command(page, f"/incident timeline {key.group(0)}")
    ephemeral = page.locator("#messages .msg.ephemeral").last
    await expect(ephemeral).to_contain_text("Only visible to you")
    await expect(ephemeral).to_contain_text("Runbook completed")
    assert (await ephemeral.inner_text()).count("Step approved") == 18
    # Times are shown in the viewer's zone, not the UTC fallback.
    times = await ephemeral.locator("time").all_inner_texts()
    assert times and not any("UTC" in t for t in times)


async def test_confirm_dialog_and_viewer_time_zone(page: Any) -> None:
    await start_run(page, "/runbook start RB-01")
    run = page.locator("#messages [data-key]", has_text="RB-01").last
    # alice (Europe/London) and bob (America/New_York) see the start time in their zones.
    started = run.locator("time").first
    alice_time = await started.inner_text()
    await page.select_option("#user-switch", "U02BOB")
    await expect(page.locator("#you-title")).to_contain_text("America/New_York")
    bob_time = await started.inner_text()
    assert alice_time != bob_time, (alice_time, bob_time)

    # A button with a confirm asks first; "Keep going" sends nothing.
    abort = run.locator("button.bk-button.danger", has_text="Abort run")
    await abort.click()
    dialog = page.get_by_role("alertdialog")
    await expect(dialog).to_contain_text("Abort this run?")
    await dialog.get_by_role("button", name="Keep going").click()
    await expect(dialog).to_have_count(0)
    await abort.click()
    await expect(page.locator("#thread-messages")).not_to_contain_text("aborted")
    await page.get_by_role("alertdialog").get_by_role("button", name="Abort").click()
    await expect(page.locator("#thread-messages")).to_contain_text("aborted")


async def test_reminder_post_update_modal_round_trip(page: Any) -> None:
    await command(page, "/incident declare Checkout errors")
    declared = page.locator("#messages [data-key]", has_text="declared").last
    key = re.search(r"INC-\d+", await declared.inner_text())
    assert key is not None
    # "INC-3 (medium) — time for a status update": the level follows the key (SPEC §7).
    reminder = page.locator(
        "#messages [data-key]", has_text=re.compile(rf"{key.group(0)}\b.* — time for a status")
    )
    post_update = reminder.last.locator("button.bk-button", has_text="Post update")
    await expect(post_update).to_be_visible(timeout=15_000)
    await post_update.click()
    modal = page.get_by_role("dialog")
    await expect(modal).to_contain_text("What is the status now?")
    await page.shots("modal")
    # Submitting it empty: the bot's error shows under the input, the modal stays.
    await modal.get_by_role("button", name="Post update").click()
    await expect(modal).to_contain_text("Write the update first.")
    await modal.locator("textarea").fill("Share links revoked; <watching> the & logs")
    await modal.get_by_role("button", name="Post update").click()
    await expect(modal).to_have_count(0)
    # Posted in the incident's thread and broadcast to the channel.
    update = page.locator("#messages [data-key]", has_text=f"Status update — {key.group(0)}")
    await expect(update).to_contain_text("Share links revoked; <watching> the & logs")


async def test_two_people_step_approved_by_two_users(page: Any) -> None:
    run = await start_run(page, "/runbook start RB-90 Key leaked in a log")
    # RB-90's RTO (30m): its deadline in the viewer's zone, not the UTC fallback.
    meta = run.locator("xpath=ancestor::div[@data-key]")
    await expect(meta).to_contain_text("RTO 30 min — deadline")
    assert not any("UTC" in t for t in await meta.locator("time").all_inner_texts())
    thread = page.locator("#thread-messages")
    step = step_in(thread, "Generate the new key")
    await expect(step).to_contain_text("🔒 Needs 2 different people")
    approve = step.locator("button.bk-button", has_text="Approve")

    await approve.click()  # alice: one of two
    await expect(step).to_contain_text("1 of 2 approvals — @alice")
    await expect(approve).to_have_count(1)  # still waiting: the buttons stay
    await approve.click()  # alice again: told privately, nothing changes
    told = thread.locator(".msg.ephemeral", has_text="someone else has to confirm it")
    await expect(told).to_contain_text("Only visible to you")
    await expect(step).to_contain_text("1 of 2 approvals")
    await page.shots("one-of-two")

    await switch_to(page, "U02BOB", "Bob")
    await expect(told).to_have_count(0)  # alice's ephemeral is hers alone
    await approve.click()
    await expect(step).to_contain_text("Approved")
    await expect(step).to_contain_text("@alice")
    await expect(step).to_contain_text("@bob")
    await expect(approve).to_have_count(0)
    await expect(step_in(thread, "Post a status update")).to_contain_text("step 2 of 2")


async def test_app_home_shows_incidents_and_declares_one(page: Any) -> None:
    await start_run(page, "/runbook drill RB-90 staging")
    drill_run = page.locator("#messages [data-key]", has_text="RB-90").last
    await expect(drill_run).to_contain_text("🧪 DRILL in staging")
    key = re.search(r"INC-\d+", await drill_run.inner_text())
    assert key is not None

    await page.locator("#home-link").click()
    home = page.locator("#home")
    # Published by the bot itself (views.publish) when the tab opened.
    await expect(home).to_contain_text("Open incidents")
    # "INC-3 · high · 🧪 DRILL — …": key, priority (RB-90 is SEV2), the drill mark.
    incident = home.locator(".bk-section", has_text=f"{key.group(0)} · high")
    await expect(incident).to_contain_text("opened")
    await expect(incident).to_contain_text("🧪 DRILL")
    await expect(incident).to_contain_text("RB-90 step 1 of 2")
    await page.shots("home")

    # The incident's link (chat.getPermalink) opens its thread here, not slack.com.
    await incident.get_by_role("link", name=key.group(0)).click()
    await expect(page.locator("#channel-view")).to_be_visible()
    await expect(page.locator("#thread-messages")).to_contain_text("Generate the new key")

    await page.locator("#home-link").click()
    await home.get_by_role("button", name="Declare incident").click()
    modal = page.get_by_role("dialog")
    await expect(modal).to_contain_text("Declare incident")
    await modal.get_by_role("button", name="Declare").click()  # no title: told so, stays
    await expect(modal).to_contain_text("Give the incident a title.")
    await modal.locator("input").fill("Checkout page blank")
    await modal.locator("select").select_option("high")
    await modal.get_by_role("button", name="Declare").click()
    await expect(modal).to_have_count(0)
    # The Home tab refreshes on its own (the playground's HOME_REFRESH_INTERVAL: 2 s)...
    declared = home.locator(".bk-section", has_text="Checkout page blank")
    await expect(declared).to_contain_text("high", timeout=10_000)
    await expect(declared).to_contain_text("no commander")
    # ...and the declaration is in #incidents.
    await page.locator("[data-nav='C01INCIDENTS']").click()
    await expect(page.locator("#messages")).to_contain_text("Checkout page blank")
    announced = page.locator("#messages [data-key]", has_text="Checkout page blank").last
    await expect(announced).to_contain_text("declared")
    await expect(announced).to_contain_text("(high)")


async def test_message_text_is_never_html(page: Any) -> None:
    hostile = '<img src=x onerror="window.__pwned=1"> <script>window.__pwned=2</script> *hi*'
    await command(page, hostile)
    mine = page.locator("#messages [data-key]", has_text="window.__pwned=2").last
    await expect(mine).to_contain_text('<img src=x onerror="window.__pwned=1">')
    assert await mine.locator("img, script").count() == 0
    assert await mine.locator("b").inner_text() == "hi"
    assert await page.evaluate("window.__pwned") is None


MRKDWN_CASES = [
    ("*bold* _it_ ~gone~ `x<y`", "<b>bold</b> <i>it</i> <s>gone</s> <code>x&lt;y</code>"),
    ("a&amp;b &lt;c&gt;", "a&amp;b &lt;c&gt;"),
    ("<@U02BOB> in <#C01INCIDENTS>", '>@bob</span> in <span class="mention">#incidents</span>'),
    ("<!subteam^S01SECURITY>", ">@security</span>"),
    ("<https://example.com/a?b=1&amp;c=2|the docs>", 'href="https://example.com/a?b=1&amp;c=2"'),
    ("<javascript:alert(1)|click>", "click"),
    ("```\n<b>raw</b>\n```", '<pre class="code">&lt;b&gt;raw&lt;/b&gt;\n</pre>'),
    ("&gt; quoted", "<blockquote>quoted</blockquote>"),
    ("• one\n• two", "<li>one</li><li>two</li>"),
    ("1. first\n2. second", '<li value="2">second</li>'),
    ('<@U1|"><img src=x>>', "@&quot;</span>img src=x&gt;"),
    # This workspace's permalinks (chat.getPermalink) open the thread in the page...
    (
        "<https://playground.slack.com/archives/C01INCIDENTS/p1700000000123456|INC-1>",
        'href="#C01INCIDENTS/1700000000.123456" data-permalink="C01INCIDENTS|1700000000.123456|"',
    ),
    # ...another workspace's stay links out.
    ("<https://other.slack.com/archives/C1/p1700000000123456|x>", 'target="_blank"'),
]


async def test_mrkdwn_renders_what_the_bot_sends_and_escapes_the_rest(page: Any) -> None:
    for source, expected in MRKDWN_CASES:
        html = await page.evaluate("(s) => RB.mrkdwn(s, RB.ctx())", source)
        assert expected in html, (source, html)
        assert "javascript:" not in html and "<img" not in html and "<script" not in html
    # {date_short_pretty} / {time} / {date_short} {time_secs} in the viewer's zone (alice: London).
    ts = 1700000000  # 2023-11-14 22:13:20 UTC = 22:13 in London, 17:13 in New York
    html = await page.evaluate(
        "(s) => RB.mrkdwn(s, RB.ctx())",
        f"<!date^{ts}^{{date_short_pretty}} at {{time}}|fallback> "
        f"<!date^{ts}^{{date_short}} {{time_secs}}|f>",
    )
    assert "Nov 14, 2023 at 10:13 PM" in html and "Nov 14, 2023 10:13:20 PM" in html, html
    await page.select_option("#user-switch", "U02BOB")
    html = await page.evaluate("(s) => RB.mrkdwn(s, RB.ctx())", f"<!date^{ts}^{{time}}|f>")
    assert "5:13 PM" in html, html


def test_mentions_typed_reach_the_bot_as_slack_sends_them() -> None:
    ws = Workspace()
    assert ws.encode_mentions("role commander @dana") == "role commander <@U04DANA|dana>"
    assert ws.encode_mentions("@security in #incidents.") == (
        "<!subteam^S01SECURITY|@security> in <#C01INCIDENTS|incidents>."
    )
    # Unknown names, e-mail addresses and mentions already encoded stay as they are.
    for text in ("@nobody", "mail bob@example.com", "<@U02BOB|bob>", "#nowhere"):
        assert ws.encode_mentions(text) == text


def test_make_run_without_slack_token_starts_the_playground(tmp_path: Path) -> None:
    env = clean_env(PORT=str(_free_port()))
    dotenv = REPO / ".env"
    if dotenv.is_file() and re.search(r"^SLACK_BOT_TOKEN=.", dotenv.read_text(), re.M):
        pytest.skip("this checkout's .env sets SLACK_BOT_TOKEN, so make run serves Slack")
    proc = subprocess.Popen(
        ["make", "-s", "-C", str(REPO), "run"], env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if "connect a real Slack" in line:
                break
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
    text = "".join(lines)
    assert f"open http://127.0.0.1:{env['PORT']}/" in text, text
    assert "SLACK_BOT_TOKEN" in lines[-1] and "SLACK_SIGNING_SECRET" in lines[-1]
    # What a newcomer reads first: the URL, not the temporary database's migrations.
    assert "alembic" not in text, text


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
