"""Runbooks in the team's language (SPEC §11): action-phase words in six languages,
a repository's own words in `.runbook-bot.yaml`, and lint / --fix on both. Pure
parsing, plus `run_lint` and `load_library` over real folders."""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import pytest

from bot.runbook import Severity, fix_text, is_action_phase, load_library, parse_runbook
from bot.runbook.lint import run_lint
from bot.runbook.phases import ACTION_WORDS
from tests.test_cli import run as run_cli

LANGUAGES = Path(__file__).parent / "fixtures" / "languages"
WHOLE = "runs each action phase as one step: number the steps to run them one at a time"

# What each runbook in tests/fixtures/languages runs, in order: "phase" for a step
# that is the whole phase, "phase: subsection" for one per ### subsection.
EXPECTED = {
    "zh/KubePodCrashLooping.md": ("诊断", "缓解"),
    "zh/NodeFilesystemSpaceFillingUp.md": ("诊断", "缓解: 容器镜像", "缓解: 日志"),
    "zh/KubeJobFailed.md": ("排查步骤", "处理方法"),
    "zh/etcdMembersDown.md": ("诊断", "缓解"),
    "ja/KubePodNotReady.md": ("調査", "対処"),
    "ja/AlertmanagerFailedReload.md": ("診断", "緩和"),
    "ja/KubePersistentVolumeFillingUp.md": (
        "診断", "対応手順: ボリュームの拡張", "対応手順: 不要なデータの削除",
    ),
    "de/KubeDeploymentReplicasMismatch.md": ("Fehlersuche", "Behebung"),
    "de/PrometheusRuleFailures.md": ("Untersuchung", "Abhilfe"),
    "de/etcdHighNumberOfFailedGRPCRequests.md": (
        "Diagnose", "Maßnahmen: Langsame Festplatte", "Maßnahmen: Überlastetes Netzwerk",
    ),
    "fr/KubeAPIErrorBudgetBurn.md": ("Dépannage", "Atténuation"),
    "fr/KubeNodeNotReady.md": ("Diagnostic", "Étapes de résolution"),
    "es/KubeContainerWaiting.md": ("Investigación", "Mitigación"),
    "es/TargetDown.md": ("Diagnóstico", "Resolución"),
    "pt/KubeHpaMaxedOut.md": ("Investigação", "Mitigação"),
    "pt/KubeStatefulSetReplicasMismatch.md": ("Diagnóstico", "Ações imediatas"),
}  # fmt: skip


def lint(*paths: Path | str, fix: bool = False, runbooks_dir: Path | None = None):
    out, err = io.StringIO(), io.StringIO()
    status = run_lint([str(p) for p in paths], fix=fix, out=out, err=err, runbooks_dir=runbooks_dir)
    assert err.getvalue() == ""
    return status, out.getvalue().splitlines()


# --- the words ------------------------------------------------------------------


def test_every_word_of_the_table_makes_an_action_phase() -> None:
    missed = [w for words in ACTION_WORDS.values() for w in words if not is_action_phase(w)]
    assert missed == []
    assert set(ACTION_WORDS) == {"Chinese", "Japanese", "German", "French", "Spanish", "Portuguese"}


def test_chinese_and_japanese_match_anywhere_the_others_as_a_word_start() -> None:
    yes = [
        "排查步骤", "应急处理", "故障诊断与修复", "対応手順", "障害の調査", "復旧作業",
        "Überprüfung", "ÜBERPRÜFUNG", "überprüfen", "Schritt-für-Schritt-Anleitung",
        "Maßnahmen", "MASSNAHMEN", "Lo\u0308sung",  # composed or not, the same letters
        "Étapes", "étape 2", "ÉTAPES DE RÉSOLUTION", "Résoudre l'incident",
        "Pasos a seguir", "Acciones", "Ações imediatas", "Passo a passo", "VERIFICAÇÃO",
    ]  # fmt: skip
    no = [
        "含义", "影响", "概要", "影響", "意味", "Bedeutung", "Auswirkung", "Problemlösung",
        "Signification", "Impacto", "Significado", "Compasso", "Rollback 步骤",
        "Roll back: Schritte", "Verificação log",
    ]  # fmt: skip
    assert [n for n in yes if not is_action_phase(n)] == []
    assert [n for n in no if is_action_phase(n)] == []


def test_a_repositorys_own_words_match_like_the_stems() -> None:
    extra = ("Playbook", "Runbook-Schritte", "预案")
    assert is_action_phase("Playbooks", extra) and is_action_phase("PLAYBOOK für Ausfälle", extra)
    assert is_action_phase("Die Runbook-Schritte", extra)
    assert is_action_phase("应急预案", extra)  # Chinese: anywhere, as in the table
    assert not is_action_phase("Playbook", ()) and not is_action_phase("MyPlaybook", extra)


