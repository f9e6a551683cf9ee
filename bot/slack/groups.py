"""What is known about a user group, as approval gates read it. Pure: no I/O.

A group's members are a ``frozenset`` of user IDs once Slack listed them;
``None`` while they are not known (never listed successfully); and
``NO_SUCH_GROUP`` when Slack answered and the workspace has no group by that
handle or ID — a different answer to give the person who clicked.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum


class NoSuchGroup(Enum):
    NO_SUCH_GROUP = "no_such_group"


NO_SUCH_GROUP = NoSuchGroup.NO_SUCH_GROUP

GroupMembers = frozenset[str] | None | NoSuchGroup
Members = Mapping[str, GroupMembers]


def is_group_id(group: str) -> bool:
    """``S…`` IDs are upper case; handles, as the runbook parser keeps them, lower."""
    return group[:1] == "S" and group.isupper()
