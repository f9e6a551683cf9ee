"""The worker process: Slack delivery (outbox) and status-update reminders.

On PostgreSQL ``runbook-bot serve`` runs this in a child process by default,
so the process answering Slack spends its CPU on acknowledgements only; both
coordinate through the database (row leases, ``FOR UPDATE SKIP LOCKED``) and
wake each other with LISTEN/NOTIFY. Any number of workers may run against one
database (``runbook-bot worker``), each message and reminder is still sent once.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import sys

from bot.settings import Settings
from bot.tasks import cancel_and_wait

log = logging.getLogger("runbook_bot.worker")

PR_SET_PDEATHSIG = 1
# The supervised worker yields the CPU to the serving process: acks are what
# Slack times, while delivery a few milliseconds later is invisible. It costs
# nothing when the machine is idle (niceness only matters under contention).
WORKER_NICENESS = 10


def die_with_parent() -> None:
    """Linux: get SIGTERM when the parent dies, even by SIGKILL (no orphans)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


async def run_worker(settings: Settings, *, parent_pid: int | None = None) -> None:
    from bot.app import build_context, start_background, stop_background

    if parent_pid is not None:
        die_with_parent()
        with contextlib.suppress(OSError):
            os.nice(WORKER_NICENESS)
    ctx = build_context(settings, worker_process=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await start_background(ctx)
    if ctx.listener is not None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ctx.listener.connected.wait(), 10)
    log.info("worker running (pid %d): Slack delivery and reminders", os.getpid())
    if parent_pid is not None:
        print("ready", flush=True)  # serve opens its port only after this line
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=1.0)
        if parent_pid is not None and os.getppid() != parent_pid:
            break  # the serving process is gone (portable fallback to PDEATHSIG)
    await stop_background(ctx)


class WorkerSupervisor:
    """Runs ``runbook-bot worker`` as a child of ``serve`` and restarts it if it dies."""

    def __init__(self, restart_delay: float = 1.0) -> None:
        self._delay = restart_delay
        self._proc: asyncio.subprocess.Process | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._drain: asyncio.Task[bytes] | None = None
        self.restarts = 0

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    async def start(self) -> None:
        await self._spawn()
        self._task = asyncio.create_task(self._watch(), name="worker-supervisor")

    async def _spawn(self, ready_timeout: float = 30.0) -> None:
        argv = [sys.executable, "-m", "bot.cli", "worker", "--parent-pid", str(os.getpid())]
        self._proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE)
        assert self._proc.stdout is not None
        # Wait for "ready" so that the first request after start is delivered at once.
        try:
            line = await asyncio.wait_for(self._proc.stdout.readline(), ready_timeout)
        except TimeoutError:
            line = b""
        if line.strip() != b"ready":
            log.warning("worker process %d did not report ready; carrying on", self._proc.pid)
        self._drain = asyncio.create_task(self._proc.stdout.read())  # never let the pipe fill
        log.info("started worker process %d", self._proc.pid)

    async def _watch(self) -> None:
        while not self._stopping:
            assert self._proc is not None
            code = await self._proc.wait()
            if self._stopping:
                return
            log.error("worker process exited with %s; restarting in %.0fs", code, self._delay)
            self.restarts += 1
            await asyncio.sleep(self._delay)
            await self._spawn()

    async def stop(self, timeout: float = 10.0) -> None:
        self._stopping = True
        if self._proc is not None and self._proc.returncode is None:
            self._proc.terminate()
            try:
                await asyncio.wait_for(self._proc.wait(), timeout)
            except TimeoutError:
                self._proc.kill()
        await cancel_and_wait(self._task)
        await cancel_and_wait(self._drain)
