"""The responder's first minutes in the playground, in a real headless browser:
the incident's own buttons (Acknowledge, the commander picker, Resolve with its
confirmation), one live reminder per incident, and the App Home (one period for
runs and insights, never-drilled runbooks shown plainly, a thread link that
opens the thread). Screenshots ``tenb-*.png`` go to ``SCREENSHOT_DIR`` (else
the system's temporary directory)."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any

from playwright.async_api import expect

from tests.playground_page import browser, command, page, playground  # noqa: F401 (fixtures)
from tests.playground_support import start_run

SHOTS = Path(os.environ.get("SCREENSHOT_DIR") or tempfile.gettempdir())
SHOTS.mkdir(parents=True, exist_ok=True)


async def shot(page: Any, name: str) -> Path:  # noqa: F811 (page: the fixture's value)
    path = SHOTS / f"tenb-{name}.png"
    await page.screenshot(path=path)
    return path


async def declare(page: Any, title: str) -> tuple[Any, str]:  # noqa: F811
    """Declare; the declare message's locator and the incident's key."""
    await command(page, f"/incident declare {title}")
    message = page.locator("#messages [data-key]", has_text="declared by").filter(has_text=title)
    await expect(message).to_have_count(1, timeout=15_000)
    key = re.search(r"INC-\d+", await message.inner_text())
    assert key is not None
    return message, key.group(0)


async def test_incident_buttons_acknowledge_assign_and_resolve(page: Any) -> None:  # noqa: F811
    declared, key = await declare(page, "Payment API down")
    ack = declared.get_by_role("button", name="Acknowledge")
    picker = declared.locator("select.bk-select")
    resolve = declared.get_by_role("button", name="Resolve")
    await expect(ack).to_be_visible()
    await expect(picker).to_contain_text("Assign commander…")
    await expect(resolve).to_be_visible()
    await shot(page, "incident-buttons")

    await ack.click()
    await expect(declared).to_contain_text("Acknowledged by", timeout=15_000)
    await expect(ack).to_have_count(0)  # re-rendered: no Acknowledge once acknowledged
    await picker.select_option("U04DANA")
    await expect(declared).to_contain_text("Commander", timeout=15_000)
    await expect(declared.locator("select.bk-select")).to_have_value("U04DANA")

    # A run on the incident: its message carries the same buttons, and Resolve
    # says what it will end.
    await command(page, f"/runbook start RB-04 {key}")
    run = page.locator("#messages [data-key]", has_text=f"{key} · RB-04")
    await expect(run.get_by_role("button", name="Resolve")).to_be_visible(timeout=15_000)
    await run.locator(".replies").click()
    thread = page.locator("#thread-messages")
    await expect(thread.get_by_role("button", name="Approve")).to_be_visible(timeout=15_000)
    await run.get_by_role("button", name="Resolve").click()
    dialog = page.get_by_role("alertdialog")
    await expect(dialog).to_contain_text(f"Resolve {key}?")
    await expect(dialog).to_contain_text(
        "RB-04 is still running (step 1 of 18); resolving ends it."
    )
    await shot(page, "resolve-confirm")
    await dialog.get_by_role("button", name="Resolve").click()

    await expect(declared).to_contain_text("Resolved by", timeout=20_000)
    await expect(declared.locator(".bk-actions")).to_have_count(0)
    await expect(run.locator(".bk-actions")).to_have_count(0, timeout=20_000)
    await expect(run).to_contain_text("Run ended: incident resolved")
    await expect(run).not_to_contain_text("Steps follow in this thread")
    await expect(thread).to_contain_text("Run ended: incident resolved", timeout=20_000)
    await expect(thread.get_by_role("button", name="Approve")).to_have_count(0)
    summary = page.locator("#messages [data-key]", has_text=f"{key} resolved")
    await expect(summary).to_contain_text(
        "RB-04 ended at step 1 of 18 when the incident was resolved"
    )
    await expect(summary).to_contain_text(f"/incident timeline {key}")
    await shot(page, "resolved")


async def test_one_live_reminder_per_incident(page: Any) -> None:  # noqa: F811
    _declared, key = await declare(page, "Search is slow")
    reminders = page.locator(
        "#messages [data-key]", has_text=re.compile(rf"{key}\b.*(time for a status|reminder —)")
    )
    superseded = reminders.filter(has_text="superseded by a newer reminder")
    # The playground reminds every 4 s: wait for three, then only one is live.
    await expect(superseded).to_have_count(2, timeout=30_000)
    live = reminders.filter(has=page.locator("button", has_text="Post update"))
    await expect(live).to_have_count(1)
    await shot(page, "one-live-reminder")
    await command(page, f"/incident resolve {key}")
    await expect(reminders.filter(has_text=f"{key} was resolved")).to_have_count(1, timeout=20_000)
    await expect(live).to_have_count(0)


async def test_app_home_periods_drills_and_thread_links(page: Any) -> None:  # noqa: F811
    _declared, key = await declare(page, "Login emails delayed")
    # A run of its own (the module's other tests may run on another worker).
    await start_run(page, f"/runbook start RB-04 {key}")
    await page.locator("#thread-close").click()
    await page.locator("#home-link").click()
    home = page.locator("#home")
    await expect(home).to_contain_text("Open incidents", timeout=15_000)
    # A fresh install: nothing is overdue; every runbook is "not drilled yet", plainly.
    await expect(home).to_contain_text("Not drilled yet (")
    await expect(home).not_to_contain_text("🔴")
    await expect(home).not_to_contain_text("never validated")
    # Runs and insights over the same period; the RB-04 run is in both.
    await expect(home).to_contain_text("Last runs, last 90 days")
    await expect(home).to_contain_text("Insights, last 90 days", timeout=20_000)
    insights = (await home.inner_text()).split("Insights, last 90 days")[1]
    assert "No incidents or runs" not in insights and "RB-04" in insights, insights
    await shot(page, "home")
    # The incident's link opens its thread (it has no reply yet), not only the channel.
    await home.locator(".bk-section", has_text=key).get_by_role("link", name=key).click()
    await expect(page.locator("#thread")).to_be_visible()
    await expect(page.locator("#thread-messages")).to_contain_text("Login emails delayed")
    await shot(page, "home-thread-link")
