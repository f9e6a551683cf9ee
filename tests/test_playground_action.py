"""An executable step in the playground, out of the box: ``runbook-bot
playground`` started as a newcomer would (no RUNBOOKS_DIR), RB-00 started from
the page, **Run** clicked (and confirmed) in a real headless Chromium; the
health check's output arrives in the thread, the step is approved and the
next one follows. The screenshot lands in the test's ``tmp_path``; set
``RUNBOOK_BOT_ACTION_SCREENSHOT=docs/playground-action.png`` to refresh the
one docs/actions.md shows."""

from __future__ import annotations

import os
import re
from pathlib import Path

from playwright.async_api import async_playwright, expect

from tests.playground_support import (
    LAUNCH_ARGS,
    chromium_path,
    open_page,
    run_playground,
    start_run,
)

REPO = Path(__file__).resolve().parent.parent
RUN = re.compile(r"^\W*Run$")  # the Run button, not Abort run or Run again


async def test_run_the_demo_health_check_and_see_its_output_in_the_thread(
    tmp_path: Path,
) -> None:
    async with run_playground(tmp_path) as pg, async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=chromium_path(), headless=True, args=LAUNCH_ARGS
        )
        try:
            page, watch = await open_page(browser, pg.url)
            await page.locator("#composer-input").press_sequentially("/runbook start RB-0")
            await expect(page.locator("#hints")).to_contain_text("/runbook start RB-00")
            await start_run(page, "/runbook start RB-00")
            thread = page.locator("#thread-messages")
            await expect(thread).to_contain_text("Run the health check")
            step = thread.locator("[data-key]", has_text="Run the health check").last
            await expect(step).to_contain_text("health_check.py health {incident}")

            await step.locator("button.bk-button", has_text=RUN).click()
            dialog = page.get_by_role("alertdialog", name="Run this action?")
            await expect(dialog).to_contain_text("health_check.py")
            await dialog.locator("button[data-answer='yes']").click()

            output = thread.locator("[data-key]", has_text="All 4 checks passed").last
            await expect(output).to_be_visible(timeout=30_000)
            text = await output.inner_text()
            assert "Health check for INC-" in text and "share.portal.example" in text
            assert text.count(" ms") >= 4  # a latency per endpoint
            await expect(step).to_contain_text("succeeded", timeout=15_000)
            await expect(thread).to_contain_text("Measure the upload queue", timeout=15_000)
            await expect(thread.locator("button.bk-button", has_text=RUN)).to_have_count(
                1
            )  # only the next step's

            shot = tmp_path / "playground-action.png"
            await page.screenshot(path=shot)
            assert shot.stat().st_size > 10_000
            wanted = os.environ.get("RUNBOOK_BOT_ACTION_SCREENSHOT")
            if wanted:
                (REPO / wanted).write_bytes(shot.read_bytes())
            await page.close()
            assert watch.errors == [], f"console errors: {watch.errors}"
            assert watch.foreign == [], f"requests to other hosts: {watch.foreign}"
        finally:
            await browser.close()
