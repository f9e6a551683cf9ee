"""README.md and docs/ speak to users: no talk of specifications, "seeds",
section numbers or issue numbers there. Each finding is named file:line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
EXAMPLES = ROOT / "docs" / "examples"  # the bot's own output: "#3" there is a follow-up's id

FORBIDDEN = {
    "a specification": re.compile(r"\bspec(?:s|ification|ifications)?\b", re.IGNORECASE),
    # `--seed N` / `seed=N` are a benchmark's random seed, not a source document.
    '"seeds"': re.compile(r"(?<!--)\bseeds?\b(?!=)", re.IGNORECASE),
    "a section number": re.compile(r"§"),
    "an issue number": re.compile(
        r"\b(?:issue|issues|pr|pull request|ticket)\s*#?\d+\b|\bgh-\d+\b", re.IGNORECASE
    ),
}
HASH_NUMBER = re.compile(r"(?<![\w\\&/])#\d+\b")  # "#12"; not "\#1", "&#12;", "/#3"


def findings(path: Path) -> list[str]:
    out = []
    rel = path.relative_to(ROOT) if ROOT in path.parents else path
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        for what, pattern in FORBIDDEN.items():
            if m := pattern.search(line):
                out.append(f"{rel}:{number}: {what}: {m.group(0)!r}")
        if EXAMPLES not in path.parents and (m := HASH_NUMBER.search(line)):
            out.append(f"{rel}:{number}: an issue number: {m.group(0)!r}")
    return out


def test_docs_exist() -> None:
    assert ROOT / "README.md" in DOCS and len(DOCS) > 5


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_spec_seeds_sections_or_issue_numbers(path: Path) -> None:
    found = findings(path)
    assert not found, "\n".join(found)


def test_the_check_finds_what_it_must(tmp_path: Path) -> None:
    bad = tmp_path / "probe.md"
    bad.write_text(
        "ok line\nAs the SPEC says\nper §7\nfixed in issue 12\nsee #12\n"
        "from the seeds\n`--seed 3` and seed=4 are fine\nFollow-up \\#1 is fine\n"
    )
    found = findings(bad)
    assert [f.split(": ")[0].rsplit(":", 1)[1] for f in found] == ["2", "3", "4", "5", "6"]
