"""The first minutes in the playground, in a real headless browser: every
command a responder types — good, mistyped, in the wrong channel — gets an
answer in the page; Skip asks why; ephemerals are the bot's and stay dismissed.
One playground process and browser for the module (``tests/playground_page.py``).
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import TimeoutError as PlaywrightTimeout
from playwright.async_api import expect

from tests import playground_page
from tests.playground_page import answer_to, command, step_in, switch_to
from tests.playground_support import Playground, start_run

# The module's fixtures: one playground and one browser, a fresh page per test.
browser, page = playground_page.browser, playground_page.page


@pytest.fixture(scope="module")
async def playground(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Playground]:
    # Reminders at their default pace: with a 4 s cadence and several incidents
    # open, reminder collapses kept chat.update's budget busy for over a minute
    # and the gate test's re-render waited behind them.
    async with playground_page.module_playground(tmp_path_factory, "1800") as pg:
        yield pg


async def test_skip_asks_why_and_the_timeline_keeps_the_reason(page: Any) -> None:
    run = await start_run(page, "/runbook start RB-04 Skip reasons")
    key = re.search(r"INC-\d+", await run.locator("xpath=ancestor::div[@data-key]").inner_text())
    assert key is not None
    thread = page.locator("#thread-messages")
    step1 = step_in(thread, "· step 1 of")
    skip = step1.locator("button.bk-button", has_text="Skip")
    # Cancel: nothing decided, the buttons stay.
    await skip.click()
    modal = page.get_by_role("dialog")
    await expect(modal).to_contain_text("Skip this step?")
    await expect(modal).to_contain_text("Why skip it? (optional)")
    await modal.get_by_role("button", name="Cancel").click()
    await expect(modal).to_have_count(0)
    await expect(skip).to_have_count(1)
    # With a reason.
    await skip.click()
    await modal.locator("textarea").fill("Link already revoked by hand")
    await page.shots("skip-modal")
    await modal.get_by_role("button", name="Skip step").click()
    await expect(modal).to_have_count(0)
    await expect(step1).to_contain_text("Skipped")
    await expect(step1).to_contain_text("“Link already revoked by hand”")
    # Without one: skipped all the same.
    step2 = step_in(thread, "· step 2 of")
    await step2.locator("button.bk-button", has_text="Skip").click()
    await modal.get_by_role("button", name="Skip step").click()
    await expect(modal).to_have_count(0)
    await expect(step2).to_contain_text("Skipped")

    await command(page, f"/incident timeline {key.group(0)}")
    timeline = page.locator("#messages .msg.ephemeral", has_text="Step skipped").last
    await expect(timeline).to_contain_text("because “Link already revoked by hand”")


async def test_ephemerals_are_the_bots_and_stay_dismissed(page: Any) -> None:
    # One answer kept, one dismissed: after a reload the kept one shows the page
    # has drawn its messages again (this test needs no other test's messages).
    await command(page, "/incident resolv")
    kept = page.locator("#messages .msg.ephemeral", has_text="Did you mean resolve?")
    await expect(kept).to_have_count(1)
    await command(page, "/runbook strat RB-04")
    told = page.locator("#messages .msg.ephemeral", has_text="Unknown subcommand").last
    await expect(told).to_contain_text("Did you mean start?")
    # Drawn as the bot's message to you, not as if you had sent it.
    await expect(told.locator(".msg-author")).to_have_text("runbook-bot")
    await expect(told.locator(".app-badge")).to_have_count(1)
    await expect(told).to_contain_text("Only visible to you")
    ephemeral_id = await told.get_attribute("data-ephemeral")
    await told.locator(".eph-dismiss").click()
    gone = page.locator(f"#messages [data-ephemeral='{ephemeral_id}']")
    await expect(gone).to_have_count(0)
    await page.reload()
    await page.wait_for_selector("body[data-ready='1']", timeout=10_000)
    await expect(page.locator("#messages .msg").first).to_be_visible()
    await expect(kept).to_have_count(1)
    await expect(gone).to_have_count(0)
    # The composer offers the verbs a responder needs first.
    composer = page.locator("#composer-input")
    await composer.press_sequentially("/incident ")
    for hint in ("/incident ack", "/incident role commander @", "/incident priority "):
        await expect(page.locator("#hints")).to_contain_text(hint)
    await composer.fill("")
    await composer.press_sequentially("/runbook ")
    for hint in ("/runbook drill RB-11 staging", "/runbook history RB-04"):
        await expect(page.locator("#hints")).to_contain_text(hint)


# What a responder may type in the first minutes, good and bad. {a} and {b}: the
# two incidents the test declares first (so `/incident ack` has two to choose from).
ANSWERED = [
    ("incidents", "/incident declare sev2 Checkout errors"),
    ("incidents", "/incident declare P3 Search slow"),
    ("incidents", "/incident ack"),
    ("incidents", "/incident ack {a}"),
    ("incidents", "/incident note {a} Rolled back the deploy"),
    ("incidents", "/incident note Rolled back"),
    ("incidents", "/incident priority {b} sev1"),
    ("incidents", "/incident priority {b} critcal"),
    ("incidents", "/incident declare urgent Checkout errors"),
    ("incidents", "/incident declare sev9 Checkout errors"),
    ("incidents", "/incident declare p7 Checkout errors"),
    ("incidents", "/incident role {a} commander @dana"),
    ("incidents", "/incident update {a} Payments recovering"),
    ("incidents", "/incident decalre Checkout"),
    ("incidents", "/incident resolv"),
    ("incidents", "/incident timeline {a}"),
    ("incidents", "/incident help"),
    ("incidents", "/runbook strat RB-04"),
    ("incidents", "/runbook start rb4"),
    ("incidents", "/runbook start RB-04 {a} urgent"),
    ("incidents", "/runbook start RB-99"),
    ("incidents", "/runbook show RB-04"),
    ("incidents", "/runbook list"),
    ("incidents", "/runbook history RB-04"),
    ("incidents", "/runbook abort INC-999"),
    ("incidents", "/runbook help"),
    ("incidents", "/runbok list"),
    ("incidents", "/deploy now"),
    ("general", "/runbook start RB-04"),
    ("general", "/incident declare Checkout errors"),
    ("incidents", "/incident resolve {b}"),
]

CHANNEL_IDS = {"incidents": "C01INCIDENTS", "general": "C02GENERAL"}


async def test_every_command_answers(page: Any, tmp_path: Path, capsys: Any) -> None:
    """Each command typed, good or bad, shows an answer in the page. Writes the
    report (command → first line of what appeared) to answers.txt and prints it;
    the page's screenshot goes to $SCREENSHOT_DIR (else tmp_path)."""
    keys: dict[str, str] = {}
    report: list[str] = []
    for channel, typed in ANSWERED:
        await page.locator(f"[data-nav='{CHANNEL_IDS[channel]}']").click()
        text = typed.format(a=keys.get("a", "INC-?"), b=keys.get("b", "INC-?"))
        try:
            answer = await answer_to(page, text)
        except PlaywrightTimeout:  # reported below, with every other command's answer
            answer = "NOTHING APPEARED"
        report.append(f"#{channel}  {text}  →  {answer}")
        found = re.search(r"(INC-\d+) \(\w+\) declared by", answer)
        if found is not None and typed.startswith("/incident declare"):
            keys["b" if "a" in keys else "a"] = found.group(1)
    folder = Path(os.environ.get("SCREENSHOT_DIR") or tmp_path)
    os.makedirs(folder, exist_ok=True)
    await page.screenshot(path=folder / "tena-answers.png", full_page=True)
    (tmp_path / "answers.txt").write_text("\n".join(report) + "\n")
    with capsys.disabled():
        print("\n" + "\n".join(report))
    silent = [line for line in report if "NOTHING APPEARED" in line]
    assert not silent, "\n".join(silent)
    answers = dict(zip([t for _, t in ANSWERED], report, strict=True))
    assert "(critical)" not in answers["/incident declare sev2 Checkout errors"]
    assert "(high) declared" in answers["/incident declare sev2 Checkout errors"]
    assert "(medium) declared" in answers["/incident declare P3 Search slow"]
    for typed in ("urgent", "sev9", "p7"):
        assert "is not a priority level" in answers[f"/incident declare {typed} Checkout errors"]
    assert "Several incidents are open here — say which" in answers["/incident ack"]
    assert "📝 Note added to" in answers["/incident note {a} Rolled back the deploy"]
    assert "Did you mean start?" in answers["/runbook strat RB-04"]
    assert "Did you mean RB-04" in answers["/runbook start rb4"]
    assert "Unknown command /runbok. Did you mean /runbook?" in answers["/runbok list"]
    assert "can only be started in an incident channel" in answers["/runbook start RB-04"]


