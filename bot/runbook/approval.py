"""The ``[approval: <who>]`` step tag (SPEC §7 "Approval gates"), parsed as data.

``<who>`` is comma-separated requirements, all of which apply: a role word
(``commander``), a user group (``@security`` handle, ``S…`` ID or
``<!subteam^S…>``), a user (``<@U…>`` or ``U…``/``W…`` ID) or ``N people``
(N different people). Pure: no I/O.
"""

from __future__ import annotations

import re

from bot.runbook.model import Approval
from bot.runbook.words import edit_distance

__all__ = ["ACCEPTED_FORMS", "parse_approval", "split_tag"]

ACCEPTED_FORMS = (
    "a role (commander), a user group (@security or S…), a user (<@U…> or U…) "
    "or N people (2 people), comma-separated"
)
MAX_PEOPLE = 10
# Incident roles people give with `/incident role`; others are allowed, but a
# near miss of one of these is a typo.
USUAL_ROLES = ("commander", "comms", "scribe", "lead", "deputy", "liaison")

# The tag ends the step's first paragraph; anything that starts like one there
# but is not readable is reported rather than silently shown as text.
_TAG_RE = re.compile(r"\[\s*approval\s*:(?P<inner>[^\[\]]*)\]\s*$", re.IGNORECASE)
_TAGLIKE_RE = re.compile(r"\[\s*approv\w*\b[^\[\]]*\]?\s*$", re.IGNORECASE)
_ID_CHARS = r"[A-Z0-9]{6,}"
_USER_ID = re.compile(rf"^[UW]{_ID_CHARS}$")
_GROUP_ID = re.compile(rf"^S{_ID_CHARS}$")
_USER_MENTION = re.compile(rf"^<@([UW]{_ID_CHARS})(?:\|[^>]*)?>$")
_GROUP_MENTION = re.compile(rf"^<!subteam\^(S{_ID_CHARS})(?:\|[^>]*)?>$")
_HANDLE = re.compile(r"^@([a-z0-9][a-z0-9._-]*)$", re.IGNORECASE)
_ROLE = re.compile(r"^[a-z][a-z0-9_-]*$", re.IGNORECASE)
_PEOPLE = re.compile(r"^(\d+)\s+(?:people|persons?|approvers?)$", re.IGNORECASE)


def _known_role(role: str) -> str:
    """A role word, unless it is one slip from a usual role (``comander``): a
    gate on a misspelt role waits for a role nobody will be given."""
    if role in USUAL_ROLES:
        return role
    near = [r for r in USUAL_ROLES if edit_distance(role, r) <= (2 if len(r) >= 7 else 1)]
    if near and len(role) >= 4:
        raise ValueError(
            f"'{role}' in approval tag is not a role: did you mean '{near[0]}'? "
            f"(roles are given with /incident role; the usual ones: {', '.join(USUAL_ROLES)})"
        )
    return role


def _is_id(token: str, pattern: re.Pattern[str]) -> bool:
    # Slack IDs have digits; an all-letter upper-case word (SRE) is a role.
    return bool(pattern.match(token)) and any(ch.isdigit() for ch in token)


def parse_approval(inner: str) -> Approval:
    """The text inside ``[approval: …]`` → :class:`Approval`; ValueError when unreadable."""
    source = " ".join(inner.split())
    if not source:
        raise ValueError(f"empty approval tag: say who must decide the step — {ACCEPTED_FORMS}")
    roles: list[str] = []
    groups: list[str] = []
    users: list[str] = []
    people: int | None = None
    for raw in source.split(","):
        token = raw.strip()
        if not token:
            raise ValueError(f"empty requirement in approval tag '{source}': {ACCEPTED_FORMS}")
        if match := _USER_MENTION.match(token):
            users.append(match.group(1))
        elif match := _GROUP_MENTION.match(token):
            groups.append(match.group(1))
        elif _is_id(token, _USER_ID):
            users.append(token)
        elif _is_id(token, _GROUP_ID):
            groups.append(token)
        elif match := _HANDLE.match(token):
            groups.append(match.group(1).lower())
        elif match := _PEOPLE.match(token):
            count = int(match.group(1))
            if not 1 <= count <= MAX_PEOPLE:
                raise ValueError(
                    f"'{token}' in approval tag: the number of people must be 1 to {MAX_PEOPLE}"
                )
            if people is not None and people != count:
                raise ValueError(f"approval tag '{source}' gives the number of people twice")
            people = count
        elif _ROLE.match(token):
            roles.append(_known_role(token.lower()))
        else:
            raise ValueError(
                f"'{token}' in approval tag is not a requirement: use {ACCEPTED_FORMS}"
            )
    return Approval(
        roles=tuple(dict.fromkeys(roles)),
        groups=tuple(dict.fromkeys(groups)),
        users=tuple(dict.fromkeys(users)),
        people=people or 1,
        source=source,
    )


def split_tag(text: str) -> tuple[str, str | None, int]:
    """Find a trailing approval tag in a step's first paragraph.

    Returns (text without the tag, the tag's inner text or None, offset of the
    tag in ``text``). A tag that looks like one but is malformed
    (``[approval commander]``, ``[approvers: …]``, no closing bracket) raises
    ValueError, so lint reports it instead of showing it as step text.
    """
    match = _TAG_RE.search(text)
    if match:
        return text[: match.start()].rstrip(), match.group("inner"), match.start()
    bad = _TAGLIKE_RE.search(text)
    if bad:
        raise ValueError(
            f"unreadable approval tag '{bad.group(0).strip()}': write it as "
            f"[approval: <who>] at the end of the step, where <who> is {ACCEPTED_FORMS}"
        )
    return text, None, -1
