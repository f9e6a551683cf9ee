"""The workspace's conditions, on demand: a revoked token, archived channels, a bot
removed from a channel, unknown channels, missing scopes, and calls carried out
then answered with an error.

Mixed into ``SlackStandIn``; it asks ``_token_error`` before anything else,
``_scope_error`` and ``_channel_error`` once a call is within Slack's pace, and
``_take_after_store`` once a call has been carried out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .faults import Fault

__all__ = ["AUTH_ERRORS", "AfterStore", "WorkspaceConditions"]

# Slack's answers for a token it will not take any more (HTTP 200, every method).
AUTH_ERRORS = ("token_revoked", "invalid_auth", "account_inactive", "not_authed", "token_expired")

# What an installed app of ours is granted (named in missing_scope's ``provided``).
GRANTED_SCOPES = (
    "app_mentions:read",
    "channels:history",
    "channels:read",
    "chat:write",
    "chat:write.public",
    "commands",
    "groups:history",
    "groups:read",
    "usergroups:read",
    "users:read",
)


@dataclass
class AfterStore:
    """A call to ``method`` matching ``predicate``: carried out, answered with ``fault``."""

    method: str
    fault: Fault
    predicate: Callable[[dict[str, Any]], bool]


class WorkspaceConditions:
    """What the workspace currently refuses, and why."""

    channel_names: dict[str, str]  # owned by SlackStandIn: channel ID → name

    def __init__(self) -> None:
        self.token_error: str | None = None
        self._archived: set[str] = set()
        self._removed: set[str] = set()
        self._unknown: set[str] = set()
        self._scopes: dict[str, str] = {}  # method → the scope it lacks
        self._after_store: list[AfterStore] = []

    # -- what a test can ask for ---------------------------------------------

    def revoke_token(self, error: str = "token_revoked") -> None:
        """Every method (auth.test included) answers ``{"ok": false, "error": error}``
        with HTTP 200 until :meth:`restore_token`."""
        if error not in AUTH_ERRORS:
            raise ValueError(f"{error!r} is not one of {AUTH_ERRORS}")
        self.token_error = error

    def restore_token(self) -> None:
        self.token_error = None

    def archive_channel(self, channel: str) -> None:
        """Posts, updates and reads in ``channel`` (ID or name) answer ``is_archived``."""
        self._archived.add(_bare(channel))

    def remove_bot(self, channel: str) -> None:
        """Posts, updates and reads in ``channel`` (ID or name) answer ``not_in_channel``."""
        self._removed.add(_bare(channel))

    def unknown_channel(self, channel: str) -> None:
        """Every call naming ``channel`` (ID or name) answers ``channel_not_found``."""
        self._unknown.add(_bare(channel))

    def restore_channel(self, channel: str) -> None:
        """Undo archive_channel / remove_bot / unknown_channel for ``channel``."""
        for names in (self._archived, self._removed, self._unknown):
            names.discard(_bare(channel))

    def require_scope(self, method: str, scope: str) -> None:
        """Calls to ``method`` answer ``missing_scope`` naming ``scope`` as needed."""
        self._scopes[method] = scope

    def fail_after_store(
        self,
        method: str,
        *,
        status: int | None = None,
        error: str | None = None,
        times: int = 1,
        predicate: Callable[[dict[str, Any]], bool] = lambda args: True,
    ) -> None:
        """Carry out the next ``times`` calls to ``method`` whose arguments match (the
        message is posted, with its metadata), then answer with an error: a 5xx
        with a plain-text body (``status``, 500 by default), or, given ``error``
        (e.g. ``"fatal_error"``, which Slack documents may have taken effect),
        ``{"ok": false, "error": error}`` with ``status`` (200 by default)."""
        if error is None:
            fault = Fault(status or 500, times, 0, None)
        else:
            fault = Fault(status or 200, times, 0, error)
        self._after_store.append(AfterStore(method, fault, predicate))

    def reset_conditions(self) -> None:
        """The workspace as installed: token good, every channel open, every scope granted."""
        self.token_error = None
        for names in (self._archived, self._removed, self._unknown):
            names.clear()
        self._scopes.clear()
        self._after_store.clear()

    # -- what the stand-in asks ----------------------------------------------

    def _token_error(self) -> dict[str, Any] | None:
        return None if self.token_error is None else {"ok": False, "error": self.token_error}

    def _scope_error(self, method: str) -> dict[str, Any] | None:
        needed = self._scopes.get(method)
        if needed is None:
            return None
        provided = ",".join(s for s in GRANTED_SCOPES if s != needed)
        return {"ok": False, "error": "missing_scope", "needed": needed, "provided": provided}

    def _channel_error(self, method: str, args: dict[str, Any]) -> dict[str, Any] | None:
        channel = args.get("channel")
        if not isinstance(channel, str) or not channel:
            return None
        names = self._aliases(channel)
        if names & self._unknown:
            return {"ok": False, "error": "channel_not_found"}
        if method == "conversations.info":
            return None  # answered, with is_archived / is_member saying how it stands
        if names & self._archived:
            return {"ok": False, "error": "is_archived"}
        if names & self._removed:
            return {"ok": False, "error": "not_in_channel"}
        return None

    def _channel_flags(self, channel: str) -> dict[str, bool]:
        """``is_archived`` / ``is_member`` as conversations.info and .list tell them."""
        names = self._aliases(channel)
        archived = bool(names & self._archived)
        return {"is_archived": archived, "is_member": not archived and not names & self._removed}

    def _take_after_store(self, method: str, args: dict[str, Any]) -> Fault | None:
        for pending in self._after_store:
            if pending.method != method or pending.fault.times <= 0:
                continue
            try:
                matches = pending.predicate(args)
            except Exception:  # e.g. KeyError on a call without that arg: not a match
                matches = False
            if matches:
                pending.fault.times -= 1
                return pending.fault
        return None

    def _aliases(self, channel: str) -> set[str]:
        """The channel's ID and name, however the call named it (``#name`` too)."""
        bare = _bare(channel)
        names = {bare}
        if bare in self.channel_names:
            names.add(self.channel_names[bare])
        names.update(cid for cid, name in self.channel_names.items() if name == bare)
        return names


def _bare(channel: str) -> str:
    return channel.removeprefix("#")
