"""Optional YAML front matter at the top of a runbook file.

Static-site generators (Hugo, Jekyll, Docusaurus) put ``---`` delimited YAML
at the start of Markdown files; GitHub shows it as a table. We read the keys we
know and report the rest as warnings, never errors.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import yaml

# The C loader is ~10x faster; fall back to pure Python where libyaml is absent.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_KEY_RE = re.compile(r"^([^\s#:\-?][^:]*?)\s*:(?:\s|$)")
# `**Severity:** SEV2` style metadata lines (the seed template) -> runbook fields.
_LABEL_RE = re.compile(
    r"^\s*(?:[-*+]\s+)?(\*\*|__)\s*([A-Za-z][\w /-]{0,40}?)\s*:?\s*\1\s*:?\s*(.*?)\s*$"
)
LABEL_FIELDS = {
    "severity": "severity",
    "sev": "severity",
    "priority": "severity",
    "owner": "owner",
    "owners": "owner",
    "owning team": "owner",
    "team": "owner",
    "rto": "rto",
    "tags": "tags",
}
KNOWN_KEYS = frozenset({"id", "title", "owner", "severity", "rto", "tags"})


@dataclass(frozen=True, slots=True)
class FrontMatter:
    data: dict[str, object] = field(default_factory=dict)
    key_lines: dict[str, int] = field(default_factory=dict)  # 1-based line of each key
    end: int = 0  # number of lines the front matter occupies (0 = none)
    errors: tuple[tuple[int, str], ...] = ()  # (1-based line, message)


def read_front_matter(lines: list[str]) -> FrontMatter:
    """Read front matter from the file's lines (line endings already removed)."""
    if not lines or lines[0].rstrip() != "---":
        return FrontMatter()
    close = next(
        (i for i in range(1, len(lines)) if lines[i].rstrip() in ("---", "...")),
        None,
    )
    if close is None:
        # A leading `---` alone is a thematic break; only complain when the
        # next line clearly starts a YAML mapping.
        if len(lines) > 1 and _KEY_RE.match(lines[1]):
            return FrontMatter(errors=((1, "unreadable front matter: no closing '---' line"),))
        return FrontMatter()
    body = "\n".join(lines[1:close])
    try:
        alias = _first_alias(body)
        if alias is not None:
            # An alias can repeat a node exponentially when the value is shown
            # (a 600-byte "billion laughs"); runbook metadata never needs one.
            message = "unreadable front matter: YAML aliases (*name) are not allowed"
            return FrontMatter(end=close + 1, errors=((2 + alias, message),))
        data = yaml.load(body, Loader=_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        if mark is not None and mark.line >= close - 1:
            # Errors found at end of input ("expected ']'") point past the YAML;
            # where the construct started is the useful line.
            mark = getattr(exc, "context_mark", None) or mark
        line = min(2 + mark.line, close) if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        return FrontMatter(end=close + 1, errors=((line, f"unreadable front matter: {problem}"),))
    except Exception as exc:
        return FrontMatter(end=close + 1, errors=((1, f"unreadable front matter: {exc!r}"),))
    if data is None:
        data = {}
    if not isinstance(data, dict):
        return FrontMatter(
            end=close + 1,
            errors=((2, "unreadable front matter: expected 'key: value' lines"),),
        )
    key_lines: dict[str, int] = {}
    for index in range(1, close):
        match = _KEY_RE.match(lines[index])
        if match:
            key_lines.setdefault(match.group(1).strip("'\""), index + 1)
    return FrontMatter(
        data={str(key): value for key, value in data.items()},
        key_lines=key_lines,
        end=close + 1,
    )


def _first_alias(body: str) -> int | None:
    """0-based line of the first YAML alias in ``body``, found by the scanner alone."""
    if "*" not in body:
        return None
    for token in yaml.scan(body, Loader=_LOADER):
        if isinstance(token, yaml.AliasToken):
            return int(token.start_mark.line)
    return None


def as_text(value: object) -> str | None:
    """A scalar front-matter value as text; None for missing/empty/structured values."""
    if value is None or isinstance(value, dict | list | tuple | set):
        return None
    text = str(value).strip()
    return text or None


def as_tags(value: object) -> tuple[str, ...]:
    """`tags: [a, b]` or `tags: a, b` -> ("a", "b")."""
    if value is None:
        return ()
    items = value if isinstance(value, list | tuple) else str(value).split(",")
    return tuple(tag for tag in (str(item).strip() for item in items) if tag)


def label_metadata(paragraphs: Iterable[list[str]]) -> dict[str, str]:
    """Bold-label lines (`**Owner:** Team X`) -> {"owner": "Team X"}; first one wins."""
    found: dict[str, str] = {}
    for lines in paragraphs:
        for line in lines:
            match = _LABEL_RE.match(line)
            if match and match.group(3):
                found.setdefault(match.group(2).strip().lower(), match.group(3))
    return found
