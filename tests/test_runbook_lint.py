"""Lint rules, `run_lint` output, discovery and the Library."""

from __future__ import annotations

import io
from pathlib import Path
from textwrap import dedent

from bot.runbook import (
    Severity,
    is_runbook_file,
    lint_paths,
    load_library,
    parse_runbook,
)
from bot.runbook.lint import run_lint

FIXTURES = Path(__file__).parent / "fixtures" / "runbooks"
BROKEN = FIXTURES / "broken"
GOOD = FIXTURES / "good"
WHOLE = (
    "runs each action phase as one step: "
    "number the steps to run them one at a time, or run lint --fix"
)


def problems_of(text: str) -> list[tuple[int, str, str]]:
    _, problems = parse_runbook(dedent(text).lstrip("\n"), "rb.md")
    return [(p.line, p.severity.value, p.message) for p in problems]


def lint(*paths: Path | str, fix: bool = False) -> tuple[int, list[str]]:
    out, err = io.StringIO(), io.StringIO()
    status = run_lint([str(p) for p in paths], fix=fix, out=out, err=err)
    assert err.getvalue() == ""
    return status, out.getvalue().splitlines()


# --- action phases without steps run as written (SPEC §11): a warning ----------


def test_plain_bullets_under_action_phase_run_as_one_step() -> None:
    bullets = "\n".join(f"- do {i}" for i in range(12))
    assert problems_of(f"# T\n\n## Symptoms\n\n- slow\n\n## Mitigation\n\n{bullets}\n") == [
        (7, "warning", f"{WHOLE} — Mitigation (the whole section, 12 plain bullets)")
    ]


def test_warning_names_every_action_phase_run_as_one_step() -> None:
    text = "## Mitigation\n- a\n- b\n## Validation\n- c\n"
    assert problems_of(text) == [
        (
            1,
            "warning",
            f"{WHOLE} — Mitigation (the whole section, 2 plain bullets), "
            "Validation (the whole section, 1 plain bullet)",
        )
    ]


def test_paragraphs_with_commands_run_as_one_step() -> None:
    text = """
    ## Resolution

    Restart the service:

    ```bash
    systemctl restart api
    ```
    """
    assert problems_of(text) == [
        (1, "warning", f"{WHOLE} — Resolution (the whole section, 1 paragraph with commands)")
    ]


def test_bare_action_heading_adds_no_step() -> None:
    assert problems_of("## Overview\ntext\n## Mitigation\n") == [
        (
            1,
            "error",
            "no steps: 2 sections (Overview, Mitigation) but no numbered (1.) or "
            "checkbox (- [ ]) items, and no action phase with text (Steps, Procedure, "
            "Diagnosis, Mitigation, Verification, ...)",
        )
    ]


# --- "no steps" says what the file has instead ---------------------------------


def test_no_steps_numbered_items_nested_in_bullets() -> None:
    text = """
    ## Details
    - **Steps**:
      1. Create the tenant.
      2. Invite users.
    """
    assert problems_of(text) == [
        (
            3,
            "error",
            "no steps: the numbered items on line 3 are nested inside a bullet; "
            "steps must be top-level list items under a ## section",
        )
    ]


def test_no_steps_no_sections() -> None:
    assert problems_of("# Title\n\nJust prose.\n- a bullet\n") == [
        (
            1,
            "error",
            "no steps: the file has no ## sections and no numbered (1.) or checkbox (- [ ]) items",
        )
    ]


def test_no_steps_only_rollback_has_steps() -> None:
    assert problems_of("## Overview\ntext\n## Rollback\n1. undo\n") == [
        (3, "error", "no steps: only the rollback section 'Rollback' has steps")
    ]


def test_no_steps_bullets_outside_action_phases() -> None:
    assert problems_of("## Overview\n- a\n- b\n## Notes\n- c\n") == [
        (
            1,
            "error",
            "no steps: 3 plain bullets (under Overview, Notes) but no numbered (1.) or "
            "checkbox (- [ ]) items, and no action phase (Steps, Mitigation, ...); "
            "number the ones that are steps",
        )
    ]


