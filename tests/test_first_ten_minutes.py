"""The responder's first ten minutes, walked in one headless browser session of
``runbook-bot playground``: the ten places a new user stumbled, in the order
they met them, each checked on what the page shows and photographed as
``after-NN-….png`` in ``SCREENSHOT_DIR`` (else the test's tmp dir).

1. every command answers     2. SEV/P levels, refused words   3. a typo in the command
4. the commander hint        5. resolve over a run, abort     6. one live reminder
7. the timeline in words     8. App Home                      9. ephemerals, hints, Skip
10. the README's alert sample

Each point is a function of (page, walk) so the same walk can be pointed at an
older build by hand. The playground reminds only ``low`` incidents quickly
(every few seconds), so the others don't fill the channel while we walk.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import async_playwright, expect

from tests.playground_page import answer_to, command, step_in, switch_to
from tests.playground_support import LAUNCH_ARGS, chromium_path, open_page, run_playground
from tests.test_readme_alert import DEFAULT_URL, readme_alert

WAIT = 30_000  # ms: Slack's pace in the playground is about one post a second
LEVELS = "critical=15m,high=1h,medium=4h,low=24h/4s"
QUIET = "3600"  # seconds: other levels' reminders stay out of the walk


@dataclass
class Walk:
    url: str
    shots: Path
    prefix: str = "after"
    keys: dict[str, str] = field(default_factory=dict)
    saved: list[Path] = field(default_factory=list)

    async def shot(self, page: Any, name: str) -> None:
        path = self.shots / f"{self.prefix}-{name}.png"
        await page.screenshot(path=path)
        self.saved.append(path)


def incident_key(text: str) -> str:
    found = re.search(r"INC-\d+", text)
    assert found is not None, text
    return found.group(0)


async def to_channel(page: Any) -> None:
    await page.locator("[data-nav='C01INCIDENTS']").click()
    await expect(page.locator("#channel-view")).to_be_visible()


async def close_thread(page: Any) -> None:
    close = page.locator("#thread-close")
    if await close.is_visible():
        await close.click()
    await expect(page.locator("#thread")).to_be_hidden()


async def declare(page: Any, title: str) -> str:
    answer = await answer_to(page, f"/incident declare {title}")
    assert re.search(r"INC-\d+ \(\w+\) declared by", answer), answer
    return incident_key(answer)


async def p01_every_command_answers(page: Any, walk: Walk) -> None:
    walk.keys["a"] = await declare(page, "Payment API down")
    walk.keys["b"] = await declare(page, "Search slow")
    ack = await answer_to(page, "/incident ack")  # two open: which one?
    assert "Several incidents are open here — say which" in ack, ack
    strat = await answer_to(page, "/runbook strat RB-04")
    assert "Did you mean start?" in strat, strat
    rb4 = await answer_to(page, "/runbook start rb4")
    assert "Did you mean RB-04" in rb4, rb4
    note = await answer_to(page, f"/incident note {walk.keys['a']} Rolled back the deploy")
    assert f"📝 Note added to {walk.keys['a']}" in note, note
    # Each answer is the bot's, in the page, for this user only.
    told = page.locator("#messages .msg.ephemeral")
    for text in ("say which", "Did you mean start?", "Did you mean RB-04", "Note added"):
        await expect(told.filter(has_text=text).last).to_contain_text("Only visible to you")
    await walk.shot(page, "01-every-command-answers")


async def p02_levels(page: Any, walk: Walk) -> None:
    answer = await answer_to(page, "/incident declare sev1 Checkout errors")
    assert re.search(r"INC-\d+ \(critical\) declared by", answer), answer
    key = walk.keys["checkout"] = incident_key(answer)
    declared = page.locator("#messages [data-key]", has_text=f"{key} (critical) declared")
    await expect(declared).to_contain_text("Checkout errors")
    await expect(declared).not_to_contain_text("sev1")  # the level is not in the title
    refused = await answer_to(page, "/incident declare urgent Checkout errors")
    assert "is not a priority level" in refused, refused
    told = page.locator("#messages .msg.ephemeral", has_text="is not a priority level").last
    await expect(told).to_contain_text("critical (respond within 15 min)")
    await expect(told).to_contain_text("SEV1")
    await expect(told).to_contain_text("Nothing changed")
    everything = page.locator("#messages [data-key]", has_text="declared by")
    await expect(everything.filter(has_text="Checkout errors")).to_have_count(1)
    await walk.shot(page, "02-sev1-declared-urgent-refused")


async def p03_command_typo(page: Any, walk: Walk) -> None:
    answer = await answer_to(page, "/runbok list")
    assert "Unknown command /runbok. Did you mean /runbook?" in answer, answer
    await walk.shot(page, "03-unknown-command-did-you-mean")


async def p04_commander_hint(page: Any, walk: Walk) -> None:
    run = await start_run_message(page, "/runbook start RB-08")
    key = walk.keys["rb08"] = incident_key(await run.inner_text())
    thread = page.locator("#thread-messages")
    await thread.locator("button.bk-button", has_text="Approve").last.click()
    gated = step_in(thread, "Incident Commander approves the restore")
    hint = f"/incident role {key} commander @someone"
    await expect(gated).to_contain_text("🔒 Needs the commander (nobody holds that role yet")
    await expect(gated).to_contain_text(hint, timeout=WAIT)
    await gated.locator("button.bk-button", has_text="Approve").click()  # alice isn't
    refusal = thread.locator(".msg.ephemeral", has_text="This step needs the commander")
    await expect(refusal).to_contain_text(hint, timeout=WAIT)
    await expect(refusal).to_contain_text("Nothing changed")
    await walk.shot(page, "04-commander-hint-names-the-incident")
    # Following the hint as written (the timeline shows it later).
    await command(page, f"/incident role {key} commander @dana")
    await expect(gated).to_contain_text("🔒 Needs the commander — @dana", timeout=WAIT)


async def start_run_message(page: Any, typed: str) -> Any:
    """Start a run from the composer, open its thread; the run's channel message."""
    before = await page.locator("#messages .replies").count()
    await command(page, typed)
    replies = page.locator("#messages .replies").nth(before)
    await replies.wait_for(timeout=WAIT)
    await replies.click()
    approve = page.locator("#thread-messages button.bk-button", has_text="Approve")
    await expect(approve.first).to_be_visible(timeout=WAIT)
    return replies.locator("xpath=ancestor::div[@data-key]")


