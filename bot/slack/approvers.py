"""Who may decide steps: everyone, or the ``APPROVERS`` users and user groups."""

from __future__ import annotations

import logging
import time

from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)


class Approvers:
    def __init__(self, ids: list[str], client: AsyncWebClient, ttl_seconds: float = 300) -> None:
        self._users = {i for i in ids if not i.startswith("S")}
        self._groups = [i for i in ids if i.startswith("S")]  # user-group IDs start with S
        self._client = client
        self._ttl = ttl_seconds
        self._members: set[str] = set()
        self._loaded_at = float("-inf")

    @property
    def restricted(self) -> bool:
        return bool(self._users or self._groups)

    async def allows(self, user_id: str) -> bool:
        if not self.restricted or user_id in self._users:
            return True
        if not self._groups:
            return False
        if time.monotonic() - self._loaded_at > self._ttl:
            await self._refresh()
        return user_id in self._members

    async def _refresh(self) -> None:
        members: set[str] = set()
        for group in self._groups:
            try:
                response = await self._client.usergroups_users_list(usergroup=group)
                members.update(response.get("users") or [])
            except Exception as exc:  # keep the last known members rather than lock everyone out
                log.warning("could not list members of user group %s: %r", group, exc)
                return
        self._members = members
        self._loaded_at = time.monotonic()
