"""Who may decide steps: everyone, or the ``APPROVERS`` users and user groups;
and the members of the user groups approval gates name (SPEC §7).

Group members come from ``usergroups.users.list`` and are cached for
``ttl_seconds`` per group; a handle (``@security``) is first turned into its
``S…`` ID with ``usergroups.list`` (cached the same way). When Slack cannot be
asked, the last known members are kept rather than locking everyone out; a
group never listed successfully has unknown members (None).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)


def is_group_id(group: str) -> bool:
    """``S…`` IDs are upper case; handles, as the runbook parser keeps them, lower."""
    return group[:1] == "S" and group.isupper()


class Approvers:
    def __init__(self, ids: list[str], client: AsyncWebClient, ttl_seconds: float = 300) -> None:
        self._users = {i for i in ids if not i.startswith("S")}
        self._groups = [i for i in ids if i.startswith("S")]  # user-group IDs start with S
        self._client = client
        self._ttl = ttl_seconds
        # group ID → (members, when listed)
        self._members: dict[str, tuple[frozenset[str], float]] = {}
        self._handles: dict[str, str] = {}  # handle → ID
        self._handles_at = float("-inf")

    @property
    def restricted(self) -> bool:
        return bool(self._users or self._groups)

    async def allows(self, user_id: str) -> bool:
        if not self.restricted or user_id in self._users:
            return True
        for group in self._groups:
            members = await self.members_of(group)
            if members is not None and user_id in members:
                return True
        return False

    async def members(self, groups: Iterable[str]) -> dict[str, frozenset[str] | None]:
        """Each group (``S…`` ID or handle) → its members; None when unknown."""
        return {group: await self.members_of(group) for group in dict.fromkeys(groups)}

    async def members_of(self, group: str) -> frozenset[str] | None:
        group_id = group if is_group_id(group) else await self._resolve_handle(group)
        if group_id is None:
            return None
        cached = self._members.get(group_id)
        if cached is not None and time.monotonic() - cached[1] <= self._ttl:
            return cached[0]
        try:
            response = await self._client.usergroups_users_list(usergroup=group_id)
            members = frozenset(response.get("users") or [])
        except Exception as exc:  # keep the last known members rather than lock everyone out
            log.warning("could not list members of user group %s: %r", group_id, exc)
            return cached[0] if cached is not None else None
        self._members[group_id] = (members, time.monotonic())
        return members

    async def _resolve_handle(self, handle: str) -> str | None:
        handle = handle.lower().lstrip("@")
        if handle not in self._handles or time.monotonic() - self._handles_at > self._ttl:
            try:
                response = await self._client.usergroups_list()
                self._handles = {
                    str(g.get("handle", "")).lower(): str(g.get("id"))
                    for g in response.get("usergroups") or []
                    if g.get("id")
                }
                self._handles_at = time.monotonic()
            except Exception as exc:
                log.warning("could not list user groups: %r", exc)
        found = self._handles.get(handle)
        if found is None:
            log.warning("approval gate names user group @%s, which Slack does not list", handle)
        return found