async def test_commander_gate_refuses_others_until_the_role_is_given(page: Any) -> None:
    run = await start_run(page, "/runbook start RB-08")
    key = re.search(r"INC-\d+", await run.locator("xpath=ancestor::div[@data-key]").inner_text())
    assert key is not None
    thread = page.locator("#thread-messages")
    await thread.locator("button.bk-button", has_text="Approve").last.click()
    gated = step_in(thread, "Incident Commander approves the restore")
    await expect(gated).to_contain_text("🔒 Needs the commander (nobody holds that role yet")
    approve = gated.locator("button.bk-button", has_text="Approve")

    await approve.click()  # alice is not the commander
    refusal = thread.locator(".msg.ephemeral", has_text="This step needs the commander")
    await expect(refusal).to_contain_text("Only visible to you")
    await expect(refusal).to_contain_text("Nothing changed")
    await expect(approve).to_have_count(1)

    # "@dana" typed in the composer reaches the bot as Slack sends a mention.
    await command(page, f"/incident role {key.group(0)} commander @dana")
    # The step's re-render waits its turn for Slack's chat.update budget (50 a minute),
    # shared with every other test's incidents in this playground.
    await expect(gated).to_contain_text("🔒 Needs the commander — @dana", timeout=60_000)
    await switch_to(page, "U04DANA", "Dana")
    await approve.click()
    await expect(gated).to_contain_text("Approved")
    await expect(gated).to_contain_text("by @dana")
    await expect(approve).to_have_count(0)