async def p05_resolve_over_a_run(page: Any, walk: Walk) -> None:
    key = walk.keys["rb08"]
    run = page.locator("#messages [data-key]", has_text=f"{key} · RB-08")
    thread = page.locator("#thread-messages")
    await run.get_by_role("button", name="Resolve").click()
    dialog = page.get_by_role("alertdialog")
    await expect(dialog).to_contain_text(f"Resolve {key}?")
    still = re.compile(r"RB-08 is still running \(step 2 of \d+\); resolving ends it\.")
    await expect(dialog).to_contain_text(still)
    await walk.shot(page, "05a-resolve-confirm-names-the-run")
    await dialog.get_by_role("button", name="Resolve").click()
    await expect(run).to_contain_text("Run ended: incident resolved", timeout=WAIT)
    await expect(run.locator(".bk-actions")).to_have_count(0, timeout=WAIT)
    await expect(thread).to_contain_text("Run ended: incident resolved", timeout=WAIT)
    await expect(thread.get_by_role("button", name="Approve")).to_have_count(0, timeout=WAIT)
    summary = page.locator("#messages [data-key]", has_text=f"{key} resolved")
    stopped = re.compile(r"RB-08 ended at step 2 of \d+ when the incident was resolved")
    await expect(summary).to_contain_text(stopped, timeout=WAIT)
    await walk.shot(page, "05b-resolved-run-ended-where-it-stopped")


async def p05_abort(page: Any, walk: Walk) -> None:
    thread = page.locator("#thread-messages")
    aborting = await start_run_message(page, "/runbook start RB-01")
    await aborting.locator("button.bk-button.danger", has_text="Abort run").click()
    await page.get_by_role("alertdialog").get_by_role("button", name="Abort").click()
    await expect(thread).to_contain_text("aborted", timeout=WAIT)
    await expect(thread.get_by_role("button", name="Approve")).to_have_count(0, timeout=WAIT)
    await expect(thread.get_by_role("button", name="Skip")).to_have_count(0)
    await walk.shot(page, "05c-abort-removes-the-step-buttons")


