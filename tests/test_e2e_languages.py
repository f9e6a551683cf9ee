"""End to end: alert runbooks in the team's language (Chinese, German, Japanese),
and a repository's own words in `.runbook-bot.yaml`, run as written through the
real app (signed requests, Slack stand-in, PostgreSQL)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.rig import Call, SlackStandIn
from tests.rig.botserver import BotServer
from tests.test_e2e_real_shaped import blocks_text
from tests.test_e2e_runbook import is_step, kinds
from tests.test_runbook_languages import BODY, CUSTOM, LANGUAGES

# runbook id, the steps' headers, a line of each step's text (its commands).
RUNS = {
    "zh": (
        "KubePodCrashLooping",
        ["诊断 · step 1 of 2", "缓解 · step 2 of 2"],
        [
            "kubectl -n $NAMESPACE logs $POD --previous --tail=100",
            "kubectl -n $NAMESPACE rollout restart deployment/$DEPLOYMENT",
        ],
    ),
    "de": (
        "KubeDeploymentReplicasMismatch",
        ["Fehlersuche · step 1 of 2", "Behebung · step 2 of 2"],
        [
            "kubectl -n $NAMESPACE get pods -l app=$APP -o wide",
            "kubectl -n $NAMESPACE rollout status deployment/$DEPLOYMENT",
        ],
    ),
    "ja": (
        "KubePersistentVolumeFillingUp",
        ["診断 · step 1 of 3", "対応手順 · step 2 of 3", "対応手順 · step 3 of 3"],
        [
            "kubectl -n $NAMESPACE exec $POD -- df -h $MOUNT_PATH",
            "ボリュームの拡張",
            "古いログやスナップショットを削除します",
        ],
    ),
}


async def run_through(bot: BotServer, slack: SlackStandIn, runbook_id: str) -> list[Call]:
    """Start a run and approve every step; return the step messages posted."""
    response = await bot.command("/runbook", f"start {runbook_id} alert fired")
    assert response.status == 200 and response.text == ""
    steps: list[Call] = []
    total = bot.ctx.library.get(runbook_id).step_count
    for k in range(1, total + 1):
        steps = await slack.wait_for("chat.postMessage", is_step, count=k)
        click = await bot.click(steps[k - 1], "step_approve", user_id="UBOB")
        assert click.status == 200
    done = await slack.wait_for("chat.postMessage", lambda c: "completed" in c.args["text"])
    assert f"{total} approved" in done[0].args["text"]
    await bot.settle()
    return steps


@pytest.mark.parametrize("language", sorted(RUNS))
async def test_alert_runbook_in_the_teams_language_runs_as_written(
    make_bot, slack: SlackStandIn, language: str
) -> None:
    runbook_id, headers, lines = RUNS[language]
    bot: BotServer = await make_bot(runbooks_dir=LANGUAGES)
    assert bot.ctx.library.errors == []
    steps = await run_through(bot, slack, runbook_id)
    assert len(steps) == len(headers)
    for step, header, line in zip(steps, headers, lines, strict=True):
        shown = blocks_text(step)
        assert header in shown and line in shown, shown
    assert await kinds(bot) == [
        "incident_opened",
        "runbook_started",
        "step_approved",
        "incident_acknowledged",  # by the first decision
        *["step_approved"] * (len(headers) - 1),
        "runbook_completed",
    ]


def custom_book(tmp_path: Path, config: str) -> Path:
    folder = tmp_path / "book"
    (folder / "de").mkdir(parents=True)
    (folder / "de" / "DatenbankVoll.md").write_text(CUSTOM.format(body=BODY))
    shutil.copy(LANGUAGES / "zh" / "KubePodCrashLooping.md", folder / "zh-crashloop.md")
    (folder / ".runbook-bot.yaml").write_text(config)
    return folder


async def test_a_word_from_the_repositorys_settings_runs_its_phase(
    make_bot, slack: SlackStandIn, tmp_path: Path
) -> None:
    folder = custom_book(tmp_path, "action_phases: [Fehlerbehebung]\n")
    bot: BotServer = await make_bot(runbooks_dir=folder)
    assert bot.ctx.library.errors == []
    (step,) = await run_through(bot, slack, "DatenbankVoll")
    shown = blocks_text(step)
    assert "Fehlerbehebung · step 1 of 1" in shown and "pg_archivecleanup" in shown


async def test_a_malformed_settings_file_leaves_the_built_in_words(
    make_bot, slack: SlackStandIn, tmp_path: Path
) -> None:
    folder = custom_book(tmp_path, "action_phases: Fehlerbehebung, Playbook\n")
    bot: BotServer = await make_bot(runbooks_dir=folder)
    (error,) = [str(p) for p in bot.ctx.library.errors if ".runbook-bot.yaml" in p.path]
    assert error.startswith(f"{folder}/.runbook-bot.yaml:1: action_phases must be a list of words")
    assert bot.ctx.library.action_phases == ()
    # The runbook that needed the file's word is out; the Chinese one runs.
    refused = await bot.command("/runbook", "start DatenbankVoll disk full")
    assert "Unknown runbook" in refused.text
    steps = await run_through(bot, slack, "zh-crashloop")
    assert "诊断 · step 1 of 2" in blocks_text(steps[0])
    assert "缓解 · step 2 of 2" in blocks_text(steps[1])
