"""`make image-test`: build the container image with podman and smoke-test it as
users run it. Needs root, podman (installed through apt when missing) and the
test PostgreSQL on 127.0.0.1:5432. Machines without a container registry get a
stand-in base image built from Debian packages (.ci/base_image.sh), so the
Dockerfile builds unchanged. Prints the image size, start-up and stop times."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.rig.pg import create_database, drop_database  # noqa: E402
from tests.rig.signing import SlackSigner  # noqa: E402
from tests.rig.standin import SlackStandIn  # noqa: E402

TAG = "localhost/runbook-bot:image-test"
PREFIX = f"rb-image-test-{os.getpid()}"
SECRET = "image-test-signing-secret"
TOOLS = ["podman", "buildah", "mmdebstrap", "runc", "catatonit"]
ENV = {**os.environ, "CONTAINERS_CONF": str(REPO / ".ci" / "containers.conf")}


def say(text: str) -> None:
    print(f"image-test: {text}", flush=True)


class Failed(Exception):
    pass


def check(ok: bool, what: str) -> None:
    if not ok:
        raise Failed(what)
    say(f"ok: {what.split(':')[0]}")


async def run(*args: str, timeout: float = 300, ok: bool = True) -> tuple[int, str]:
    """A command's exit status and output (stdout and stderr together)."""
    proc = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=ENV
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    text = out.decode(errors="replace")
    if ok and proc.returncode != 0:
        raise Failed(f"{' '.join(args[:4])}… exited {proc.returncode}:\n{text[-3000:]}")
    return proc.returncode or 0, text


def podman(*args: str, **kw: float | bool) -> asyncio.Future[tuple[int, str]]:
    return asyncio.ensure_future(run("podman", *args, **kw))  # type: ignore[arg-type]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def ensure_tools() -> None:
    if all(shutil.which(tool) for tool in TOOLS):
        return
    if os.geteuid() != 0:
        raise Failed(f"needs root, or as root first: apt-get install -y {' '.join(TOOLS)}")
    say("installing " + " ".join(TOOLS))
    code, _ = await run("apt-get", "install", "-y", "-q", *TOOLS, timeout=600, ok=False)
    if code != 0:  # stale package lists
        await run("apt-get", "update", "-q", timeout=600)
        await run("apt-get", "install", "-y", "-q", *TOOLS, timeout=600)


async def build() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)", dockerfile, re.M)
    assert base is not None
    await run(str(REPO / ".ci" / "base_image.sh"), f"docker.io/library/{base[1]}", timeout=600)
    with tempfile.TemporaryDirectory() as tmp:
        # pip in the build trusts the machine's CA bundle, as pip here does.
        conf = Path(tmp) / "pip.conf"
        conf.write_text("[global]\ncert = /etc/pip-ca.crt\n")
        started = time.monotonic()
        await podman(
            "build", "--pull=never", "--format", "docker", "-t", TAG,
            "-v", "/etc/ssl/certs/ca-certificates.crt:/etc/pip-ca.crt:ro",
            "-v", f"{conf}:/etc/pip.conf:ro", str(REPO), timeout=900,
        )  # fmt: skip
    _, size = await podman("image", "inspect", TAG, "--format", "{{.Size}}")
    say(f"built in {time.monotonic() - started:.1f} s; image size {int(size) / 1e6:.0f} MB")


async def healthz(url: str, deadline: float, container: str) -> float:
    """Seconds until ``url`` answers 200 (the container must keep running)."""
    started = time.monotonic()
    async with aiohttp.ClientSession() as http:
        while time.monotonic() - started < deadline:
            with contextlib.suppress(aiohttp.ClientError, OSError):
                async with http.get(url, timeout=aiohttp.ClientTimeout(total=2)) as resp:
                    if resp.status == 200:
                        return time.monotonic() - started
            _, state = await podman("inspect", container, "--format", "{{.State.Status}}")
            if state.strip() != "running":
                _, logs = await podman("logs", container, ok=False)
                raise Failed(f"{container} stopped before {url} answered:\n{logs[-2000:]}")
            await asyncio.sleep(0.1)
    _, logs = await podman("logs", container, ok=False)
    raise Failed(f"{url} gave no 200 within {deadline} s:\n{logs[-2000:]}")


