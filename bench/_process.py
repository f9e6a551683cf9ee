"""Child processes of the benchmarks and what they cost: CPU (own and of
reaped children) and peak memory, read from /proc."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import aiohttp


def _clock_ticks() -> int:
    return os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str]:
    # After "pid (comm)": state is index 0, ppid 1, utime 11, stime 12, cutime 13, cstime 14.
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def _own_cpu(pid: int) -> float:
    f = _stat_fields(pid)
    return (int(f[11]) + int(f[12])) / _clock_ticks() if f else 0.0


def _reaped_cpu(pid: int) -> float:
    f = _stat_fields(pid)
    return (int(f[13]) + int(f[14])) / _clock_ticks() if f else 0.0


def _peak_rss_mb(pid: int) -> float:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def postgres_cpu_seconds() -> float:
    """CPU time of every PostgreSQL server process on this machine (backends,
    WAL writer, autovacuum…), as far as /proc shows them: what the database
    spent on whatever ran meanwhile. Backends that exited are not counted."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            comm = (entry / "comm").read_text().strip()
        except OSError:
            continue
        if comm == "postgres" or comm.startswith("postgres:"):
            total += _own_cpu(int(entry.name))
    return total


def descendants(pid: int) -> list[int]:
    """Live descendants of ``pid`` (one scan of /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        f = _stat_fields(int(entry.name))
        if f:
            children.setdefault(int(f[1]), []).append(int(entry.name))
    out: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


class Process:
    """A server subprocess with CPU and memory readings from /proc."""

    def __init__(
        self,
        argv: list[str],
        env: dict[str, str],
        port: int,
        name: str,
        *,
        new_session: bool = False,
    ) -> None:
        self.name = name
        self.port = port
        self.expect_children = 0
        self.url = f"http://127.0.0.1:{port}"
        self._cwd = tempfile.mkdtemp(prefix="runbook-bench-")  # no stray .env is read
        self._log = open(Path(self._cwd) / "server.log", "w+b")
        self.proc = subprocess.Popen(
            argv,
            env=env,
            cwd=self._cwd,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=new_session,  # a process group: serve and its worker
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def cpu_seconds(self) -> float:
        """CPU time of this process alone (user + system)."""
        return _own_cpu(self.pid)

    def tree_cpu_seconds(self) -> float:
        """CPU time of this process and its descendants, live or reaped.

        ``runbook-bot serve`` with ``WORKER=process`` delivers to Slack and
        reminds in a child process; its CPU counts here (and, once the child has
        exited and been waited for, through the parent's cutime/cstime).
        """
        return sum(_own_cpu(p) + _reaped_cpu(p) for p in (self.pid, *descendants(self.pid)))

    def worker_cpu_seconds(self) -> float:
        """CPU time of the descendants only (the worker process, if any)."""
        return self.tree_cpu_seconds() - _own_cpu(self.pid)

    def peak_rss_mb(self) -> float:
        """Peak RSS (VmHWM) of this process alone."""
        return _peak_rss_mb(self.pid)

    def worker_peak_rss_mb(self) -> float:
        """Largest peak RSS among the live descendants (0 if there are none)."""
        return max((_peak_rss_mb(p) for p in descendants(self.pid)), default=0.0)

    async def settle(self, quiet: float = 0.5, timeout: float = 15.0) -> None:
        """Wait (bounded) until the process tree's CPU is idle for ``quiet`` seconds.

        With ``WORKER=process`` the worker child is still importing when
        ``/healthz`` first answers; measuring before it settles would charge
        its start-up to the first cell.
        """
        deadline = time.monotonic() + timeout
        last = self.tree_cpu_seconds()
        while time.monotonic() < deadline:
            await asyncio.sleep(quiet)
            now = self.tree_cpu_seconds()
            if now - last < 0.05 * quiet and (self.expect_children <= len(descendants(self.pid))):
                return
            last = now

    def log_tail(self, lines: int = 30) -> str:
        self._log.flush()
        self._log.seek(0)
        return "\n".join(self._log.read().decode(errors="replace").splitlines()[-lines:])

    async def wait_ready(self, path: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.name} exited early:\n{self.log_tail()}")
                with contextlib.suppress(aiohttp.ClientError, OSError):
                    async with http.get(self.url + path) as resp:
                        if resp.status < 500:
                            return
                await asyncio.sleep(0.1)
        raise RuntimeError(f"{self.name} did not become ready:\n{self.log_tail()}")

    async def stop(self, timeout: float = 15.0) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(self.proc.wait, timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        shutil.rmtree(self._cwd, ignore_errors=True)