def test_no_steps_sections_with_prose_only() -> None:
    assert problems_of("## A\ntext\n## B\ntext\n") == [
        (
            1,
            "error",
            "no steps: 2 sections (A, B) but no numbered (1.) or checkbox (- [ ]) items, "
            "and no action phase with text (Steps, Procedure, Diagnosis, Mitigation, "
            "Verification, ...)",
        )
    ]


# --- warnings ------------------------------------------------------------------


def test_warning_for_unnumbered_action_phase_when_others_have_steps() -> None:
    text = """
    ## Steps
    1. Go
    ## Verification
    - works
    - is fast
    ## Diagnosis
    Check the logs:
    ```
    tail -f log
    ```
    ## Notes
    - not an action phase
    """
    assert problems_of(text) == [
        (
            3,
            "warning",
            f"{WHOLE} — Verification (the whole section, 2 plain bullets), "
            "Diagnosis (the whole section, 1 paragraph with commands)",
        ),
    ]


def test_empty_numbered_item_is_still_a_step() -> None:
    runbook, problems = parse_runbook("## Steps\n1.\n2. b\n", "rb.md")
    assert problems == [] and runbook is not None
    assert [s.text for s in runbook.phases[0].steps] == ["", "b"]


# --- long steps: shown split, or cut with a pointer; never refused ----------


def test_step_text_too_long_for_one_message_is_a_warning() -> None:
    words = " ".join(f"w{i:05d}" for i in range(2000))  # ~14,000 chars
    found = problems_of(f"## Steps\n\n1. ok\n2. {words}\n")
    assert [(line, sev) for line, sev, _ in found] == [(4, "warning")]
    assert found[0][2].startswith("step 2 of Steps: its text is 13999 characters as mrkdwn; ")
    assert "shows the first 7000 with its buttons and points to this file" in found[0][2]


def test_step_with_one_huge_line_is_fine() -> None:
    # A paragraph written on one line, a long command: split at word boundaries.
    assert problems_of("## Steps\n\n1. Run\n\n   ```\n   " + "x" * 3500 + "\n   ```\n") == []
    prose = " ".join(["lorem"] * 1400)  # one 8,399-character line of context
    assert problems_of(f"## Steps\n\n1. Read this\n\n   {prose}\n2. Go\n") == []


def test_escaping_counts_towards_the_limit() -> None:
    # 2,500 source chars of `&` become 12,500 chars of `&amp;` in Slack.
    found = problems_of("## Steps\n\n1. " + "& " * 1250 + "\n")
    assert found and found[0][:2] == (3, "warning")


def test_context_too_long_to_show_is_a_warning() -> None:
    prose = "\n\n".join(" ".join(["lorem"] * 500) for _ in range(12))  # ~36,000 chars
    found = problems_of(f"## Steps\n\n1. Read this\n\n{_indent(prose)}\n")
    assert [(line, sev) for line, sev, _ in found] == [(3, "warning")]
    assert "with its context it is 35997 characters" in found[0][2]


def test_long_but_postable_step_is_fine() -> None:
    lines = "\n".join(f"   line {i} " + "y" * 80 for i in range(100))  # ~9,000 chars
    assert problems_of(f"## Steps\n\n1. Big\n\n   ```\n{lines}\n   ```\n") == []


def _indent(text: str) -> str:
    return "\n".join(f"   {line}" if line else "" for line in text.split("\n"))


# --- run_lint ------------------------------------------------------------------


def test_run_lint_broken_folder() -> None:
    status, lines = lint(BROKEN)
    b = str(BROKEN)
    assert status == 1
    assert lines[:-1] == [
        f"{b}/bad-front-matter.md:3: unreadable front matter: did not find expected ',' or ']'",
        f"{b}/bullets.md:3: warning: {WHOLE} — Mitigation (the whole section, 3 plain bullets)",
        f"{b}/empty.md:1: empty file",
        f"{b}/latin1.md:1: file is not UTF-8 text (byte 0xe9 on line 1)",
        f"{b}/long-step.md:6: warning: step 2 of Steps: its text is 22289 characters as "
        "mrkdwn; Slack shows the first 7000 with its buttons and points to this file for "
        "the rest: keep the item's first paragraph short and put details in an indented "
        "paragraph under it",
        f"{b}/nested/dup-b.md:3: duplicate id 'rb-07': {b}/dup-a.md already uses it",
        f"{b}/no-sections.md:1: no steps: the file has no ## sections and no numbered (1.) "
        "or checkbox (- [ ]) items",
        f"{b}/warn-only.md:2: warning: unknown front matter key 'weight' (ignored)",
        f"{b}/warn-only.md:10: warning: {WHOLE} — Verification (the whole section, 1 plain bullet)",
    ]
    assert lines[-1] == "9 files checked, 5 errors, 4 warnings"


