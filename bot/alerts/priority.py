"""An alert's ``severity`` label → an incident priority level (pure, SPEC §10).

Prometheus alert rules say ``critical`` / ``warning`` / ``info``; the bot's
levels are ``PRIORITY_LEVELS`` (most urgent first). A severity that names a
level is that level; otherwise ``critical`` is the first level, ``warning``
the second, ``info`` the last. Anything else: no level (the incident gets the
default priority).
"""

from __future__ import annotations

from collections.abc import Sequence

# The levels until Settings.priority_levels exists (SPEC §7's default).
DEFAULT_LEVELS = ("critical", "high", "medium", "low")

_BY_SEVERITY = {"critical": 0, "warning": 1, "info": -1}


def priority_for_severity(severity: str | None, levels: Sequence[str]) -> str | None:
    """The level for ``severity`` among ``levels`` (names, most urgent first)."""
    if not severity or not levels:
        return None
    wanted = severity.strip().lower()
    for name in levels:
        if name.lower() == wanted:
            return name
    position = _BY_SEVERITY.get(wanted)
    if position is None:
        return None
    if position >= 0:
        position = min(position, len(levels) - 1)
    return levels[position]
