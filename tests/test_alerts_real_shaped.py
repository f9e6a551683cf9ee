"""End to end: real-shaped alert runbooks (tests/fixtures/real_shaped/) reached
from an alert — by its runbook_url slug or its name — started with the alert
message's Start runbook button and walked step by step to completion, through
the real app (Alertmanager's POST, signed clicks, the stand-in, PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.alerts import blocks
from bot.runs.blocks import APPROVE
from tests.alert_support import TOKEN, alert, deliver, kinds, notification
from tests.conftest import BotFactory
from tests.rig import Call, SlackStandIn

CORPUS = Path(__file__).parent / "fixtures" / "real_shaped"
PROM = "https://runbooks.prometheus-operator.dev/runbooks"
OPENSHIFT = "https://github.com/openshift/runbooks/blob/master/alerts"

CASES = [
    # (alert name, runbook_url, runbook it must find); shapes as the fixtures' README says
    ("KubePodCrashLooping", f"{PROM}/kubernetes/kubepodcrashlooping/", "KubePodCrashLooping"),
    (
        "etcdHighFsyncDurations",  # ### subsections as steps
        f"{OPENSHIFT}/cluster-etcd-operator/etcdHighFsyncDurations.md",
        "etcdHighFsyncDurations",
    ),
    ("HAProxyDown", None, "HAProxyDown"),  # no phases: its numbered items
    (
        "PVFillingUp",  # front matter with weight/aliases; found by the slug only
        f"{PROM}/kubernetes/kubepersistentvolumefillingup",
        "KubePersistentVolumeFillingUp",
    ),
    (
        "KubeAPIErrorBudgetBurn",  # `1)` items after ### subsections
        f"{OPENSHIFT}/kube-apiserver/KubeAPIErrorBudgetBurn.md",
        "KubeAPIErrorBudgetBurn",
    ),
    (
        "PrometheusRuleFailures",
        f"{PROM}/prometheus/prometheusrulefailures/",
        "PrometheusRuleFailures",
    ),
    ("NodeFilesystemSpaceFillingUp", None, "NodeFilesystemSpaceFillingUp"),
]


def is_step(call: Call) -> bool:
    return call.method == "chat.postMessage" and any(
        e.get("action_id") == APPROVE
        for b in call.args.get("blocks", [])
        if b.get("type") == "actions"
        for e in b["elements"]
    )


@pytest.mark.parametrize(("name", "url", "runbook_id"), CASES, ids=[c[2] for c in CASES])
async def test_alert_to_completed_run(
    make_bot: BotFactory, slack: SlackStandIn, name: str, url: str | None, runbook_id: str
) -> None:
    bot = await make_bot(alert_webhook_token=TOKEN, alert_channel="C_ALERTS", runbooks_dir=CORPUS)
    runbook = bot.ctx.library.get(runbook_id)
    assert runbook is not None and runbook.step_count >= 1
    assert (await deliver(bot, notification(alert(name, runbook_url=url))))[0] == 200
    (post,) = await slack.wait_for("chat.postMessage")
    assert f"runbook {runbook_id}" in post.args["text"]
    await bot.settle()
    assert (await bot.click(post, blocks.START, user_id="UALICE")).status == 200
    for n in range(1, runbook.step_count + 1):
        steps = await slack.wait_for("chat.postMessage", is_step, count=n)
        await bot.settle()
        assert (await bot.click(steps[-1], APPROVE, user_id="UBOB")).status == 200
    await slack.wait_for("chat.postMessage", lambda c: "completed" in c.args["text"])
    await bot.settle()
    assert len([c for c in slack.calls if is_step(c)]) == runbook.step_count
    events = await kinds(bot, 1)
    assert events[:3] == ["incident_opened", "runbook_started", "alert_fired"]
    assert events.count("step_approved") == runbook.step_count
    assert events[-1] == "runbook_completed"