async def p06_one_live_reminder(page: Any, walk: Walk) -> None:
    await close_thread(page)
    key = walk.keys["low"] = await declare(page, "low Search is slow")
    reminders = page.locator(
        "#messages [data-key]", has_text=re.compile(rf"{key}\b.*(time for a status|reminder —)")
    )
    # ``low`` reminds every 4 s: once two have been superseded, one is live.
    superseded = reminders.filter(has_text="superseded by a newer reminder")
    await expect(superseded.nth(1)).to_be_visible(timeout=60_000)
    live = reminders.filter(has=page.locator("button", has_text="Post update"))
    await expect(live).to_have_count(1, timeout=WAIT)
    await walk.shot(page, "06-one-live-reminder")
    await command(page, f"/incident resolve {key}")
    await expect(reminders.filter(has_text=f"{key} was resolved")).to_have_count(1, timeout=WAIT)
    await expect(live).to_have_count(0, timeout=WAIT)


async def p07_timeline_in_words(page: Any, walk: Walk) -> None:
    key = walk.keys["rb08"]
    await command(page, f"/incident timeline {key}")
    timeline = page.locator("#messages .msg.ephemeral", has_text=f"Timeline of {key}").last
    await expect(timeline).to_contain_text("Only visible to you", timeout=WAIT)
    for words in (
        "Incident declared",
        "Runbook started",
        "Step approved",
        "Commander assigned: @dana · by @alice",
        "Incident resolved by @alice",
    ):
        await expect(timeline).to_contain_text(words)
    text = await timeline.inner_text()
    # People as mentions, kinds in words, a day heading (bold, the reader's own zone).
    assert "U04DANA" not in text and "U01ALICE" not in text, text
    assert "role_assigned" not in text and "incident_opened" not in text, text
    assert await timeline.locator("b time").count() >= 1
    await walk.shot(page, "07-timeline-in-words")


async def p08_app_home(page: Any, walk: Walk) -> None:
    await page.locator("#home-link").click()
    home = page.locator("#home")
    await expect(home).to_contain_text("Open incidents", timeout=WAIT)
    await expect(home).to_contain_text("Not drilled yet (")
    await expect(home).not_to_contain_text("🔴")
    await expect(home).not_to_contain_text("never validated")
    await expect(home).to_contain_text("Last runs, last 90 days")
    await expect(home).to_contain_text("Insights, last 90 days", timeout=WAIT)
    runs, insights = (
        (await home.inner_text())
        .split("Last runs, last 90 days")[1]
        .split("Insights, last 90 days")
    )
    for runbook in ("RB-08", "RB-01"):  # the same runs in both
        assert runbook in runs and runbook in insights, (runs, insights)
    assert "No incidents or runs" not in insights, insights
    await walk.shot(page, "08a-app-home")


async def p08_home_link_opens_the_thread(page: Any, walk: Walk) -> None:
    key = walk.keys["checkout"]
    home = page.locator("#home")
    await home.locator(".bk-section", has_text=key).get_by_role("link", name=key).click()
    await expect(page.locator("#thread")).to_be_visible()
    await expect(page.locator("#thread-messages")).to_contain_text("Checkout errors")
    await walk.shot(page, "08b-home-link-opens-the-thread")


async def p09_ephemeral_is_the_bots(page: Any, walk: Walk) -> None:
    await close_thread(page)
    await to_channel(page)
    answer = await answer_to(page, "/runbook shwo RB-04")
    assert "Did you mean show?" in answer, answer
    told = page.locator("#messages .msg.ephemeral", has_text="Did you mean show?").last
    await expect(told.locator(".msg-author")).to_have_text("runbook-bot")
    await expect(told.locator(".app-badge")).to_have_count(1)
    await expect(told).to_contain_text("Only visible to you")
    await walk.shot(page, "09a-ephemeral-is-the-bots")
    ephemeral_id = await told.get_attribute("data-ephemeral")
    await told.locator(".eph-dismiss").click()
    gone = page.locator(f"#messages [data-ephemeral='{ephemeral_id}']")
    await expect(gone).to_have_count(0)
    await page.reload()
    await page.wait_for_selector("body[data-ready='1']", timeout=WAIT)
    await expect(page.locator("#messages .msg").first).to_be_visible(timeout=WAIT)
    await expect(gone).to_have_count(0)


