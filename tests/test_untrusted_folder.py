"""A runbook folder is untrusted (it may be a cloned third-party repository): a YAML
bomb, a FIFO, a link to /dev/zero or outside the folder, a huge file or a runbook of
100,000 steps is reported by name and skipped, while the good runbooks load — through
``runbook-bot lint`` and through the loader ``serve`` uses."""

from __future__ import annotations

import os
from pathlib import Path

from bot.runbook.library import MAX_RUNBOOK_BYTES, load_library
from bot.runbook.parser import MAX_LIST_ITEMS, MAX_STEPS
from tests.test_cli import output_lines, run

GOOD = "# Good\n\n## Mitigation\n\n1. check the logs\n2. tell the channel\n"
# "Billion laughs": each level doubles nine-fold; printing `rto` would expand it.
LEVELS = ['a0: &a0 ["lol"]'] + [
    f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 9)}]" for n in range(1, 5)
]
BOMB = (
    "---\nid: RB-BOMB\n"
    + "\n".join(LEVELS)
    + "\nrto: *a4\n---\n# Bomb\n\n## Mitigation\n\n1. step\n"
)


def hostile_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "book"
    folder.mkdir()
    (folder / "good.md").write_text(GOOD)
    (folder / "bomb.md").write_text(BOMB)
    os.mkfifo(folder / "fifo.md")
    (folder / "zero.md").symlink_to("/dev/zero")
    secret = tmp_path / "secret.md"
    secret.write_text(GOOD.replace("Good", "Secret"))
    (folder / "outside.md").symlink_to(secret)
    (folder / "huge.md").write_bytes(
        b"# Huge\n\n## Mitigation\n\n1. x\n" + b"a" * MAX_RUNBOOK_BYTES
    )
    steps = "".join(f"{n}. step {n}\n" for n in range(1, MAX_STEPS + 2))
    (folder / "long.md").write_text(f"# Long\n\n## Mitigation\n\n{steps}")
    # Within the byte cap, but 100,000 list items: refused before any parsing.
    items = "".join(f"{n}. x\n" for n in range(1, 100_001))
    (folder / "items.md").write_text(f"# Items\n\n## Mitigation\n\n{items}")
    return folder


def expected_problems(folder: Path) -> dict[str, str]:
    return {
        "bomb.md": "YAML aliases (*name) are not allowed",
        "fifo.md": "not a regular file",
        "zero.md": "outside the folder",
        "outside.md": "outside the folder",
        "huge.md": "larger than 1 MB",
        "long.md": f"more than {MAX_STEPS}",
        "items.md": f"more than {MAX_LIST_ITEMS} list items",
    }


def test_every_step_with_two_sub_items_is_still_a_runbook(tmp_path: Path) -> None:
    steps = "".join(f"{n}. step {n}\n   - check a\n   - check b\n" for n in range(1, MAX_STEPS + 1))
    (tmp_path / "full.md").write_text(f"# Full\n\n## Mitigation\n\n{steps}")
    library = load_library(tmp_path)
    assert library.errors == []
    assert library.get("full").step_count == MAX_STEPS


def test_lint_reports_each_hostile_file_and_finishes(tmp_path: Path) -> None:
    folder = hostile_folder(tmp_path)
    proc = run(["lint", str(folder)], tmp_path, timeout=60)  # a FIFO used to hang here
    lines = output_lines(proc)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, lines
    for name, words in expected_problems(folder).items():
        assert any(f"{name}:" in line and words in line for line in lines), (name, lines)
    assert not any("good.md:" in line for line in lines), lines
    assert max(len(line) for line in lines) < 500  # nothing expanded into the output


def test_library_loads_the_good_runbook_and_names_the_rest(tmp_path: Path) -> None:
    folder = hostile_folder(tmp_path)
    library = load_library(folder)
    assert list(library.runbooks) == ["good"]
    for name, words in expected_problems(folder).items():
        assert any(Path(p.path).name == name and words in p.message for p in library.errors), (
            name,
            library.problems,
        )


def test_lint_names_a_fifo_given_directly(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.md")
    proc = run(["lint", str(tmp_path / "pipe.md")], tmp_path, timeout=60)
    assert proc.returncode == 1
    assert any(
        "pipe.md:1: " in line and "not a regular file" in line for line in output_lines(proc)
    )


def test_front_matter_alias_refused_at_its_line(tmp_path: Path) -> None:
    text = "---\nid: RB-A\nbase: &b x\ntags: *b\n---\n# A\n\n## Mitigation\n\n1. step\n"
    (tmp_path / "a.md").write_text(text)
    library = load_library(tmp_path)
    assert library.runbooks == {}
    [problem] = library.errors
    assert "aliases" in problem.message and problem.line == 4, problem


def test_lint_fix_never_writes_through_a_symlink(tmp_path: Path) -> None:
    folder = tmp_path / "book"
    folder.mkdir()
    plain = "# Plain\n\n## Mitigation\n\n- check the logs\n- tell the channel\n"
    target = folder / "real.md"
    target.write_text(plain)
    (folder / "link.md").symlink_to(target)  # inside the folder: linted, not written
    proc = run(["lint", "--fix", str(folder / "link.md")], tmp_path, timeout=60)
    assert "not fixed: a symbolic link" in proc.stdout + proc.stderr, output_lines(proc)
    assert target.read_text() == plain and (folder / "link.md").is_symlink()
    fixed = run(["lint", "--fix", str(folder)], tmp_path, timeout=60)
    assert "fixed" in fixed.stdout and target.read_text() != plain, output_lines(fixed)
