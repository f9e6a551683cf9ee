"""``/runbook show`` of the biggest runbook a folder may hold never stalls the
bot: its rendering runs off the event loop, so /healthz and other people's
commands are answered while it goes on.

Through the HTTP door (signed slash commands, real PostgreSQL). What ran where
is observed, not timed: a sampling thread looks at every thread's stack while
the shows are going on; the show's renderer must be seen running, and never on
the thread that runs the event loop. A /healthz sent with the shows is
answered before the last of them.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import threading
import time
from pathlib import Path
from types import CodeType

from bot.runbook.library import MAX_RUNBOOK_BYTES
from bot.runbook.parser import MAX_STEPS
from bot.runs.catalog_blocks import show_message
from tests.conftest import BotFactory

REPO = Path(__file__).resolve().parent.parent
HEAD = "---\nid: RB-99\ntitle: As big as allowed\n---\n# As big as allowed\n\n## Mitigation\n\n"
SHOWS = 6  # at once, per round


def biggest_runbook(folder: Path) -> Path:
    """MAX_STEPS steps of Markdown filling MAX_RUNBOOK_BYTES: the caps' worst case."""
    per_step = (MAX_RUNBOOK_BYTES - len(HEAD) - 64) // MAX_STEPS
    words = "Check **the** `service` and [its graphs](https://example.com) then " * 40
    lines = []
    for n in range(1, MAX_STEPS + 1):
        prefix = f"{n}. "
        lines.append(prefix + words[: per_step - len(prefix) - 1] + "\n")
    path = folder / "RB-99.md"
    path.write_text(HEAD + "".join(lines))
    assert path.stat().st_size <= MAX_RUNBOOK_BYTES
    return path


class StackSampler(threading.Thread):
    """The threads seen running ``code``, from their stacks, sampled."""

    def __init__(self, code: CodeType) -> None:
        super().__init__(daemon=True)
        self.code = code
        self.seen_on: list[int] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            for ident, frame in sys._current_frames().items():
                walker = frame
                while walker is not None:
                    if walker.f_code is self.code:
                        self.seen_on.append(ident)
                        break
                    walker = walker.f_back
            time.sleep(0.0005)


async def test_show_renders_off_the_loop_while_healthz_is_answered(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    folder = tmp_path / "runbooks"
    folder.mkdir()
    for source in REPO.glob("runbooks/RB-*.md"):
        shutil.copy(source, folder)
    biggest_runbook(folder)
    bot = await make_bot(runbooks_dir=str(folder))
    assert len(bot.ctx.library.get("RB-99").steps) == MAX_STEPS
    loop_thread = threading.get_ident()
    finished: list[str] = []

    async def show() -> None:
        response = await bot.command("/runbook", "show RB-99")
        assert response.status == 200 and "RB-99" in response.text
        finished.append("show")

    async def healthz() -> None:
        async with bot.http.get(bot.url + "/healthz") as response:
            assert response.status == 200
        finished.append("healthz")

    sampler = StackSampler(show_message.__code__)
    sampler.start()
    orders: list[list[str]] = []
    try:
        # Rounds until the sampler caught the renderer at work and /healthz was
        # answered while shows were still rendering (on the loop it never is).
        while len(orders) < 30 and not (sampler.seen_on and answered_meanwhile(orders)):
            finished.clear()
            shows = [asyncio.ensure_future(show()) for _ in range(SHOWS)]
            await asyncio.sleep(0)  # the shows' requests go out first
            async with asyncio.timeout(60):
                await asyncio.gather(*shows, healthz())
            orders.append(list(finished))
    finally:
        sampler.done.set()
        sampler.join()
    assert sampler.seen_on, "the renderer was never seen running"
    assert loop_thread not in sampler.seen_on
    assert answered_meanwhile(orders), orders


def answered_meanwhile(orders: list[list[str]]) -> bool:
    """In some round, /healthz was answered before the last show."""
    return any(order.index("healthz") < len(order) - 1 for order in orders)
