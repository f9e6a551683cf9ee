"""Small asyncio helpers shared by the background services."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any


async def cancel_and_wait(task: asyncio.Task[Any] | None) -> None:
    """Cancel a background task and wait until it has finished unwinding.

    Cancelled again until it is done: before Python 3.12, ``asyncio.wait_for``
    can swallow a cancellation that races its inner wait's completion, and a
    loop waiting that way would then go round again — and a stop would wait
    for it for ever."""
    if task is None:
        return
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=1.0)
    with contextlib.suppress(asyncio.CancelledError):
        await task
