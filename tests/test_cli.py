"""The installed ``runbook-bot`` console script, run as a real subprocess (SPEC §2, §3).

Every process runs in a temporary working directory with no Slack variables in
its environment, so nothing is found "by accident" in the repo checkout.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot.settings import Settings
from tests.rig import SlackSigner, SlackStandIn, create_database, drop_database, ensure_postgres_up

BIN = Path(sys.executable).with_name("runbook-bot")
REPO = Path(__file__).resolve().parent.parent
SECRET = "cli-test-signing-secret"
SETTINGS_VARS = tuple(field.upper() for field in Settings.model_fields)


def base_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k.upper() not in SETTINGS_VARS and not k.upper().startswith("SLACK_")
    }
    env.update(extra)
    return env


def run(
    args: list[str], cwd: Path, timeout: float = 120, **env: str
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN), *args],
        cwd=cwd,
        env=base_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def output_lines(proc: subprocess.CompletedProcess) -> list[str]:
    return [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_console_script_is_installed() -> None:
    assert BIN.is_file(), f"{BIN} missing: pip install -e . into the venv"


def test_help(tmp_path: Path) -> None:
    proc = run(["--help"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    for command in ("serve", "migrate", "lint", "timeline"):
        assert command in proc.stdout
    proc = run(["lint", "--help"], tmp_path)
    assert proc.returncode == 0 and "--fix" in proc.stdout


def test_serve_without_tokens_names_slack_bot_token(tmp_path: Path) -> None:
    proc = run(["serve"], tmp_path, timeout=60)
    assert proc.returncode != 0
    lines = output_lines(proc)
    assert len(lines) == 1, lines
    assert "SLACK_BOT_TOKEN" in lines[0]
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "runbook-bot.db").exists(), "nothing is created before the check"


def test_serve_without_signing_secret_names_it(tmp_path: Path) -> None:
    proc = run(["serve"], tmp_path, timeout=60, SLACK_BOT_TOKEN="xoxb-1")
    assert proc.returncode != 0
    lines = output_lines(proc)
    assert len(lines) == 1 and "SLACK_SIGNING_SECRET" in lines[0], lines


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORT", "abc"),
        ("STATUS_UPDATE_INTERVAL", "-5"),
        ("STATUS_UPDATE_INTERVAL", "half an hour"),
        ("DATABASE_URL", "mysql://db/x"),
        ("PRIORITY_LEVELS", "critical=soon"),
        ("DEFAULT_PRIORITY", "urgent"),
        ("ESCALATION_CONTACT", "bob"),
    ],
)
def test_invalid_setting_is_one_line_naming_it(tmp_path: Path, name: str, value: str) -> None:
    env = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": SECRET, name: value}
    proc = run(["serve"], tmp_path, timeout=60, **env)
    assert proc.returncode == 2
    lines = output_lines(proc)
    assert len(lines) == 1, lines
    assert name in lines[0]
    assert "Traceback" not in proc.stderr


def test_missing_runbooks_dir_is_one_line_naming_it(tmp_path: Path) -> None:
    env = {
        "SLACK_BOT_TOKEN": "xoxb-1",
        "SLACK_SIGNING_SECRET": SECRET,
        "RUNBOOKS_DIR": str(tmp_path / "nope"),
    }
    proc = run(["serve"], tmp_path, timeout=60, **env)
    assert proc.returncode != 0
    lines = output_lines(proc)
    assert len(lines) == 1 and "RUNBOOKS_DIR" in lines[0], lines


def test_invalid_setting_in_dotenv(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("SLACK_BOT_TOKEN=xoxb-1\nSLACK_SIGNING_SECRET=x\nPORT=abc\n")
    proc = run(["serve"], tmp_path, timeout=60)
    assert proc.returncode != 0
    lines = output_lines(proc)
    assert len(lines) == 1 and "PORT" in lines[0], lines


# --- serve for real ------------------------------------------------------------


@pytest.fixture
async def standin() -> AsyncIterator[SlackStandIn]:
    async with SlackStandIn() as slack:
        yield slack
    assert slack.invalid == [], slack.invalid


async def wait_healthy(
    http: aiohttp.ClientSession, base: str, proc: asyncio.subprocess.Process
) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.returncode is not None:
            break
        try:
            async with http.get(base + "/healthz") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.2)
    stderr = b""
    if proc.returncode is not None and proc.stderr is not None:
        stderr = await proc.stderr.read()
    raise AssertionError(f"bot did not become healthy (rc={proc.returncode}): {stderr.decode()}")


async def serve_and_check(tmp_path: Path, slack: SlackStandIn, database_url: str) -> None:
    port = free_port()
    env = base_env(
        SLACK_BOT_TOKEN="xoxb-cli-test",
        SLACK_SIGNING_SECRET=SECRET,
        SLACK_API_URL=slack.url,
        DATABASE_URL=database_url,
        PORT=str(port),
        HOST="127.0.0.1",
    )
    proc = await asyncio.create_subprocess_exec(
        str(BIN),
        "serve",
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            await wait_healthy(http, base, proc)
            async with http.get(base + "/healthz") as response:
                assert response.status == 200
                health = await response.json()
                assert health["runbooks"] >= 12
            async with http.get(base + "/metrics") as response:
                assert response.status == 200
                assert "runbook_bot_" in await response.text()

            signer = SlackSigner(SECRET)
            body = signer.slash_command("/runbook", "list")
            status, answer, _ = await signer.post(http, base + "/slack/events", body)
            assert status == 200, answer
            text = answer.get("text", "") if isinstance(answer, dict) else str(answer)
            for i in range(1, 13):
                assert f"RB-{i:02d}" in text, text
            # An unsigned request is refused.
            async with http.post(
                base + "/slack/events",
                data=body,
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            ) as response:
                assert response.status == 401
            # The request counter moved.
            async with http.get(base + "/metrics") as response:
                assert "runbook_bot_" in await response.text()
        proc.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(proc.communicate(), timeout=30)
        assert proc.returncode == 0, stderr.decode()
        assert b"Traceback" not in stderr, stderr.decode()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_serve_on_sqlite(tmp_path: Path, standin: SlackStandIn) -> None:
    db = tmp_path / "bot.db"
    await serve_and_check(tmp_path, standin, f"sqlite+aiosqlite:///{db}")
    assert db.is_file()


async def test_serve_on_postgresql(tmp_path: Path, standin: SlackStandIn) -> None:
    await ensure_postgres_up()
    url = await create_database()
    try:
        await serve_and_check(tmp_path, standin, url)
    finally:
        await drop_database(url)


# --- migrate, lint, timeline ---------------------------------------------------------


def test_migrate_twice_from_another_directory(tmp_path: Path) -> None:
    db = tmp_path / "data" / "bot.db"
    db.parent.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    url = f"sqlite+aiosqlite:///{db}"
    first = run(["migrate"], elsewhere, DATABASE_URL=url)
    assert first.returncode == 0, first.stderr
    assert "Traceback" not in first.stderr
    second = run(["migrate"], elsewhere, DATABASE_URL=url)
    assert second.returncode == 0, second.stderr
    revision = re.findall(r"revision (\S+)", first.stdout)
    assert revision and revision == re.findall(r"revision (\S+)", second.stdout)
    with sqlite3.connect(db) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        versions = list(conn.execute("SELECT version_num FROM alembic_version"))
    assert {"incidents", "runs", "step_decisions", "timeline_events"} <= tables
    assert len(versions) == 1
    assert not (elsewhere / "runbook-bot.db").exists()


def test_timeline_of_missing_incident(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    assert run(["migrate"], tmp_path, DATABASE_URL=url).returncode == 0
    missing = run(["timeline", "INC-1", "--format", "json"], tmp_path, DATABASE_URL=url)
    assert missing.returncode == 1
    assert "INC-1" in missing.stderr and "Traceback" not in missing.stderr
    bad = run(["timeline", "banana"], tmp_path, DATABASE_URL=url)
    assert bad.returncode != 0 and "Traceback" not in bad.stderr


def test_lint_bundled_library(tmp_path: Path) -> None:
    default = run(["lint"], tmp_path)  # RUNBOOKS_DIR defaults to the bundled library
    assert default.returncode == 0, default.stdout + default.stderr
    explicit = run(["lint", str(REPO / "runbooks")], tmp_path)
    assert explicit.returncode == 0, explicit.stdout + explicit.stderr


GOOD = """\
# Good