# --- runbooks as written ----------------------------------------------------------


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_language_runbook_runs_its_action_phases_as_written(name: str) -> None:
    runbook, problems = parse_runbook((LANGUAGES / name).read_bytes(), name)
    assert [p for p in problems if p.severity is Severity.ERROR] == []
    assert runbook is not None
    shown = [p.name if s.text == p.name else f"{p.name}: {s.text}" for p, s in runbook.steps]
    assert tuple(shown) == EXPECTED[name]
    assert all(s.whole_phase for _, s in runbook.steps)
    assert all(s.context for _, s in runbook.steps)  # the phase's prose and commands
    whole = [p for p in problems if p.message.startswith(WHOLE)]
    assert len(whole) == 1 and whole[0].severity is Severity.WARNING


def test_lint_passes_the_language_folder_and_names_phases_as_written() -> None:
    status, lines = lint(LANGUAGES)
    assert status == 0
    assert lines[-1] == "16 files checked, 0 errors, 18 warnings"  # 2 are front matter `weight`
    assert (
        f"{LANGUAGES}/zh/KubePodCrashLooping.md:16: warning: {WHOLE}, or run lint --fix — "
        + (
            "诊断 (the whole section, 2 paragraphs with commands), "
            "缓解 (the whole section, 1 paragraph with commands)"
        )
        in lines
    )
    assert any(
        "— 診断 (the whole section" in line and "対応手順 (2 ### subsections" in line
        for line in lines
    )
    assert any("— Fehlersuche (the whole section" in line for line in lines)


def test_fix_numbers_bullets_in_a_chinese_action_phase(tmp_path: Path) -> None:
    source = "# 告警\n\n## 含义\n\n- 服务变慢\n\n## 缓解\n\n- 扩容\n- 重启服务\n"
    fixed = fix_text(source, "rb.md")
    assert fixed == "# 告警\n\n## 含义\n\n- 服务变慢\n\n## 缓解\n\n1. 扩容\n2. 重启服务\n"
    (tmp_path / "rb.md").write_text(source)
    status, lines = lint(tmp_path, fix=True)
    assert (status, lines[0]) == (0, f"fixed {tmp_path}/rb.md (2 steps numbered)")
    runbook, _ = parse_runbook((tmp_path / "rb.md").read_text(), "rb.md")
    assert runbook is not None and [s.text for _, s in runbook.steps] == ["扩容", "重启服务"]


def test_no_steps_lists_the_words_looked_for_when_phases_are_in_another_language() -> None:
    korean = "# 경고\n\n## 의미\n\n서비스가 느립니다.\n\n## 완화\n\n서비스를 다시 시작하세요.\n"
    runbook, problems = parse_runbook(korean, "ko.md")
    assert runbook is None
    (problem,) = problems
    assert problem.severity is Severity.ERROR
    assert problem.message.startswith("no steps: 2 sections (의미, 완화) but no numbered")
    looked = ["English: step(s), procedure(s)", "Chinese: 步骤 操作", "Japanese: 手順"]
    looked += ["German: schritt", "Portuguese: passo", "action_phases in .runbook-bot.yaml"]
    assert [w for w in looked if w not in problem.message] == []
    # With the team's own word, the same file runs; English names keep the short message.
    assert parse_runbook(korean, "ko.md", ("완화",))[0] is not None
    _, english = parse_runbook("## Meaning\n\nx\n\n## Impact\n\ny\n", "en.md")
    assert "Chinese" not in english[0].message and "action_phases" not in english[0].message


# --- .runbook-bot.yaml --------------------------------------------------------------

CUSTOM = "# Datenbank voll\n\n## Bedeutung\n\nDie Platte ist voll.\n\n## Fehlerbehebung\n\n{body}\n"
BODY = "Alte WAL-Dateien löschen:\n\n```console\npg_archivecleanup /var/lib/pg/wal $LAST\n```"


def book(tmp_path: Path, config: str | bytes | None) -> Path:
    folder = tmp_path / "book"
    (folder / "de").mkdir(parents=True)
    (folder / "de" / "DatenbankVoll.md").write_text(CUSTOM.format(body=BODY))
    shutil.copy(LANGUAGES / "zh" / "KubePodCrashLooping.md", folder / "zh-crashloop.md")
    if isinstance(config, str):
        (folder / ".runbook-bot.yaml").write_text(config)
    elif isinstance(config, bytes):
        (folder / ".runbook-bot.yaml").write_bytes(config)
    return folder


def test_a_custom_word_runs_its_phase_in_lint_and_the_library(tmp_path: Path) -> None:
    folder = book(tmp_path, "# Unsere eigenen Wörter\naction_phases: [Playbook, Fehlerbehebung]\n")
    status, lines = lint(folder)
    assert status == 0 and lines[-1] == "2 files checked, 0 errors, 3 warnings"
    assert any(
        "DatenbankVoll.md:7: warning:" in line and "— Fehlerbehebung (" in line for line in lines
    )
    library = load_library(folder)
    assert library.action_phases == ("Playbook", "Fehlerbehebung")
    assert library.errors == []
    runbook = library.get("DatenbankVoll")
    assert runbook is not None
    assert [(p.name, s.text) for p, s in runbook.steps] == [("Fehlerbehebung", "Fehlerbehebung")]
    # Without the file, the phase is not an action phase: "no steps".
    (folder / ".runbook-bot.yaml").unlink()
    assert load_library(folder).get("DatenbankVoll") is None


