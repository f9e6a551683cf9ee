"""Shared by the executable-step tests: a runbook whose steps run real
programs (this Python, no shell), and what to read back from Slack's stand-in
and the database."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.store.executions import Execution
from bot.store.models import TimelineEvent
from tests.rig import Call, SlackStandIn
from tests.rig.botserver import BotServer
from tests.test_e2e_incident import is_step, text_of

PY = sys.executable

# Prints 30 numbered lines and the secret it was given, then exits with argv[1]
# — or, with a marker file, fails until the marker exists (then creates it).
SCRIPT = """
import os, sys, time
for n in range(1, 31):
    print(f"line {n}")
print("token=" + os.environ.get("TOKEN", ""))
sys.stdout.flush()
time.sleep(float(sys.argv[2]))
marker = sys.argv[3] if len(sys.argv) > 3 else ""
if marker:
    if not os.path.exists(marker):
        open(marker, "w").close()
        sys.exit(3)
    sys.exit(0)
sys.exit(int(sys.argv[1]))
"""
SECRET = "s3cr3t-value-42"


def write_runbook(folder: Path, steps: list[str], actions: list[dict[str, Any]]) -> Path:
    folder.mkdir(exist_ok=True)
    body = "\n".join(f"{n}. {text}" for n, text in enumerate(steps, start=1))
    (folder / "RB-X.md").write_text(
        "---\nid: RB-X\ntitle: Executable\nseverity: SEV2\n---\n\n# Executable\n\n"
        "## Steps\n\n" + body + "\n"
    )
    (folder / "actions.yaml").write_text(json.dumps({"actions": actions}))  # JSON is YAML
    return folder


def command(action_id: str, *args: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": action_id,
        "kind": "command",
        "argv": [PY, "-c", SCRIPT, *args],
        "env": {"TOKEN": "${RB_TEST_SECRET}"},
        **extra,
    }


async def executions(bot: BotServer) -> list[Execution]:
    async with bot.ctx.sessions() as session:
        return list((await session.scalars(select(Execution).order_by(Execution.id))).all())


async def events(bot: BotServer, *kinds: str) -> list[tuple[str, str | None, dict[str, Any]]]:
    async with bot.ctx.sessions() as session:
        rows = await session.execute(
            select(TimelineEvent.kind, TimelineEvent.actor, TimelineEvent.data).order_by(
                TimelineEvent.id
            )
        )
        return [(k, a, d) for k, a, d in rows if not kinds or k in kinds]


def shown(slack: SlackStandIn, call: Call) -> str:
    return str(slack.message(call.args["channel"], call.ts))


def buttons(slack: SlackStandIn, call: Call) -> list[str]:
    message = slack.message(call.args["channel"], call.ts)
    return [
        e["action_id"]
        for b in message.get("blocks", [])
        if b.get("type") == "actions"
        for e in b["elements"]
    ]


async def started(bot: BotServer, slack: SlackStandIn, n: int = 1) -> Call:
    await bot.command("/runbook", "start RB-X", user_id="UANA")
    return (await slack.wait_for("chat.postMessage", is_step, count=n, timeout=15))[-1]


async def updated_with(slack: SlackStandIn, step: Call, text: str, timeout: float = 20) -> Call:
    return (
        await slack.wait_for(
            "chat.update",
            lambda c: c.args["ts"] == step.ts and text in text_of(c),
            timeout=timeout,
        )
    )[-1]


async def output_posted(slack: SlackStandIn, count: int = 1) -> list[Call]:
    return await slack.wait_for(
        "chat.postMessage", lambda c: "Output of step" in c.args["text"], count=count, timeout=20
    )


@pytest.fixture(autouse=True)
def action_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """The secret an action's environment names (``${RB_TEST_SECRET}``)."""
    monkeypatch.setenv("RB_TEST_SECRET", SECRET)
