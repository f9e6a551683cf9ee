"""Driving the playground in a real headless browser: start ``runbook-bot
playground`` as users do, launch Debian's Chromium with Playwright, watch what
the page logs and requests. Used by tests/test_playground.py and
bench/playground_clicks.py."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

BIN = Path(sys.executable).with_name("runbook-bot")
CHROMIUM = Path("/usr/lib/chromium/chromium")
LAUNCH_ARGS = ["--disable-gpu", "--disable-dev-shm-usage"]
# Settings a newcomer has not made (the playground picks its own).
UNSET = (
    "DATABASE_URL",
    "STATUS_UPDATE_INTERVAL",
    "HOME_REFRESH_INTERVAL",
    "RUNBOOKS_DIR",
    "PORT",
    "HOST",
)
URL_LINE = re.compile(r"open (http://127\.0\.0\.1:\d+/)")


def chromium_path() -> str:
    found = str(CHROMIUM) if CHROMIUM.is_file() else shutil.which("chromium")
    if not found:
        raise RuntimeError(
            "the browser tests need Debian's Chromium: apt-get install -y chromium chromium-driver"
            " (make test installs it when run as root or with sudo)"
        )
    return found


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a newcomer: no Slack settings, no database, no proxy."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("SLACK_") and k not in UNSET and "proxy" not in k.lower()
    }
    env.update(extra)
    return env


@dataclass
class Playground:
    url: str
    started_in: float  # seconds from spawning the command to the URL line
    proc: asyncio.subprocess.Process
    log: Path


@contextlib.asynccontextmanager
async def run_playground(workdir: Path, **env: str) -> AsyncIterator[Playground]:
    """``runbook-bot playground --port 0`` in ``workdir`` (no .env there)."""
    log = workdir / "playground.log"
    started = time.perf_counter()
    with log.open("wb") as err:
        proc = await asyncio.create_subprocess_exec(
            str(BIN), "playground", "--port", "0",
            cwd=workdir, env=clean_env(**env),
            stdout=asyncio.subprocess.PIPE, stderr=err,
        )  # fmt: skip
        try:
            url = None
            assert proc.stdout is not None
            async with asyncio.timeout(30):
                while url is None:
                    line = (await proc.stdout.readline()).decode()
                    if not line:
                        raise AssertionError(f"playground exited: {log.read_text()[-2000:]}")
                    match = URL_LINE.search(line)
                    url = match.group(1) if match else None
            yield Playground(url, time.perf_counter() - started, proc, log)
        finally:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    async with asyncio.timeout(10):
                        await proc.wait()
                except TimeoutError:
                    proc.kill()
                    await proc.wait()


@dataclass
class PageWatch:
    """Console errors, uncaught exceptions and requests to any other host."""

    origin: str
    errors: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)
    requests: int = 0

    def attach(self, page: Any) -> None:
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))
        page.on("request", self._request)

    def _request(self, request: Any) -> None:
        self.requests += 1
        url = urlsplit(request.url)
        if url.scheme == "data":
            return
        if f"{url.scheme.replace('ws', 'http')}://{url.netloc}/" != self.origin:
            self.foreign.append(request.url)


async def open_page(browser: Any, url: str) -> tuple[Any, PageWatch]:
    page = await browser.new_page(viewport={"width": 1400, "height": 900})
    watch = PageWatch(url)
    watch.attach(page)
    await page.goto(url)
    await page.wait_for_selector("body[data-ready='1']", timeout=10_000)
    return page, watch


# Click the thread's last Approve button in the page and time it to the frame
# that shows the decided step and the next message (performance.now(), in ms).
CLICK_AND_TIME = """
() => new Promise((resolve, reject) => {
  const thread = document.getElementById("thread-messages");
  const approve = [...thread.querySelectorAll("button.bk-button")]
    .filter((b) => b.textContent.includes("Approve"));
  const button = approve[approve.length - 1];
  if (!button) { reject(new Error("no Approve button in the thread")); return; }
  const key = button.closest("[data-key]").dataset.key;
  const before = thread.querySelectorAll("[data-key]").length;
  let decided = null;
  const t0 = performance.now();
  const fail = () => { obs.disconnect(); reject(new Error("no render in 10 s")); };
  const timer = setTimeout(fail, 10000);
  const obs = new MutationObserver(() => {
    const node = thread.querySelector(`[data-key="${CSS.escape(key)}"]`);
    if (decided === null && node && node.textContent.includes("Approved by")) {
      decided = performance.now() - t0;
    }
    if (decided !== null && thread.querySelectorAll("[data-key]").length > before) {
      obs.disconnect(); clearTimeout(timer);
      requestAnimationFrame(() => resolve({ decided, next: performance.now() - t0 }));
    }
  });
  obs.observe(thread, { childList: true, subtree: true, characterData: true });
  button.click();
})
"""


async def start_run(page: Any, command: str = "/runbook start RB-04") -> Any:
    """Type the command, open the run's thread; return the run message locator."""
    before = await page.locator("#messages .replies").count()
    composer = page.locator("#composer-input")
    await composer.fill(command)
    await composer.press("Enter")
    replies = page.locator("#messages .replies")
    await replies.nth(before).wait_for(timeout=15_000)
    await replies.nth(before).click()
    await page.locator("#thread-messages button.bk-button", has_text="Approve").first.wait_for()
    return replies.nth(before)
