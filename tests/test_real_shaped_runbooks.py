"""Real-shaped alert runbooks (tests/fixtures/real_shaped/, written in the shapes of
openshift/runbooks `alerts/` and prometheus-operator/runbooks `content/runbooks/`)
run as written (SPEC §11): each parses to the steps listed here. Pure."""

from __future__ import annotations

from pathlib import Path

from bot.runbook import Severity, fix_text, load_library, parse_runbook
from bot.runbook.library import discover

CORPUS = Path(__file__).parent / "fixtures" / "real_shaped"
W, L = True, False  # a whole-phase (or ### subsection) step / a list item step

# file -> (phase, the step text's first 44 characters, whole_phase) in run order
EXPECTED: dict[str, list[tuple[str, str, bool]]] = {
    "openshift/cluster-etcd-operator/etcdHighFsyncDurations.md": [
        ("Diagnosis", "Disk latency", W),
        ("Diagnosis", "Noisy neighbours", W),
        ("Mitigation", "Mitigation", W),
    ],
    "openshift/cluster-monitoring-operator/KubeJobFailed.md": [
        ("Diagnosis", "Diagnosis", W),
        ("Mitigation", "Mitigation", W),
    ],
    "openshift/cluster-monitoring-operator/PrometheusDuplicateTimestamps.md": [
        ("Diagnosis", "Diagnosis", W),
        ("Mitigation", "Mitigation", W),
    ],
    "openshift/cluster-network-operator/NoRunningOvnControlPlane.md": [
        ("Diagnosis", "Pods", W),
        ("Diagnosis", "Events", W),
        ("Mitigation", "Pods pending", W),
        ("Mitigation", "Pods crash looping", W),
    ],
    "openshift/cluster-version/CannotRetrieveUpdates.md": [
        ("Troubleshooting", "Troubleshooting", W),
    ],
    "openshift/cluster-version/ClusterOperatorDown.md": [
        ("Cluster operator down", "Find the operator: `oc get clusteroperators`", L),
        ("Cluster operator down", "Read its conditions: `oc describe clusterope", L),
        ("Cluster operator down", "Follow the operator's own runbook for the re", L),
    ],
    "openshift/cluster-version/UpdateAvailable.md": [
        ("How to fix", "How to fix", W),
    ],
    "openshift/ingress/HAProxyDown.md": [
        ("HAProxyDown", "Check that the router pod is running: `oc ge", L),
        ("HAProxyDown", "Read the router logs for HAProxy reload erro", L),
        ("HAProxyDown", "Restart the router pod if HAProxy does not c", L),
    ],
    "openshift/kube-apiserver/KubeAPIErrorBudgetBurn.md": [
        ("Diagnosis", "Which requests", W),
        ("Diagnosis", "Which server", W),
        ("Mitigation", "Stop the client that floods the API, if the ", L),
        ("Mitigation", "Restart the unhealthy API server instance.", L),
    ],
    "openshift/machine-config-operator/MCDDrainError.md": [
        ("Diagnosis", "Find the node from the alert and read the da", L),
        ("Diagnosis", "Note the pod the drain is waiting for, usual", L),
        ("Mitigation", "Relax the PodDisruptionBudget, or move the b", L),
        ("Mitigation", "Watch the drain finish: `oc get nodes -w`.", L),
    ],
    "openshift/virtualization/VirtLauncherPodsStuckFailed.md": [
        ("Diagnosis", "List the failed pods:", L),
        ("Diagnosis", "Describe one of them and read its events.", L),
        ("Mitigation", "Fix the node problem that the events point a", L),
        ("Mitigation", "Delete the failed pods:", L),
    ],
    "prometheus-operator/alertmanager/AlertmanagerFailedReload.md": [
        ("Diagnosis", "Diagnosis", W),
        ("Mitigation", "Mitigation", W),
    ],
    "prometheus-operator/etcd/etcdMembersDown.md": [
        ("Mitigation", "Mitigation", W),
    ],
    "prometheus-operator/kubernetes/KubeDeploymentReplicasMismatch.md": [
        ("Diagnosis", "Diagnosis", W),
        ("Mitigation", "Not enough resources in the cluster", W),
        ("Mitigation", "A bad rollout", W),
        ("Mitigation", "Pod disruption budget", W),
    ],
    "prometheus-operator/kubernetes/KubePersistentVolumeFillingUp.md": [
        ("Diagnosis", "Diagnosis", W),
        ("Mitigation", "Delete data the workload no longer needs, if", L),
        ("Mitigation", "Expand the claim when its storage class allo", L),
        ("Mitigation", "Otherwise migrate the data to a bigger volum", L),
    ],
    "prometheus-operator/kubernetes/KubePodCrashLooping.md": [
        ("Diagnosis", "Diagnosis", W),
        ("Mitigation", "Mitigation", W),
    ],
    "prometheus-operator/kubernetes/KubePodNotReady.md": [
        ("Diagnosis", "Diagnosis", W),
        ("Mitigation", "Mitigation", W),
    ],
    "prometheus-operator/node/NodeFilesystemSpaceFillingUp.md": [
        ("Diagnosis", "Find the filesystem from the alert's `mountp", L),
        ("Diagnosis", "Look at the largest directories: `sudo du -x", L),
        ("Mitigation", "Container images", W),
        ("Mitigation", "Logs", W),
    ],
    "prometheus-operator/prometheus/PrometheusRuleFailures.md": [
        ("Mitigation", "Find the failing rule group in the Prometheu", L),
        ("Mitigation", "Run the rule's expression in the console to ", L),
        ("Mitigation", "Check that the rule file was linted with `pr", L),
        ("Mitigation", "Fix the expression (often a many-to-many mat", L),
    ],
}
NOT_RUNNABLE = {"prometheus-operator/general/InfoInhibitor.md"}  # no steps, bare Mitigation