## Steps

1. Do the thing.
"""

BROKEN = """\
# Broken

## Background

- restart the service
- check the logs
- tell the channel
"""


def test_lint_broken_folder(tmp_path: Path) -> None:
    folder = tmp_path / "book"
    (folder / "sub").mkdir(parents=True)
    (folder / "good.md").write_text(GOOD)
    (folder / "sub" / "broken.md").write_text(BROKEN)
    (folder / "README.md").write_text("# Folder docs\n\nNo steps here, and that is fine.\n")
    proc = run(["lint", str(folder)], tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    problems = [line for line in output_lines(proc) if re.match(r"^\S+broken\.md:\d+: \S", line)]
    assert problems, proc.stdout + proc.stderr
    assert not any(
        "good.md" in line or "README.md" in line
        for line in output_lines(proc)
        if re.match(r"^\S+:\d+: ", line)
    )
    assert "Traceback" not in proc.stderr
    # A single good file passes.
    ok = run(["lint", str(folder / "good.md")], tmp_path)
    assert ok.returncode == 0, ok.stdout + ok.stderr


@pytest.mark.parametrize(
    "url",
    [
        "sqlite+aiosqlite:///{tmp}/missing/folder/bot.db",
        "postgresql+asyncpg://no_such_role_xyz:pw@127.0.0.1:5432/no_such_db_xyz",
    ],
    ids=["sqlite-missing-folder", "postgres-bad-role"],
)
def test_unusable_database_is_one_line_naming_database_url(tmp_path: Path, url: str) -> None:
    proc = run(["migrate"], tmp_path, DATABASE_URL=url.format(tmp=tmp_path))
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr, proc.stderr
    last = output_lines(proc)[-1]
    assert last.startswith("runbook-bot: DATABASE_URL"), last
