"""After the incident, in the playground: the resolve summary says what is left
(follow-ups, the postmortem draft), a follow-up is added from the page, and the
summary's ``runbook-bot postmortem INC-<n>`` opens the draft — the same one the
command prints — read from the playground's database. A real headless browser
against ``runbook-bot playground`` started as a newcomer would."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import async_playwright, expect

from tests.playground_support import LAUNCH_ARGS, Playground, chromium_path, open_page
from tests.playground_support import run_playground as start_playground

SECTIONS = [
    "## Escalations",
    "## Runbooks run",
    "## Status updates",
    "## Timeline",
    "## Follow-ups",
    "## Runbook feedback",
    "## Root cause",
    "## What went well",
    "## What went badly",
]


@pytest.fixture(scope="module")
async def playground(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Playground]:
    async with start_playground(tmp_path_factory.mktemp("playground-loop")) as pg:
        yield pg


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Any]:
    async with async_playwright() as p:
        chromium = await p.chromium.launch(
            executable_path=chromium_path(), headless=True, args=LAUNCH_ARGS
        )
        yield chromium
        await chromium.close()


async def command(page: Any, text: str) -> None:
    composer = page.locator("#composer-input")
    await composer.fill(text)
    await composer.press("Enter")


async def test_resolve_follow_up_and_open_the_draft(
    browser: Any, playground: Playground, tmp_path: Path
) -> None:
    page, watch = await open_page(browser, playground.url)
    try:
        await command(page, "/incident declare critical Checkout <b>errors</b>")
        declared = page.locator("#messages [data-key]", has_text="declared").last
        await expect(declared).to_contain_text("Checkout <b>errors</b>")
        found = re.search(r"INC-\d+", await declared.inner_text())
        assert found is not None
        key = found.group(0)
        await command(page, f"/incident update {key} Rolled back the deploy")
        await command(page, f"/incident resolve {key}")
        summary = page.locator("#messages [data-key]", has_text=f"{key} resolved").last
        await expect(summary).to_contain_text(
            f"Add follow-ups: /incident followup {key} <text> @owner due 3d", timeout=15_000
        )
        await expect(summary).to_contain_text(f"Postmortem draft: runbook-bot postmortem {key}")

        await command(page, f"/incident followup {key} Alert on checkout error rate @bob due 3d")
        # A text-only answer shows as Slack shows it: only to you.
        reply = page.locator("#messages .msg.ephemeral", has_text="Follow-up").last
        await expect(reply).to_contain_text(f"Follow-up #1 added to {key} — owner @bob")
        await expect(reply).to_contain_text("Only visible to you")

        link = summary.locator("a.draft-link")
        assert await link.get_attribute("href") == f"/playground/postmortem/{key}"
        async with page.expect_popup() as opened:
            await link.click()
        draft = await opened.value
        await draft.wait_for_load_state()
        text = await draft.locator("pre.draft").inner_text()
        # The Markdown as the command prints it (typed markup escaped), shown as text.
        assert text.startswith(f"# Postmortem: {key} — Checkout \\<b\\>errors\\</b\\>")
        assert await draft.locator("pre.draft b").count() == 0
        positions = [text.index(section) for section in SECTIONS]
        assert positions == sorted(positions)
        followups = text.split("## Follow-ups")[1].split("## Runbook feedback")[0]
        assert "#1 Alert on checkout error rate" in followups and ", open" in followups
        assert "Rolled back the deploy" in text.split("## Status updates")[1]
        assert "| **Priority** | critical |" in text

        # The Markdown itself, as the command prints it; unknown incidents say so.
        markdown = await draft.request.get(f"{playground.url}playground/postmortem/{key}.md")
        assert markdown.ok and markdown.headers["content-type"].startswith("text/markdown")
        body = await markdown.text()
        assert body.startswith(f"# Postmortem: {key} — Checkout \\<b\\>errors\\</b\\>")
        missing = await draft.request.get(f"{playground.url}playground/postmortem/INC-999")
        assert missing.status == 404 and "There is no INC-999" in await missing.text()
        bad = await draft.request.get(f"{playground.url}playground/postmortem/nonsense")
        assert bad.status == 404 and "INC-<n>" in await bad.text()
        await draft.close()
    except BaseException:
        await page.screenshot(path=tmp_path / "failure.png", full_page=True)
        raise
    finally:
        await page.close()
    assert watch.errors == [], f"console errors: {watch.errors}"
    assert watch.foreign == [], f"requests to other hosts: {watch.foreign}"