def test_run_lint_good_folder_and_single_files() -> None:
    assert lint(GOOD) == (0, ["2 files checked, 0 errors, 0 warnings"])
    status, lines = lint(FIXTURES / "seed-template.md", BROKEN / "warn-only.md")
    assert status == 0
    assert lines[-1] == "2 files checked, 0 errors, 3 warnings"


def test_run_lint_missing_path() -> None:
    status, lines = lint("does/not/exist")
    assert status == 1
    assert lines == [
        "does/not/exist:1: no such file or directory",
        "0 files checked, 1 error, 0 warnings",
    ]


def test_lint_paths_sorted_and_readme_skipped_even_when_named() -> None:
    problems = lint_paths([BROKEN / "warn-only.md", BROKEN / "bullets.md", GOOD / "README.md"])
    assert [(Path(p.path).name, p.line, p.severity) for p in problems] == [
        ("bullets.md", 3, Severity.WARNING),
        ("warn-only.md", 2, Severity.WARNING),
        ("warn-only.md", 10, Severity.WARNING),
    ]


# --- discovery and the library -----------------------------------------------


def test_is_runbook_file() -> None:
    yes = ["rb-01.md", "RB.markdown", "x.MD", "sub/readme-notes.md"]
    no = ["README.md", "readme.MD", "index.md", "_index.md", "TEMPLATE.md", ".draft.md", "a.txt"]
    assert [is_runbook_file(Path(n)) for n in yes] == [True] * len(yes)
    assert [is_runbook_file(Path(n)) for n in no] == [False] * len(no)


def test_load_library_good_folder() -> None:
    library = load_library(GOOD)
    assert list(library.runbooks) == ["RB-01", "rb-02-failover"]
    assert library.problems == []
    failover = library.runbooks["rb-02-failover"]
    assert (failover.severity, failover.owner) == ("SEV1", "DBA Team")
    assert failover.rollback is not None and failover.rollback.name == "Roll back"


def test_load_library_keeps_good_files_and_first_duplicate() -> None:
    library = load_library(BROKEN)
    assert list(library.runbooks) == ["bullets", "long-step", "RB-07", "warn-only"]
    assert library.runbooks["RB-07"].path.endswith("dup-a.md")
    assert len(library.errors) == 5 and len(library.problems) == 9


def test_library_get_and_closest(tmp_path: Path) -> None:
    for n in (1, 2, 4, 10, 12):
        (tmp_path / f"rb{n}.md").write_text(f"---\nid: RB-{n:02d}\n---\n## Steps\n1. go\n")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "x.md").write_text("not a runbook")
    library = load_library(tmp_path)
    assert list(library.runbooks) == ["RB-01", "RB-02", "RB-04", "RB-10", "RB-12"]
    assert library.get("rb-04") is library.runbooks["RB-04"]
    assert library.get("RB-05") is None
    assert library.closest("rb4")[0] == "RB-04"
    assert library.closest("RB-13", n=2) == ["RB-12", "RB-10"]
    assert library.closest("zzzzzz") == []


def test_library_missing_root() -> None:
    library = load_library("/nonexistent/runbooks")
    assert library.runbooks == {}
    assert [p.message for p in library.problems] == ["runbook folder not found"]


def test_duplicate_ids_case_insensitive_reported_at_second_file(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("## Steps\n1. a\n")
    (tmp_path / "b.md").write_text("---\ntitle: B\nid: A\n---\n## Steps\n1. b\n")
    problems = lint_paths([tmp_path])
    assert [(Path(p.path).name, p.line, p.message) for p in problems] == [
        ("b.md", 3, f"duplicate id 'A': {tmp_path / 'a.md'} already uses it")
    ]
