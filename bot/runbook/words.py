"""Near misses of a known word, for "did you mean" answers (pure).

Shared by the commands (a typed subcommand or level), the runbook lint (an
``[approval: …]`` word) and the level parser: one notion of "close".
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["closest", "did_you_mean", "edit_distance"]

MAX_WORD = 64  # difflib and the distance are quadratic: nobody types a longer word


def edit_distance(a: str, b: str) -> int:
    """Edits (insert, delete, substitute, swap two neighbours) from ``a`` to ``b``."""
    a, b = a[:MAX_WORD], b[:MAX_WORD]
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        row = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            row[j] = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                row[j] = min(row[j], prev2[j - 2] + 1)
        prev2, prev = prev, row
    return prev[-1]


def closest(word: str, choices: Iterable[str], n: int = 2) -> list[str]:
    """The known words nearest ``word`` (case-insensitive), best first; [] when none is close."""
    known = [c for c in choices if c]
    wanted = word.strip().lower()[:MAX_WORD]
    if not wanted:
        return []
    by_lower = {c.lower(): c for c in known}
    # A slip of one edit (two in a longer word) counts even where difflib's ratio is low.
    near = [c for c in by_lower if edit_distance(wanted, c) <= (1 if len(c) <= 4 else 2)]
    fuzzy = difflib.get_close_matches(wanted, list(by_lower), n, 0.75)
    ranked = sorted(set(near), key=lambda c: (edit_distance(wanted, c), c))
    ranked += [c for c in fuzzy if c not in ranked]
    return [by_lower[c] for c in ranked[:n]]


def did_you_mean(word: str, choices: Iterable[str], wrap: str = "`") -> str:
    """`` Did you mean `start`?`` (with a leading space), or "" when nothing is close."""
    found = closest(word, choices)
    if not found:
        return ""
    return " Did you mean " + " or ".join(f"{wrap}{c}{wrap}" for c in found) + "?"