def rel(path: str) -> str:
    return Path(path).relative_to(CORPUS).as_posix()


def test_every_real_shaped_runbook_parses_to_its_steps() -> None:
    library = load_library(CORPUS)
    got = {
        rel(rb.path): [(p.name, s.text[:44], s.whole_phase) for p, s in rb.steps]
        for rb in library.runbooks.values()
    }
    assert got == EXPECTED
    files, _ = discover([CORPUS])
    assert {rel(str(f)) for f in files} == set(EXPECTED) | NOT_RUNNABLE  # _index.md skipped
    errors = [(rel(p.path), p.line, p.message) for p in library.errors]
    assert errors == [
        (
            "prometheus-operator/general/InfoInhibitor.md",
            1,
            "no steps: 3 sections (Meaning, Impact, Mitigation) but no numbered (1.) or "
            "checkbox (- [ ]) items, and no action phase with text (Steps, Procedure, "
            "Diagnosis, Mitigation, Verification, ...)",
        )
    ]


def test_share_that_runs_as_written() -> None:
    files, _ = discover([CORPUS])
    runnable = sum(
        (rb := parse_runbook(f.read_bytes(), str(f))[0]) is not None and rb.step_count > 0
        for f in files
    )
    # Before SPEC §11 the same corpus ran 8 of 20 (see docs/runbook-format.md).
    assert (runnable, len(files)) == (19, 20)


def test_whole_phase_steps_carry_the_phase_text() -> None:
    library = load_library(CORPUS)
    crash = library.get("KubePodCrashLooping")
    assert crash is not None and crash.title == "Kube Pod Crash Looping"
    assert crash.extra == {"weight": 20}
    (diag_phase, diagnosis), (_, mitigation) = crash.steps
    assert diagnosis.context[0].startswith("- Look at the pod's state with `kubectl")
    assert diagnosis.context[0].count("\n- ") == 2
    assert mitigation.context[0].startswith("Fix what the logs and events point at")
    assert diag_phase.intro == ()
    not_ready = library.get("KubePodNotReady")
    assert not_ready is not None
    assert not_ready.extra["aliases"] == [
        "/kubepodnotready/",
        "/runbooks/kubernetes/kubepodnotready/",
    ]
    mismatch = library.get("KubeDeploymentReplicasMismatch")
    assert mismatch is not None
    mitigation_phase = mismatch.phases[3]
    assert mitigation_phase.intro == ("Find out which of these applies before changing anything.",)
    assert mitigation_phase.steps[1].context == (
        "Roll back to the previous revision:",
        "```shell\nkubectl -n $NAMESPACE rollout undo deployment/$DEPLOYMENT\n```",
    )


def test_every_loaded_runbook_warns_only_where_it_runs_whole_phases() -> None:
    library = load_library(CORPUS)
    whole = {
        rel(rb.path) for rb in library.runbooks.values() if any(s.whole_phase for _, s in rb.steps)
    }
    warned = {
        rel(p.path)
        for p in library.problems
        if p.severity is Severity.WARNING and p.message.startswith("runs each action phase")
    }
    assert warned == whole and len(whole) == 14


def test_lint_fix_still_numbers_what_it_can() -> None:
    # --fix is unchanged and still preferred: one step per bullet or command.
    path = CORPUS / "prometheus-operator" / "kubernetes" / "KubePodCrashLooping.md"
    fixed, _ = parse_runbook(fix_text(path.read_text(), str(path)), str(path))
    assert fixed is not None
    assert [(p.name, s.whole_phase) for p, s in fixed.steps] == [
        ("Diagnosis", False),
        ("Diagnosis", False),
        ("Diagnosis", False),
        ("Mitigation", True),  # prose: nothing to number, still runs as one step
    ]
