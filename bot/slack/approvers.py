"""Who may decide steps: everyone, or the ``APPROVERS`` users and user groups;
and the members of the user groups approval gates name (SPEC §7).

Why a cache refreshed in the background: a click must be acknowledged
within Slack's 3 s, and ``usergroups.users.list`` is a Tier 2 method (20
calls a minute) that may answer 429 with a ``Retry-After`` of several
seconds. So nothing here asks Slack on a click: ``allows`` and ``members``
read what the background loop last learned, and answer ``None`` for what it
has never learned yet — the intake worker then keeps the click and judges it
once it is known (``bot/intake/actions.py``).

The loop lists the handles (``usergroups.list``) and each group's members
(``usergroups.users.list``) at start and every ``refresh_seconds``, a failed
listing again after ``retry_seconds`` (the last known members are kept
meanwhile rather than lock everyone out), paced within Tier 2 and counted
across processes (``bot/slack/budget.py``).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Iterable

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.bucket import Bucket
from bot.slack.budget import Budgets, LocalBudgets
from bot.slack.groups import NO_SUCH_GROUP, GroupMembers, is_group_id
from bot.tasks import cancel_and_wait

log = logging.getLogger(__name__)

__all__ = ["Approvers", "is_group_id"]

HANDLES = "usergroups.list"  # the due-list key of the handle → ID listing
REFRESH_SECONDS = 300.0
RETRY_SECONDS = 20.0


class Approvers:
    def __init__(
        self,
        ids: list[str],
        client: AsyncWebClient,
        *,
        refresh_seconds: float = REFRESH_SECONDS,
        retry_seconds: float = RETRY_SECONDS,
        budgets: Budgets | None = None,
    ) -> None:
        self._users = {i for i in ids if not i.startswith("S")}
        self._groups = [i for i in ids if i.startswith("S")]  # user-group IDs start with S
        self._client = client
        self._refresh = refresh_seconds
        self._retry = retry_seconds
        # Tier 2 (20 a minute), shared by every process's listings.
        budgets = budgets or LocalBudgets()
        self._buckets = {
            HANDLES: Bucket(budgets, "usergroups.list"),
            "members": Bucket(budgets, "usergroups.users.list"),
        }
        self._members: dict[str, frozenset[str]] = {}  # group ID → members, as last listed
        self._absent: set[str] = set()  # group IDs Slack says do not exist
        self._handles: dict[str, str] | None = None  # handle → ID; None: never listed
        self._wanted_handles: set[str] = set()
        self._due: dict[str, float] = {}  # group ID (or HANDLES) → when to list it next
        self._failing: set[str] = set()  # keys whose last listing failed: their retry waits
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # Called when something unknown became known (the intake worker looks again).
        self.on_learned: Callable[[], None] = lambda: None
        self.want(self._groups)

    @property
    def restricted(self) -> bool:
        return bool(self._users or self._groups)

    # --- reading the cache (never asks Slack) -----------------------------------

    def allows(self, user_id: str) -> bool | None:
        """May ``user_id`` decide steps? None: not known yet (a group never listed)."""
        if not self.restricted or user_id in self._users:
            return True
        unknown = False
        for group in self._groups:
            members = self.members_of(group)
            if isinstance(members, frozenset) and user_id in members:
                return True
            unknown = unknown or members is None
        return None if unknown else False

    def members(self, groups: Iterable[str]) -> dict[str, GroupMembers]:
        """Each group (``S…`` ID or handle) → its members, None while unknown,
        ``NO_SUCH_GROUP`` when the workspace has none by that name. Groups
        asked about are kept listed from now on."""
        names = list(dict.fromkeys(groups))
        self.want(names)
        return {name: self.members_of(name) for name in names}

    def members_of(self, group: str) -> GroupMembers:
        if is_group_id(group):
            group_id: str | None = group
        elif self._handles is None:
            return None
        else:
            group_id = self._handles.get(group.lower().lstrip("@"))
            if group_id is None:
                return NO_SUCH_GROUP
            self.want([group_id])
        if group_id in self._absent:
            return NO_SUCH_GROUP
        return self._members.get(group_id) if group_id is not None else None

    # --- what to list ------------------------------------------------------------

    def want(self, groups: Iterable[str]) -> None:
        """Keep these groups (IDs or handles) listed; new ones at once."""
        added = False
        for group in groups:
            if is_group_id(group):
                key = group
            else:
                self._wanted_handles.add(group.lower().lstrip("@"))
                key = HANDLES
            if key not in self._due:
                self._due[key] = 0.0
                added = True
        if added:
            self._wake.set()

    def nudge(self) -> None:
        """Someone waits on what is unknown: list it now (still paced) —
        unless its last listing failed: then at its retry, as planned."""
        for key in self._due:
            unknown = self._handles is None if key == HANDLES else self._unknown(key)
            if unknown and key not in self._failing:
                self._due[key] = 0.0
        self._wake.set()

    def _unknown(self, group_id: str) -> bool:
        return group_id not in self._members and group_id not in self._absent

    # --- the background loop ------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="usergroups")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None

    async def _loop(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.refresh_due()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("usergroups: refresh round failed; retrying")
                await asyncio.sleep(self._retry)
            wait = min(self._due.values(), default=math.inf) - time.monotonic()
            if wait > 0 and not self._wake.is_set():
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=min(wait, self._refresh))
                except TimeoutError:
                    pass

    async def refresh_due(self) -> None:
        """List whatever is due, the handles first, then the oldest due."""
        while True:
            now = time.monotonic()
            due = [key for key, at in self._due.items() if at <= now]
            if not due:
                return
            key = min(due, key=lambda k: (k != HANDLES, self._due[k]))
            await self._buckets[HANDLES if key == HANDLES else "members"].take()
            learned = await (self._list_handles() if key == HANDLES else self._list_members(key))
            if learned:
                self.on_learned()

    async def _list_members(self, group_id: str) -> bool:
        """True when the group was unknown and now is known."""
        was_unknown = self._unknown(group_id)
        try:
            response = await self._client.usergroups_users_list(usergroup=group_id)
        except SlackApiError as exc:
            if exc.response.get("error") == "no_such_subteam":
                self._absent.add(group_id)
                self._members.pop(group_id, None)
                self._failing.discard(group_id)
                self._due[group_id] = time.monotonic() + self._refresh
                return was_unknown
            return self._failed(group_id, exc)
        except Exception as exc:
            return self._failed(group_id, exc)
        self._members[group_id] = frozenset(response.get("users") or [])
        self._absent.discard(group_id)
        self._failing.discard(group_id)
        self._due[group_id] = time.monotonic() + self._refresh
        return was_unknown

    async def _list_handles(self) -> bool:
        was_unknown = self._handles is None
        try:
            response = await self._client.usergroups_list()
        except Exception as exc:
            return self._failed(HANDLES, exc)
        self._handles = {
            str(g.get("handle", "")).lower(): str(g.get("id"))
            for g in response.get("usergroups") or []
            if g.get("id")
        }
        self._due[HANDLES] = time.monotonic() + self._refresh
        self._failing.discard(HANDLES)
        for handle in sorted(self._wanted_handles):
            if handle not in self._handles:
                log.warning("approval gates name user group @%s, which Slack does not list", handle)
        self.want(self._handles[h] for h in self._wanted_handles if h in self._handles)
        return was_unknown

    def _failed(self, key: str, exc: Exception) -> bool:
        # The last known answer stays in use; try again soon.
        log.warning("usergroups: could not list %s (%r); retrying in %.0fs", key, exc, self._retry)
        self._due[key] = time.monotonic() + self._retry
        self._failing.add(key)
        return False