def test_fix_works_on_the_custom_words_phases(tmp_path: Path) -> None:
    folder = book(tmp_path, "action_phases:\n  - Fehlerbehebung\n")
    target = folder / "de" / "DatenbankVoll.md"
    target.write_text(CUSTOM.format(body="- Platz schaffen\n- Dienst neu starten"))
    status, lines = lint(folder, fix=True)
    assert status == 0 and lines[0] == f"fixed {target} (2 steps numbered)"
    assert "1. Platz schaffen\n2. Dienst neu starten\n" in target.read_text()


ITEM = "action_phases item"
BAD_CONFIGS = {
    "yaml": ("action_phases: [Playbook\nother: 1\n", 2, "not valid YAML: "),
    "not-a-map": ("- Playbook\n", 1, "expected `key: value` settings"),
    "not-a-list": ("# words\naction_phases: Playbook\n", 2, "action_phases must be a list"),
    "number": (
        "action_phases:\n  - Playbook\n  - 42\n",
        3,
        f"{ITEM} 2 must be a word, not a number",
    ),
    "empty": ("action_phases:\n  - Playbook\n  - ''\n", 3, f"{ITEM} 2 is empty"),
    "nested": ("action_phases:\n  - [a, b]\n", 2, f"{ITEM} 1 must be a word, not a list or map"),
    "null-item": ("action_phases: [Playbook, ~]\n", 1, f"{ITEM} 2 must be a word, not empty"),
    "not-utf8": (b"action_phases: [L\xf6sung]\n", 1, "file is not UTF-8 text"),
    "deep": ("action_phases: " + "[" * 30_000, 1, "not valid YAML: nested too deeply"),
    "python-tag": ("action_phases: !!python/object/apply:os.system [id]\n", 1, "not valid YAML"),
    "too-big": (
        "action_phases: [Playbook]\n" + "#" * 70_000,
        1,
        "settings file larger than 64 KiB",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_a_bad_settings_file_is_a_lint_error_and_the_built_in_words_apply(
    tmp_path: Path, case: str
) -> None:
    config, line, message = BAD_CONFIGS[case]
    folder = book(tmp_path, config)
    status, lines = lint(folder)
    assert status == 1
    errors = [ln for ln in lines if ".runbook-bot.yaml:" in ln]
    assert len(errors) == 1 and errors[0].startswith(
        f"{folder}/.runbook-bot.yaml:{line}: {message}"
    )
    library = load_library(folder)
    assert library.action_phases == ()
    (error,) = [p for p in library.errors if p.path.endswith(".runbook-bot.yaml")]
    assert str(error).startswith(f"{folder}/.runbook-bot.yaml:{line}: {message}")
    assert library.get("zh-crashloop") is not None  # served with the built-in words
    assert library.get("DatenbankVoll") is None  # its phase needed the bad file's word


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX only")
@pytest.mark.parametrize("kind", ["fifo", "folder", "symlink"])
def test_a_settings_file_that_is_not_a_regular_file_is_refused(tmp_path: Path, kind: str) -> None:
    folder = book(tmp_path, None)
    path = folder / ".runbook-bot.yaml"
    if kind == "fifo":
        os.mkfifo(path)  # reading it would block the bot forever
    elif kind == "folder":
        path.mkdir()
    else:
        (tmp_path / "elsewhere.yaml").write_text("action_phases: [Fehlerbehebung]\n")
        path.symlink_to(tmp_path / "elsewhere.yaml")
    library = load_library(folder)
    (error,) = [p for p in library.errors if p.path.endswith(".runbook-bot.yaml")]
    assert str(error).startswith(f"{path}:1: cannot read settings: ")
    assert library.action_phases == () and library.get("zh-crashloop") is not None


def test_unknown_settings_warn(tmp_path: Path) -> None:
    folder = book(tmp_path, "action_phases: [Fehlerbehebung]\nlanguage: de\n")
    library = load_library(folder)
    assert library.action_phases == ("Fehlerbehebung",) and library.errors == []
    assert any(
        str(p) == f"{folder}/.runbook-bot.yaml:2: warning: unknown setting 'language' (ignored); "
        "known: action_phases"
        for p in library.problems
    )


def test_cli_lint_reads_runbooks_dir_settings_for_a_file_inside_it(tmp_path: Path) -> None:
    folder = book(tmp_path, "action_phases: [Fehlerbehebung]\n")
    target = folder / "de" / "DatenbankVoll.md"
    inside = run_cli(["lint", str(target)], tmp_path, RUNBOOKS_DIR=str(folder))
    assert inside.returncode == 0, inside.stdout + inside.stderr
    assert "1 file checked, 0 errors, 1 warning" in inside.stdout
    # Linted on its own, outside RUNBOOKS_DIR, its folder (de/) has no settings file.
    alone = run_cli(["lint", str(target)], tmp_path, RUNBOOKS_DIR=str(tmp_path))
    assert alone.returncode == 1 and f"{target}:1: no steps: " in alone.stdout