async def stop(container: str) -> tuple[int, float]:
    """SIGTERM as `docker stop` sends it: the exit status and seconds to exit."""
    started = time.time()
    await podman("kill", "--signal", "TERM", container)
    _, code = await podman("wait", container, timeout=15)
    # Measured to the container's own exit time, not podman's polling of it.
    _, finished = await podman("inspect", container, "--format", "{{.State.FinishedAt.UnixNano}}")
    return int(code.strip().splitlines()[-1]), int(finished) / 1e9 - started


async def start(name: str, *args: str) -> float:
    """`podman run -d` (returns when it was started, for start-up times)."""
    started = time.monotonic()
    await podman("run", "-d", "--name", name, *args)
    return started


async def serve_on_postgres(url: str, slack: SlackStandIn) -> None:
    port = free_port()
    name = f"{PREFIX}-serve"
    env = [
        "-e", f"DATABASE_URL={url}", "-e", f"PORT={port}", "-e", "SLACK_BOT_TOKEN=xoxb-image",
        "-e", f"SLACK_SIGNING_SECRET={SECRET}", "-e", f"SLACK_API_URL={slack.url}",
    ]  # fmt: skip
    # Read-only root file system, as deploy/kubernetes runs it; host network for PostgreSQL.
    started = await start(name, "--network", "host", "--read-only", *env, TAG)
    base = f"http://127.0.0.1:{port}"
    await healthz(f"{base}/healthz", 60, name)
    say(f"start-up to /healthz 200 on PostgreSQL: {time.monotonic() - started:.1f} s")
    _, uid = await podman("exec", name, "id", "-u")
    check(uid.strip() == "10001", f"serve runs as uid 10001: got {uid.strip()}")
    _, top = await podman("top", name, "pid", "args")
    check("tini" in top.splitlines()[1], f"tini is PID 1:\n{top}")
    signer = SlackSigner(SECRET)
    body = signer.url_verification("image-test")
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base}/slack/events", data=body) as resp:
            check(resp.status == 401, f"an unsigned request gets 401: got {resp.status}")
        headers = signer.headers(body, content_type="application/json")
        async with http.post(f"{base}/slack/events", data=body, headers=headers) as resp:
            text = await resp.text()
            check(resp.status == 200 and "image-test" in text, f"a signed one is answered: {text}")
    code, out = await podman("healthcheck", "run", name, ok=False)
    check(code == 0, f"the image's HEALTHCHECK passes: {out}")
    code, seconds = await stop(name)
    say(f"stop (SIGTERM to exit): {seconds:.2f} s, exit {code}")
    check(code == 0 and seconds < 2, f"SIGTERM stops serve with 0 within 2 s: {code}, {seconds}")


async def migrate_and_lint(url: str) -> None:
    _, out = await podman(
        "run", "--rm", "--network", "host", "--read-only", "-e", f"DATABASE_URL={url}",
        TAG, "runbook-bot", "migrate",
    )  # fmt: skip
    check("database at revision" in out, f"migrate reports the revision: {out}")
    code, out = await podman("run", "--rm", "--read-only", TAG, "runbook-bot", "lint", ok=False)
    check(code == 0, f"lint passes on the bundled runbooks: {out[-1000:]}")


