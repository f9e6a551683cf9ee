"""Packaging: the wheel carries the bundled runbooks and migrations; the Slack app
manifests and the Dockerfile declare what docs/slack-setup.md promises."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
MANIFESTS = {
    "http": REPO / "slack" / "manifest.http.yaml",
    "socket": REPO / "slack" / "manifest.socket.yaml",
}
SCOPES = {
    "commands",
    "chat:write",
    "chat:write.public",
    "usergroups:read",
    "channels:read",
    "groups:read",
    "channels:history",
    "groups:history",
}
EVENTS_URL = "https://YOUR-HOST/slack/events"


def test_wheel_bundles_runbooks_and_migrations(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", str(REPO), "-w", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (wheel,) = tmp_path.glob("runbook_bot-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "bot/_bundled/runbooks/RB-04.md" in names
    assert "bot/_bundled/migrations/env.py" in names
    # The playground's page is package data: the installed bot serves it itself.
    for name in ("index.html", "app.js", "blocks.js", "mrkdwn.js", "style.css"):
        assert f"bot/playground/static/{name}" in names
    # And its demo runbook with the program its steps run.
    assert {"bot/playground/demo/RB-00.md", "bot/playground/demo/health_check.py"} <= names
    assert any(re.match(r"bot/_bundled/migrations/versions/\w+\.py$", n) for n in names)
    for i in range(1, 13):
        assert f"bot/_bundled/runbooks/RB-{i:02d}.md" in names
    assert "bot/cli.py" in names and "commands/__init__.py" in names
    assert not any("__pycache__" in n or n.startswith("tests/") for n in names)
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "runbook-bot = bot.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


@pytest.mark.parametrize("mode", sorted(MANIFESTS))
def test_manifest_declares_both_commands(mode: str) -> None:
    manifest = yaml.safe_load(MANIFESTS[mode].read_text())
    features = manifest["features"]
    assert features["bot_user"]["display_name"]
    commands = {c["command"]: c for c in features["slash_commands"]}
    assert set(commands) == {"/runbook", "/incident"}
    for command in commands.values():
        assert command["description"] and command["usage_hint"]
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == SCOPES
    settings = manifest["settings"]
    assert settings["interactivity"]["is_enabled"] is True
    # The App Home tab and the one event it needs (SPEC §8).
    assert features["app_home"]["home_tab_enabled"] is True
    assert settings["event_subscriptions"]["bot_events"] == ["app_home_opened"]
    assert len(manifest["display_information"]["description"]) <= 140
    if mode == "http":
        assert settings["socket_mode_enabled"] is False
        assert all(c["url"] == EVENTS_URL for c in commands.values())
        assert settings["interactivity"]["request_url"] == EVENTS_URL
        assert settings["event_subscriptions"]["request_url"] == EVENTS_URL
    else:
        assert settings["socket_mode_enabled"] is True
        assert "YOUR-HOST" not in MANIFESTS[mode].read_text()
        assert all("url" not in c for c in commands.values())
        assert "request_url" not in settings["interactivity"]
        assert "request_url" not in settings["event_subscriptions"]


def test_dockerfile_runs_serve_as_non_root() -> None:
    lines = [
        line.strip()
        for line in (REPO / "Dockerfile").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    # One pinned base for both stages (a patch release, not a floating tag).
    base = next(line.split("=", 1)[1] for line in lines if line.startswith("ARG PYTHON_IMAGE="))
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", base), base
    froms = [line for line in lines if line.startswith("FROM ")]
    assert froms and all(line.split()[1] == "${PYTHON_IMAGE}" for line in froms)
    # Numeric, so Kubernetes' runAsNonRoot can verify it without /etc/passwd.
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and re.fullmatch(r"[1-9]\d*:[1-9]\d*", users[-1]), users
    assert "EXPOSE 3000" in lines
    assert any(line.startswith("HEALTHCHECK") for line in lines)
    assert "/healthz" in (REPO / "Dockerfile").read_text()
    assert lines[-2] == 'ENTRYPOINT ["/usr/bin/tini", "--"]'
    assert lines[-1] == 'CMD ["runbook-bot", "serve"]'
    # Dependencies only from the lock, with hashes; no anonymous volume.
    assert "--require-hashes -r requirements.lock" in (REPO / "Dockerfile").read_text()
    assert not any(line.startswith("VOLUME") for line in lines)
    ignored = (REPO / ".dockerignore").read_text().split()
    assert ".venv" in ignored and ".git" in ignored
