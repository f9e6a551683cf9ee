"""Priority levels (SPEC §7): parsing ``PRIORITY_LEVELS``, the level word in a
command, the runbook ``severity`` → level mapping. Pure: no I/O.

A level has a response target (how soon someone must acknowledge an incident
of that level) and, optionally, its own status-update interval, which then
replaces ``STATUS_UPDATE_INTERVAL`` for incidents of that level.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot.runbook.words import edit_distance
from bot.slack.mrkdwn import escape
from bot.timefmt import parse_duration

__all__ = [
    "DEFAULT_LEVELS",
    "LevelWord",
    "PriorityLevel",
    "PriorityPolicy",
    "level_for_severity",
    "level_of_word",
    "looks_like_level",
    "mention",
    "numbered",
    "parse_contact",
    "parse_priority_levels",
    "read_level_word",
    "span",
    "split_level_word",
]

DEFAULT_LEVELS = "critical=15m,high=1h,medium=4h,low=24h"
_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
_NUMBERED = re.compile(r"^(?:sev|p)\s*-?\s*(\d{1,3})$", re.IGNORECASE)
# Words people use for a priority that are no level here: refused, not read as a title.
# Kept to words that rarely begin a title or summary ("normal", "major" do).
_LEVEL_WORDS = frozenset(
    {"urgent", "critical", "crit", "high", "highest", "medium", "med", "low", "lowest"}
    | {"sev", "severity", "priority"}
)
_TRAILING = ":,;.!"
_CONTACT = re.compile(r"^(?:<@([UW][A-Z0-9]+)(?:\|[^>]*)?>|<!subteam\^(S[A-Z0-9]+)(?:\|[^>]*)?>)$")
_CONTACT_ID = re.compile(r"^[UWS][A-Z0-9]{2,}$")


@dataclass(frozen=True, slots=True)
class PriorityLevel:
    name: str  # lowercased
    target_seconds: float  # respond (acknowledge) within this
    update_interval_seconds: float | None = None  # None: STATUS_UPDATE_INTERVAL


def parse_priority_levels(value: object) -> list[PriorityLevel]:
    """``critical=15m/15m,high=1h,…`` (most urgent first) → levels; ValueError
    with a message saying what is wrong and how to write it."""
    if isinstance(value, list | tuple) and all(isinstance(v, PriorityLevel) for v in value):
        return list(value)
    text = str(value or "").strip()
    if not text:
        raise ValueError(f"name at least one level, e.g. {DEFAULT_LEVELS}")
    levels: list[PriorityLevel] = []
    for raw in text.split(","):
        item = raw.strip()
        name, eq, rest = item.partition("=")
        name = name.strip().lower()
        if not eq or not name or not rest.strip():
            raise ValueError(
                f"{item!r} is not name=response target[/update interval], e.g. critical=15m/15m"
            )
        if not _NAME.match(name):
            raise ValueError(f"level name {name!r} must be one word (letters, digits, - or _)")
        if _NUMBERED.match(name):
            raise ValueError(f"level name {name!r} would read as a SEV<n>/P<n> severity")
        if any(level.name == name for level in levels):
            raise ValueError(f"level {name!r} is given twice")
        target_raw, slash, interval_raw = rest.partition("/")
        try:
            target = parse_duration(target_raw)
            interval = parse_duration(interval_raw) if slash else None
        except ValueError as exc:
            raise ValueError(f"level {name!r}: {exc}") from None
        levels.append(PriorityLevel(name, target, interval))
    return levels


def level_for_severity(text: str | None, levels: Sequence[str]) -> str | None:
    """A runbook's front-matter ``severity`` as a level name, or None.

    A level's own name (any case) is that level; ``SEV<n>`` / ``P<n>`` is the
    n-th level, most urgent first (``SEV0``/``P0`` → the first too; past the
    last → the last).
    """
    if not text or not levels:
        return None
    word = str(text).strip()
    names = [name.lower() for name in levels]
    if word.lower() in names:
        return names[names.index(word.lower())]
    match = _NUMBERED.match(word)
    if match is None:
        return None
    n = int(match.group(1))
    return names[min(max(n, 1), len(names)) - 1]


def level_of_word(word: str, levels: Sequence[str]) -> str | None:
    """A level as typed in a command: its name (any case), or ``SEV<n>`` /
    ``P<n>`` read as a runbook's ``severity`` is (the n-th level, most urgent
    first; 0 is the first too). A number past the last level is no level here:
    typed, it is more likely a slip than a wish for the lowest one."""
    bare = word.strip().rstrip(_TRAILING).lower()
    match = _NUMBERED.match(bare)
    if match is not None and int(match.group(1)) > len(levels):
        return None
    return level_for_severity(bare, levels) if bare else None


def looks_like_level(word: str, levels: Sequence[str]) -> bool:
    """Whether a first word that names no level was probably meant as one:
    ``SEV<n>`` / ``P<n>`` of any number, a word people use for a priority
    (``urgent``, ``high``…), or one slip from a level's name (``critcal``;
    same first letter and 4+ letters, so ``slow`` is not ``low``)."""
    bare = word.strip().rstrip(_TRAILING).lower()
    if _NUMBERED.match(bare) or bare in _LEVEL_WORDS:
        return True
    if len(bare) < 4:
        return False
    return any(
        bare[0] == name[0] and edit_distance(bare, name) <= (2 if len(name) >= 7 else 1)
        for name in (n.lower() for n in levels)
    )


@dataclass(frozen=True, slots=True)
class LevelWord:
    """A command's optional first-word level: the level, the rest of the text,
    or the word that looked like a level but is none (to be refused)."""

    level: str | None
    rest: str
    unknown: str | None = None


def read_level_word(text: str, levels: Sequence[str]) -> LevelWord:
    """``"sev1 Checkout errors"`` → level ``critical`` (with the default levels),
    rest ``"Checkout errors"``; ``"urgent Checkout"`` → ``unknown="urgent"``;
    ``"Checkout errors"`` → no level, the text as it is."""
    parts = text.strip().split(None, 1)
    if not parts:
        return LevelWord(None, "")
    rest = parts[1].strip() if len(parts) > 1 else ""
    level = level_of_word(parts[0], levels)
    if level is not None:
        return LevelWord(level, rest)
    if looks_like_level(parts[0], levels):
        return LevelWord(None, text.strip(), unknown=parts[0])
    return LevelWord(None, text.strip())


def split_level_word(text: str, levels: Sequence[str]) -> tuple[str | None, str]:
    """``"Critical Payments down"`` → ``("critical", "Payments down")``; a first
    word that is not a level leaves the text as it is."""
    found = read_level_word(text, levels)
    return found.level, found.rest


def numbered(levels: Sequence[str]) -> str:
    """How ``SEV<n>`` / ``P<n>`` read with these levels, for help and refusals."""
    if not levels:
        return ""
    n = len(levels)
    return f"`SEV1`…`SEV{n}` or `P1`…`P{n}` name them in that order"


def parse_contact(value: object) -> str | None:
    """``ESCALATION_CONTACT``: a user (``U…``/``W…``) or user-group (``S…``) ID,
    or its mention form (``<@U…>``, ``<!subteam^S…>``) → the ID."""
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    match = _CONTACT.match(text)
    if match:
        return match.group(1) or match.group(2)
    if _CONTACT_ID.match(text) and any(ch.isdigit() for ch in text):
        return text
    raise ValueError(
        f"expected a user ID (U…) or a user-group ID (S…), got {text!r} "
        "(find it in the profile's ⋮ menu: Copy member ID)"
    )


def mention(contact: str | None) -> str:
    """How a message mentions the escalation contact (empty when unset)."""
    if not contact:
        return ""
    return f"<!subteam^{contact}>" if contact.startswith("S") else f"<@{contact}>"


@dataclass(frozen=True, slots=True)
class PriorityPolicy:
    """The configured levels as the incident code uses them (built from Settings)."""

    levels: tuple[PriorityLevel, ...]
    default: str
    status_interval: float
    escalation_contact: str | None = None

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(level.name for level in self.levels)

    def level(self, name: str | None) -> PriorityLevel | None:
        if not name:
            return None
        wanted = name.strip().lower()
        return next((level for level in self.levels if level.name == wanted), None)

    def interval_for(self, name: str | None) -> float:
        level = self.level(name)
        if level is not None and level.update_interval_seconds is not None:
            return level.update_interval_seconds
        return self.status_interval

    def target_for(self, name: str | None) -> float | None:
        level = self.level(name)
        return level.target_seconds if level is not None else None

    def for_runbook(self, severity: str | None) -> str:
        """The level a run of a runbook with this ``severity`` opens its incident at."""
        return level_for_severity(severity, self.names) or self.default

    def describe(self) -> str:
        """```critical` (respond within 15 min), …`` for help and refusals."""
        listed = ", ".join(
            f"`{level.name}` (respond within {span(level.target_seconds)})" for level in self.levels
        )
        return f"{listed}; {numbered(self.names)}"

    def unknown_level(self, word: str, example: str) -> str:
        """The refusal of a word that looks like a level but is none; ``example``
        is the command with ``{level}`` where the level goes."""
        first = example.replace("{level}", self.default)
        first = first if len(first) <= 80 else first[:79] + "…"
        return (
            f"`{escape(word[:40])}` is not a priority level. Levels: {self.describe()}. "
            "Nothing changed. (To begin with that word anyway, name a level first: "
            f"`{escape(first)}`.)"
        )


def span(seconds: float) -> str:
    """A configured duration the way people say it: ``90 s``, ``15 min``,
    ``1 h``, ``1 h 30 min``, ``2 d``."""
    if seconds < 120 and seconds % 60:
        return f"{max(0.0, seconds):g} s"
    s = max(0, round(seconds))
    if s < 3600 * 2 and s % 3600:
        return f"{round(s / 60)} min"
    if s % 86400 == 0:
        return f"{s // 86400} d" if s >= 2 * 86400 else f"{s // 3600} h"
    hours, rest = divmod(s, 3600)
    minutes = round(rest / 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"