async def stop_while_database_hangs() -> None:
    """A database that accepts and never answers: SIGTERM still stops at once."""
    held: list[asyncio.StreamWriter] = []

    async def accept(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    name = f"{PREFIX}-hang"
    await start(
        name, "--network", "host", "-e", f"PORT={free_port()}",
        "-e", f"DATABASE_URL=postgresql+asyncpg://u@127.0.0.1:{port}/db",
        "-e", "SLACK_BOT_TOKEN=xoxb-image", "-e", f"SLACK_SIGNING_SECRET={SECRET}", TAG,
    )  # fmt: skip
    for _ in range(100):  # until its migration is waiting on the database
        if held:
            break
        await asyncio.sleep(0.1)
    check(bool(held), "serve connects to the (hanging) database")
    code, seconds = await stop(name)
    say(f"stop while the database hangs at start-up: {seconds:.2f} s, exit {code}")
    check(code == 0 and seconds < 2, f"SIGTERM during migrations exits 0 in 2 s: {code}")
    server.close()


async def sqlite_on_a_volume() -> None:
    volume = f"{PREFIX}-data"
    name = f"{PREFIX}-sqlite"
    port = free_port()
    _, before = await podman("volume", "ls", "-q")
    await podman("volume", "create", volume)
    try:
        started = await start(
            name, "--read-only", "-v", f"{volume}:/data", "-p", f"127.0.0.1:{port}:3000",
            "-e", "SLACK_BOT_TOKEN=xoxb-image", "-e", f"SLACK_SIGNING_SECRET={SECRET}",
            "-e", "SLACK_API_URL=http://127.0.0.1:9/api/", TAG,
        )  # fmt: skip
        await healthz(f"http://127.0.0.1:{port}/healthz", 60, name)
        say(f"start-up to /healthz 200 on SQLite: {time.monotonic() - started:.1f} s")
        code, _ = await stop(name)
        check(code == 0, f"serve on SQLite stops with 0: {code}")
        _, files = await podman("run", "--rm", "-v", f"{volume}:/data", TAG, "ls", "/data")
        check("runbook-bot.db" in files.split(), f"the database is on the volume: {files}")
        await podman("rm", name)
        _, after = await podman("volume", "ls", "-q")
        left = set(after.split()) - set(before.split()) - {volume}
        check(not left, f"no anonymous volume is left behind: {left}")
    finally:
        await podman("volume", "rm", "-f", volume, ok=False)


async def root_owned_data() -> None:
    with tempfile.TemporaryDirectory() as data:
        os.chmod(data, 0o755)  # root's, like a bind mount docker created
        code, out = await podman(
            "run", "--rm", "-v", f"{data}:/data", "-e", "SLACK_BOT_TOKEN=xoxb-image",
            "-e", f"SLACK_SIGNING_SECRET={SECRET}", TAG, ok=False,
        )  # fmt: skip
    check(
        code == 1 and "not writable by this user (uid 10001)" in out and "Traceback" not in out,
        f"a root-owned /data is named in one line: {code} {out}",
    )


async def playground_through_p() -> None:
    name = f"{PREFIX}-playground"
    port = free_port()
    await start(
        name, "--read-only", "-p", f"127.0.0.1:{port}:3000", TAG, "runbook-bot", "playground"
    )
    try:
        await healthz(f"http://127.0.0.1:{port}/", 60, name)
        _, logs = await podman("logs", name)
        check("runbook-bot serve" in logs and "make run" not in logs, f"its hint fits: {logs}")
    finally:
        code, _ = await stop(name)
    check(code == 0, f"the playground is reachable through -p and stops with 0: {code}")


async def compose_bot_service(url: str) -> None:
    """compose.yaml's bot service as compose would run it (init, read-only, tmpfs,
    .env), against the host's PostgreSQL: no postgres image can be pulled here."""
    bot = yaml.safe_load((REPO / "compose.yaml").read_text())["services"]["bot"]
    name = f"{PREFIX}-compose"
    port = free_port()
    args = ["--network", "host", "-e", f"DATABASE_URL={url}", "-e", f"PORT={port}"]
    args += ["--init"] if bot.get("init") else []
    args += ["--read-only"] if bot.get("read_only") else []
    args += [f"--tmpfs={path}" for path in bot.get("tmpfs", [])]
    with tempfile.TemporaryDirectory() as tmp:
        dotenv = Path(tmp) / ".env"
        dotenv.write_text(f"SLACK_BOT_TOKEN=xoxb-image\nSLACK_SIGNING_SECRET={SECRET}\n")
        started = await start(name, *args, "--env-file", str(dotenv), TAG)
    await healthz(f"http://127.0.0.1:{port}/healthz", 60, name)
    say(f"compose's bot service: /healthz 200 in {time.monotonic() - started:.1f} s")
    code, seconds = await stop(name)
    check(code == 0 and seconds < 2, f"compose's bot service stops with 0: {code}, {seconds}")


async def main() -> int:
    await ensure_tools()
    await build()
    slack = SlackStandIn()
    await slack.start()
    url = await create_database(prefix="runbook_bot_image")
    try:
        await migrate_and_lint(url)
        await serve_on_postgres(url, slack)
        await compose_bot_service(url)
        await stop_while_database_hangs()
        await sqlite_on_a_volume()
        await root_owned_data()
        await playground_through_p()
    except Failed as exc:
        say(f"FAILED: {exc}")
        return 1
    finally:
        _, names = await podman("ps", "-aq", "--filter", f"name={PREFIX}", ok=False)
        if names.split():
            await podman("rm", "-f", *names.split(), ok=False)
        await drop_database(url)
        await slack.stop()
    say("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
