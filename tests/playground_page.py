"""The playground's page for browser tests: one ``runbook-bot playground``
process and one headless Chromium per test module (module-scoped fixtures),
a fresh page per test that fails the test on a console error or a request to
another host, and the helpers a responder's hands need (type a command, find
a step, switch user, wait for the answer to a command)."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import async_playwright, expect

from tests.playground_support import (
    LAUNCH_ARGS,
    Playground,
    chromium_path,
    open_page,
    run_playground,
)

REPO = Path(__file__).resolve().parent.parent
REMINDER_SECONDS = "4"  # short, so the reminder's modal can be tried within a test


@contextlib.asynccontextmanager
async def module_playground(
    tmp_path_factory: pytest.TempPathFactory, reminder_seconds: str
) -> AsyncIterator[Playground]:
    """The bundled runbooks plus RB-90, a `2 people` step none of them has."""
    workdir = tmp_path_factory.mktemp("playground")
    runbooks = workdir / "runbooks"
    runbooks.mkdir()
    for source in [*REPO.glob("runbooks/RB-*.md"), REPO / "tests/fixtures/playground/RB-90.md"]:
        shutil.copy(source, runbooks)
    async with run_playground(
        workdir, STATUS_UPDATE_INTERVAL=reminder_seconds, RUNBOOKS_DIR=str(runbooks)
    ) as pg:
        yield pg


@pytest.fixture(scope="module")
async def playground(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Playground]:
    async with module_playground(tmp_path_factory, REMINDER_SECONDS) as pg:
        yield pg


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Any]:
    async with async_playwright() as p:
        chromium = await p.chromium.launch(
            executable_path=chromium_path(), headless=True, args=LAUNCH_ARGS
        )
        yield chromium
        await chromium.close()


class Shots:
    """Screenshots taken along the way, written to tmp_path only if the test fails."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.taken: list[tuple[str, bytes]] = []

    async def __call__(self, name: str) -> None:
        self.taken.append((name, await self.page.screenshot()))

    async def save(self, folder: Path) -> None:
        for i, (name, png) in enumerate(self.taken):
            (folder / f"{i:02d}-{name}.png").write_bytes(png)
        if not self.page.is_closed():
            await self.page.screenshot(path=folder / "zz-failure.png", full_page=True)
            (folder / "zz-failure.html").write_text(await self.page.content())


@pytest.fixture
async def page(
    browser: Any, playground: Playground, request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[Any]:
    page, watch = await open_page(browser, playground.url)
    page.shots = Shots(page)
    failed_before = request.session.testsfailed
    yield page
    if request.session.testsfailed > failed_before:
        await page.shots.save(tmp_path)
    await page.close()
    assert watch.errors == [], f"console errors: {watch.errors}"
    assert watch.foreign == [], f"requests to other hosts: {watch.foreign}"
    assert watch.requests > 0


async def command(page: Any, text: str) -> None:
    composer = page.locator("#composer-input")
    await composer.fill(text)
    await composer.press("Enter")


def step_in(thread: Any, text: str) -> Any:
    return thread.locator("[data-key]", has_text=text)


async def switch_to(page: Any, user: str, name: str) -> None:
    await page.select_option("#user-switch", user)
    await expect(page.locator("#you-title")).to_contain_text(name)


# The newest answer to appear in the channel after `before`: an ephemeral of
# yours, or a new message (a reminder, which comes by itself, is not an answer).
NEW_ANSWER = """
([ephemerals, keys]) => {
  const box = document.getElementById("messages");
  const first = (n) => n.querySelector(".msg-content").innerText.trim().split("\\n")[0];
  for (const n of box.querySelectorAll("[data-ephemeral]"))
    if (!ephemerals.includes(n.dataset.ephemeral)) return "(only you) " + first(n);
  for (const n of box.querySelectorAll("[data-key]"))
    if (!keys.includes(n.dataset.key) && !n.innerText.includes("time for a status update"))
      return first(n);
  return false;
}
"""


async def answer_to(page: Any, text: str) -> str:
    box = page.locator("#messages")
    ephemerals = await box.locator("[data-ephemeral]").evaluate_all(
        "ns => ns.map(n => n.dataset.ephemeral)"
    )
    keys = await box.locator("[data-key]").evaluate_all("ns => ns.map(n => n.dataset.key)")
    await command(page, text)
    found = await page.wait_for_function(NEW_ANSWER, arg=[ephemerals, keys], timeout=20_000)
    return str(await found.json_value())
