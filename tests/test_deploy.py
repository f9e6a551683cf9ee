"""compose.yaml and deploy/kubernetes/ as their tools read them: podman-compose's
own parser, and kubernetes-validate against the Kubernetes API schemas (strict:
a misspelt field fails). The image they run is smoke-tested by `make image-test`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
KUBE = REPO / "deploy" / "kubernetes"
K8S_VERSION = "1.30.0"
DOTENV = "SLACK_BOT_TOKEN=xoxb-1\nSLACK_SIGNING_SECRET=secret\nPOSTGRES_PASSWORD=pw-from-env\n"


def compose_config(folder: Path) -> subprocess.CompletedProcess[str]:
    (folder / "compose.yaml").write_text((REPO / "compose.yaml").read_text())
    return subprocess.run(
        [sys.executable, "-m", "podman_compose", "config"],
        cwd=folder, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_compose_runs_the_bot_with_postgres_and_secrets_from_dotenv(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(DOTENV)
    done = compose_config(tmp_path)
    assert done.returncode == 0, done.stderr
    services = yaml.safe_load(done.stdout)["services"]
    bot, db = services["bot"], services["db"]
    assert bot["init"] is True
    assert bot["env_file"] == [".env"]
    assert bot["depends_on"]["db"]["condition"] == "service_healthy"
    assert "pw-from-env@db:5432" in bot["environment"]["DATABASE_URL"]
    assert db["environment"]["POSTGRES_PASSWORD"] == "pw-from-env"
    assert "/healthz" in " ".join(bot["healthcheck"]["test"])
    assert "pg_isready" in db["healthcheck"]["test"]
    assert bot["read_only"] is True and "/tmp" in bot["tmpfs"]
    assert "3000:3000" in bot["ports"]
    assert not any(":" not in v for v in db.get("volumes", [])), "no anonymous volume"


def test_compose_without_a_password_says_what_to_set(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("SLACK_BOT_TOKEN=xoxb-1\n")
    done = compose_config(tmp_path)
    assert done.returncode != 0 or "Error" in done.stderr
    assert "set POSTGRES_PASSWORD in .env" in done.stderr + done.stdout


def manifests() -> list[dict[str, Any]]:
    docs = []
    for path in sorted(KUBE.glob("*.yaml")):
        if path.name != "kustomization.yaml":
            docs += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return docs


def by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in manifests() if d["kind"] == kind}


@pytest.mark.parametrize("doc", manifests(), ids=lambda d: f"{d['kind']}/{d['metadata']['name']}")
def test_manifest_is_valid_kubernetes(doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_kustomization_lists_every_manifest() -> None:
    listed = yaml.safe_load((KUBE / "kustomization.yaml").read_text())["resources"]
    present = sorted(p.name for p in KUBE.glob("*.yaml") if p.name != "kustomization.yaml")
    assert sorted(listed) == present


def pod_specs() -> dict[str, dict[str, Any]]:
    specs = {n: d["spec"]["template"]["spec"] for n, d in by_kind("Deployment").items()}
    specs.update({n: d["spec"]["template"]["spec"] for n, d in by_kind("Job").items()})
    return specs


def test_serve_has_replicas_probes_and_a_service() -> None:
    serve = by_kind("Deployment")["runbook-bot"]
    assert serve["spec"]["replicas"] == 2
    container = serve["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == ["runbook-bot", "serve"]
    # /healthz is 503 while Slack refuses the token: readiness, never liveness.
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
    assert "/healthz" not in str(container["livenessProbe"])
    service = by_kind("Service")["runbook-bot"]
    assert service["spec"]["selector"] == serve["spec"]["template"]["metadata"]["labels"]


def test_worker_runs_apart_and_serve_leaves_delivery_to_it() -> None:
    worker = by_kind("Deployment")["runbook-bot-worker"]
    assert worker["spec"]["template"]["spec"]["containers"][0]["args"] == [
        "runbook-bot",
        "worker",
    ]
    assert by_kind("ConfigMap")["runbook-bot"]["data"]["WORKER"] == "external"
    job = by_kind("Job")["runbook-bot-migrate"]["spec"]["template"]["spec"]
    assert job["containers"][0]["args"] == ["runbook-bot", "migrate"]


def test_every_pod_is_non_root_read_only_with_requests_and_secrets() -> None:
    secret = by_kind("Secret")["runbook-bot"]["stringData"]
    assert {"SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "DATABASE_URL"} <= set(secret)
    for name, spec in pod_specs().items():
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["runAsUser"] == 10001, name
        for container in spec["containers"]:
            assert container["securityContext"]["readOnlyRootFilesystem"] is True, name
            assert container["securityContext"]["allowPrivilegeEscalation"] is False, name
            assert {"cpu", "memory"} <= set(container["resources"]["requests"]), name
            refs = [s.get("secretRef", {}).get("name") for s in container["envFrom"]]
            assert "runbook-bot" in refs, name