async def p09_composer_hints(page: Any, walk: Walk) -> None:
    composer = page.locator("#composer-input")
    await composer.press_sequentially("/incident ")
    for hint in ("/incident ack", "/incident role commander @", "/incident priority "):
        await expect(page.locator("#hints")).to_contain_text(hint)
    await walk.shot(page, "09b-composer-hints-incident")
    await composer.fill("")
    await composer.press_sequentially("/runbook ")
    for hint in ("/runbook drill RB-11 staging", "/runbook history RB-04"):
        await expect(page.locator("#hints")).to_contain_text(hint)
    await composer.fill("")


async def p09_skip_asks_why(page: Any, walk: Walk) -> None:
    await start_run_message(page, f"/runbook start RB-04 {walk.keys['a']}")
    step1 = step_in(page.locator("#thread-messages"), "· step 1 of")
    await step1.locator("button.bk-button", has_text="Skip").click()
    modal = page.get_by_role("dialog")
    await expect(modal).to_contain_text("Skip this step?")
    await expect(modal).to_contain_text("Why skip it? (optional)")
    await modal.locator("textarea").fill("Link already revoked by hand")
    await walk.shot(page, "09c-skip-asks-why")
    await modal.get_by_role("button", name="Skip step").click()
    await expect(modal).to_have_count(0)
    await expect(step1).to_contain_text("Skipped", timeout=WAIT)
    await expect(step1).to_contain_text("“Link already revoked by hand”")


async def p10_readme_alert(page: Any, walk: Walk, readme_curl: str) -> None:
    await close_thread(page)
    await to_channel(page)
    out = await post_as_the_readme_says(readme_curl.replace(DEFAULT_URL, walk.url))
    assert json.loads(out) == {"status": "ok", "alerts": 1}  # what the README says it answers
    message = page.locator("#messages [data-key]", has_text="NotificationDeliveryFailing")
    await expect(message).to_contain_text(
        "Runbook: RB-05 Investigate notification delivery failure", timeout=WAIT
    )
    await expect(message.locator("button", has_text="Start runbook")).to_be_visible()
    await walk.shot(page, "10-readme-alert-sample")


async def post_as_the_readme_says(curl: str) -> bytes:
    """The README's curl command as written; without curl, the same request."""
    if shutil.which("curl") is None:
        url = re.search(r"http://\S+", curl)
        token = re.search(r"Bearer ([^\"]+)", curl)
        payload = re.search(r"<<'JSON'\n(.*?)\nJSON\n", curl, re.S)
        assert url and token and payload, curl
        async with aiohttp.ClientSession() as http:
            headers = {"Authorization": f"Bearer {token.group(1)}"}
            async with http.post(
                url.group(0), json=json.loads(payload.group(1)), headers=headers
            ) as r:
                return await r.read()
    proc = await asyncio.create_subprocess_exec(
        "bash", "-c", curl, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err
    return out


WALK = (
    p01_every_command_answers,
    p02_levels,
    p03_command_typo,
    p04_commander_hint,
    p05_resolve_over_a_run,
    p05_abort,
    p06_one_live_reminder,
    p07_timeline_in_words,
    p08_app_home,
    p08_home_link_opens_the_thread,
    p09_ephemeral_is_the_bots,
    p09_composer_hints,
    p09_skip_asks_why,
)


@pytest.fixture
def shots_dir(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("SCREENSHOT_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


async def test_the_responders_first_ten_minutes(tmp_path: Path, shots_dir: Path) -> None:
    token, curl, _payload = readme_alert()
    async with (
        run_playground(
            tmp_path,
            ALERT_WEBHOOK_TOKEN=token,
            PRIORITY_LEVELS=LEVELS,
            STATUS_UPDATE_INTERVAL=QUIET,
        ) as pg,
        async_playwright() as p,
    ):
        browser = await p.chromium.launch(
            executable_path=chromium_path(), headless=True, args=LAUNCH_ARGS
        )
        try:
            page, watch = await open_page(browser, pg.url)
            await switch_to(page, "U01ALICE", "Alice")
            walk = Walk(pg.url, shots_dir)
            try:
                for point in WALK:
                    await point(page, walk)
                await p10_readme_alert(page, walk, curl)
            except BaseException:
                await page.screenshot(path=tmp_path / "zz-failure.png", full_page=True)
                raise
        finally:
            await browser.close()
    assert len(walk.saved) == 15 and all(p.stat().st_size > 0 for p in walk.saved)
    assert watch.errors == [], f"console errors: {watch.errors}"
    assert watch.foreign == [], f"requests to other hosts: {watch.foreign}"
