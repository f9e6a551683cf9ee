"""The playground, measured in the browser: start-up and click-to-render.

    .venv/bin/python bench/playground_clicks.py [--runs 3]

Starts ``runbook-bot playground --port 0`` as a newcomer would (embedded
SQLite in a temporary file) with headless Chromium already launched, and
reports:

- start-up: from spawning the command to the URL line, and to the page being
  ready (loaded, WebSocket snapshot rendered: ``body[data-ready]``);
- click-to-render over whole RB-04 runs (18 Approve clicks each), measured in
  the page with ``performance.now()``: from the click to the frame in which the
  step shows "Approved by" (``decided``) and the next step or the completion
  summary has appeared (``next``). Between clicks nothing waits.

The last line is ``BENCH playground_clicks ...``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from _report import bench_line, percentile, print_header, table  # noqa: E402
from playwright.async_api import async_playwright  # noqa: E402

from tests.playground_support import (  # noqa: E402
    CLICK_AND_TIME,
    LAUNCH_ARGS,
    chromium_path,
    open_page,
    run_playground,
    start_run,
)


async def main(runs: int) -> None:
    print_header("playground: start-up and click-to-render, in headless Chromium")
    async with async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=chromium_path(), headless=True, args=LAUNCH_ARGS
        )
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            async with run_playground(Path(tmp)) as pg:
                page, watch = await open_page(browser, pg.url)
                ready = time.perf_counter() - started
                decided: list[float] = []
                nxt: list[float] = []
                for _ in range(runs):
                    await start_run(page)
                    for _ in range(18):
                        timing = await page.evaluate(CLICK_AND_TIME)
                        decided.append(timing["decided"])
                        nxt.append(timing["next"])
                    text = await page.locator("#thread-messages").inner_text()
                    assert "RB-04 completed" in text, "the run did not complete"
                await page.close()
        await browser.close()
    assert not watch.errors and not watch.foreign, (watch.errors, watch.foreign)
    print(f"start-up: URL printed after {pg.started_in:.2f} s, page ready after {ready:.2f} s")
    rows = [
        (name, len(v), percentile(v, 50), percentile(v, 90), percentile(v, 99), max(v))
        for name, v in (("click→decided", decided), ("click→next step", nxt))
    ]
    print(table(("ms", "clicks", "p50", "p90", "p99", "max"), rows))
    values = {
        "startup_url_s": pg.started_in,
        "startup_ready_s": ready,
        "clicks": len(nxt),
        "decided_p50_ms": percentile(decided, 50),
        "decided_p99_ms": percentile(decided, 99),
        "next_p50_ms": percentile(nxt, 50),
        "next_p99_ms": percentile(nxt, 99),
    }
    print(bench_line("playground_clicks", values))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="RB-04 runs of 18 clicks each")
    asyncio.run(main(parser.parse_args().runs))
