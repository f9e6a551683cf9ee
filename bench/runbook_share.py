"""Share of runbooks in a folder that run as written, and after `lint --fix`.

    .venv/bin/python bench/runbook_share.py tests/fixtures/real_shaped [-v]
    .venv/bin/python bench/runbook_share.py tests/fixtures/languages

Two figures: with the English action-phase words only (what the bot knew before
it read phases in the team's language), and with every built-in word plus the
folder's `.runbook-bot.yaml`. Per subfolder too (one per language in
tests/fixtures/languages). For the figure of older code, run it against that code,
e.g. ``git archive main bot | tar -x -C /tmp/old && PYTHONPATH=/tmp/old
.venv/bin/python bench/runbook_share.py FOLDER``. Pure: reads files, writes nothing.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

import bot.runbook.parser as parser
from bot.runbook import phases
from bot.runbook.fix import fix_text
from bot.runbook.library import discover, read_config


@contextmanager
def english_only() -> Iterator[None]:
    """The parser with the English words alone: the language table emptied for a while."""
    with mock.patch.dict(phases.ACTION_WORDS, clear=True):
        phases._matcher.cache_clear()
        try:
            yield
        finally:
            phases._matcher.cache_clear()


def runs(raw: bytes, file: Path, words: Sequence[str]) -> tuple[bool, bool]:
    """(runs as written, runs after lint --fix)."""
    parsed = parser.parse_file(raw, str(file), words).runbook
    ok = parsed is not None and parsed.step_count > 0
    try:
        fixed = fix_text(raw.decode("utf-8"), str(file), words)
    except UnicodeDecodeError:
        return ok, False
    after = parser.parse_file(fixed, str(file), words).runbook
    return ok, after is not None and after.step_count > 0


def tally(files: list[Path], folder: Path, words: Sequence[str], verbose: bool) -> Counter[str]:
    counts: Counter[str] = Counter()
    for file in files:
        group = file.relative_to(folder).parts[0] if file.parent != folder else "."
        ok, fixed = runs(file.read_bytes(), file, words)
        counts.update({"files": 1, "runs": ok, "fixed": fixed})
        counts.update({f"{group}:files": 1, f"{group}:runs": ok})
        if verbose:
            print(("  runs " if ok else "  no   ") + str(file))
    return counts


def pct(part: int, whole: int) -> str:
    return f"{part}/{whole} ({100 * part / max(1, whole):.1f} %)"


def main(folder: str, verbose: bool) -> None:
    root = Path(folder)
    files, _ = discover([root])
    config = read_config(root)
    with english_only():
        before = tally(files, root, (), verbose)
    after = tally(files, root, config.action_phases, verbose)
    label = "built-in words" + (" + .runbook-bot.yaml" if config.action_phases else "")
    print(f"{root}: {len(files)} runbooks ({parser.__file__})")
    for name, counts in (("English words only", before), (label, after)):
        print(
            f"  as-written share, {name}: {pct(counts['runs'], len(files))}; "
            f"after lint --fix {pct(counts['fixed'], len(files))}"
        )
    groups = sorted({key.split(":")[0] for key in after if ":" in key})
    if len(groups) > 1:
        for group in groups:
            n = after[f"{group}:files"]
            print(
                f"    {group:<12} before {pct(before[f'{group}:runs'], n):<14} "
                f"after {pct(after[f'{group}:runs'], n)}"
            )
    for problem in config.problems:
        print(f"  {problem}")


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "-v"]
    main(args[0] if args else "runbooks", "-v" in sys.argv[1:])
