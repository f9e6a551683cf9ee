"""Per-method Web API behaviour of the Slack stand-in.

``SlackMethods`` is mixed into ``SlackStandIn``: it decides which arguments each
method must carry (and validates their Block Kit payloads), and answers accepted
calls with Slack-shaped JSON while keeping the state of messages and views.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable
from typing import Any

from .blockkit import MAX_MESSAGE_TEXT, validate_blocks, validate_view

__all__ = ["SlackMethods"]

_BLOCK_METHODS = ("chat.postMessage", "chat.update", "chat.postEphemeral", "chat.scheduleMessage")
_VIEW_METHODS = ("views.open", "views.update", "views.push", "views.publish")


class SlackMethods:
    """Argument checks and response handlers, keyed by Web API method name."""

    # State owned (and initialised) by SlackStandIn.
    messages: dict[tuple[str, str], dict[str, Any]]
    ephemerals: list[dict[str, Any]]
    views: dict[str, dict[str, Any]]
    home_views: dict[str, dict[str, Any]]
    channel_names: dict[str, str]
    users: dict[str, dict[str, Any]]
    usergroups: dict[str, list[str]]
    usergroup_handles: dict[str, str]
    _last_ts_us: int
    _ids: itertools.count[int]
    socket_url: str
    _channel_flags: Callable[[str], dict[str, bool]]  # WorkspaceConditions

    # -- argument checks ---------------------------------------------------

    def _validate(self, method: str, args: dict[str, Any]) -> tuple[list[str], str]:
        errors: list[str] = []
        if method in _BLOCK_METHODS:
            if "blocks" in args:
                errors += validate_blocks(args["blocks"])
            if errors:
                return errors, "invalid_blocks"
            text = args.get("text")
            if text is not None and not isinstance(text, str):
                return [f"text must be a string, got {type(text).__name__}"], "invalid_arguments"
            if method == "chat.postMessage" and not text:
                # Slack tolerates blocks without text, but the project requires a
                # notification/accessibility fallback on every posted message.
                return ["chat.postMessage requires non-empty text"], "no_text"
            if method == "chat.postEphemeral" and not text and not args.get("blocks"):
                return ["chat.postEphemeral requires text or blocks"], "no_text"
            if text and len(text) > MAX_MESSAGE_TEXT:
                return [f"text is {len(text)} chars, max {MAX_MESSAGE_TEXT}"], "msg_too_long"
            if not args.get("channel"):
                return ["channel is required"], "channel_not_found"
            if method == "chat.postMessage" and "metadata" in args:
                problem = _metadata_problem(args["metadata"])
                if problem:
                    return [problem], "invalid_metadata_format"
        elif method in _VIEW_METHODS:
            if "view" not in args:
                return ["view is required"], "invalid_arguments"
            errors += validate_view(args["view"])
            if errors:
                return errors, "invalid_arguments"
        return [], ""

    def _respond(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        handler = _HANDLERS.get(method)
        if handler is None:
            return {"ok": True}
        return handler(self, args)

    # -- per-method behaviour ----------------------------------------------

    def _next_ts(self) -> str:
        # Real-looking, wall-clock based, strictly increasing (unique per message).
        us = max(int(time.time() * 1_000_000), self._last_ts_us + 1)
        self._last_ts_us = us
        return f"{us // 1_000_000}.{us % 1_000_000:06d}"

    def _post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = str(args["channel"])
        ts = self._next_ts()
        message: dict[str, Any] = {
            "type": "message",
            "user": "UBOT",
            "bot_id": "BBOT",
            "app_id": "A1",
            "team": "T1",
            "text": args.get("text", ""),
            "blocks": args.get("blocks", []),
            "ts": ts,
        }
        if args.get("thread_ts"):
            message["thread_ts"] = str(args["thread_ts"])
        if args.get("attachments"):
            message["attachments"] = args["attachments"]
        if args.get("metadata"):
            # Kept with the message; read back only with include_all_metadata.
            message["metadata"] = _parsed_metadata(args["metadata"])
        self.messages[(channel, ts)] = {"channel": channel, **message}
        return {"ok": True, "channel": channel, "ts": ts, "message": message}

    # -- reading messages back (conversations.replies / .history) -----------

    def _readable(self, message: dict[str, Any], with_metadata: bool) -> dict[str, Any]:
        out = {k: v for k, v in message.items() if k != "channel"}
        if not with_metadata:
            out.pop("metadata", None)  # as Slack: only with include_all_metadata
        return out

    def _page(
        self, messages: list[dict[str, Any]], args: dict[str, Any], default_limit: int
    ) -> dict[str, Any]:
        """Slack's cursor pagination over an already ordered list."""
        limit = max(1, min(int(args.get("limit") or default_limit), 1000))
        cursor = str(args.get("cursor") or "")
        start = int(cursor.removeprefix("off:")) if cursor.startswith("off:") else 0
        chunk = messages[start : start + limit]
        more = start + limit < len(messages)
        with_metadata = _truthy(args.get("include_all_metadata"))
        return {
            "ok": True,
            "messages": [self._readable(m, with_metadata) for m in chunk],
            "has_more": more,
            "response_metadata": {"next_cursor": f"off:{start + limit}" if more else ""},
        }

    def _conversations_replies(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, ts = str(args.get("channel", "")), str(args.get("ts", ""))
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        parent = self.messages.get((channel, ts))
        if parent is None:
            return {"ok": False, "error": "thread_not_found"}
        replies = [
            m
            for (ch, mts), m in self.messages.items()
            if ch == channel and m.get("thread_ts") == ts and mts != ts and _in_range(mts, args)
        ]
        replies.sort(key=lambda m: float(m["ts"]))
        return self._page([parent, *replies], args, 1000)

    def _conversations_history(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = str(args.get("channel", ""))
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        top = [
            m
            for (ch, mts), m in self.messages.items()
            if ch == channel and m.get("thread_ts", mts) == mts and _in_range(mts, args)
        ]
        top.sort(key=lambda m: float(m["ts"]), reverse=True)  # newest first, as Slack
        return self._page(top, args, 100)

    def _update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, ts = str(args.get("channel", "")), str(args.get("ts", ""))
        current = self.messages.get((channel, ts))
        if current is None:
            return {"ok": False, "error": "message_not_found"}
        for key in ("text", "blocks", "attachments"):
            if key in args:
                current[key] = args[key]
        current["edited"] = {"user": "UBOT", "ts": self._next_ts()}
        message = {k: v for k, v in current.items() if k != "channel"}
        return {
            "ok": True,
            "channel": channel,
            "ts": ts,
            "text": current["text"],
            "message": message,
        }

    def _post_ephemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        ts = self._next_ts()
        self.ephemerals.append({**args, "message_ts": ts})
        return {"ok": True, "message_ts": ts}

    def _delete(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, ts = str(args.get("channel", "")), str(args.get("ts", ""))
        if self.messages.pop((channel, ts), None) is None:
            return {"ok": False, "error": "message_not_found"}
        return {"ok": True, "channel": channel, "ts": ts}

    def _view(self, args: dict[str, Any], view_id: str | None = None) -> dict[str, Any]:
        view_id = view_id or f"V{next(self._ids):08d}"
        stored = {
            "id": view_id,
            "team_id": "T1",
            "app_id": "A1",
            "bot_id": "BBOT",
            "hash": f"{int(time.time())}.{next(self._ids):08d}",
            "state": {"values": {}},
            "private_metadata": "",
            "callback_id": "",
            "root_view_id": view_id,
            "previous_view_id": None,
            **args["view"],
        }
        stored["id"] = view_id
        self.views[view_id] = stored
        return {"ok": True, "view": stored}

    def _views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        return self._view(args)

    def _views_update(self, args: dict[str, Any]) -> dict[str, Any]:
        view_id = args.get("view_id")
        if not view_id and args.get("external_id"):
            view_id = next(
                (k for k, v in self.views.items() if v.get("external_id") == args["external_id"]),
                None,
            )
        if not view_id or view_id not in self.views:
            return {"ok": False, "error": "not_found"}
        return self._view(args, str(view_id))

    def _views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        # One Home tab per user: publishing replaces it (and must name the user).
        user = str(args.get("user_id", ""))
        if not user:
            return {"ok": False, "error": "invalid_arguments"}
        if args["view"].get("type") != "home":
            return {"ok": False, "error": "invalid_arguments"}
        current = self.home_views.get(user)
        answer = self._view(args, current["id"] if current else None)
        self.home_views[user] = answer["view"]
        return answer

    def _get_permalink(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, ts = str(args.get("channel", "")), str(args.get("message_ts", ""))
        if (channel, ts) not in self.messages:
            return {"ok": False, "error": "message_not_found"}
        link = f"https://example.slack.com/archives/{channel}/p{ts.replace('.', '')}"
        return {"ok": True, "channel": channel, "permalink": link}

    def _conversations_list(self, args: dict[str, Any]) -> dict[str, Any]:
        channels = [
            {"id": cid, "name": name, "is_channel": True, **self._channel_flags(cid)}
            for cid, name in sorted(self.channel_names.items())
        ]
        return {"ok": True, "channels": channels, "response_metadata": {"next_cursor": ""}}

    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://example.slack.com/",
            "team": "Example",
            "user": "runbook-bot",
            "team_id": "T1",
            "user_id": "UBOT",
            "bot_id": "BBOT",
            "is_enterprise_install": False,
        }

    def _conversations_info(self, args: dict[str, Any]) -> dict[str, Any]:
        ch = str(args.get("channel", ""))
        if not ch:
            return {"ok": False, "error": "channel_not_found"}
        return {
            "ok": True,
            "channel": {
                "id": ch,
                "name": self.channel_names.get(ch, ch.lower()),
                "is_channel": True,
                "is_private": False,
                **self._channel_flags(ch),
                "created": 1700000000,
            },
        }

    def _users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        uid = str(args.get("user", ""))
        if not uid:
            return {"ok": False, "error": "user_not_found"}
        user: dict[str, Any] = {
            "id": uid,
            "team_id": "T1",
            "name": uid.lower(),
            "real_name": uid,
            "deleted": False,
            "is_bot": False,
            "tz": "Etc/UTC",
            "tz_label": "Coordinated Universal Time",
            "tz_offset": 0,
            "profile": {"real_name": uid, "display_name": uid.lower()},
        }
        user.update(self.users.get(uid, {}))
        return {"ok": True, "user": user}

    def _apps_connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        # Authorized with the app-level (xapp-) token, checked by the stand-in.
        return {"ok": True, "url": self.socket_url}

    def _usergroups_users_list(self, args: dict[str, Any]) -> dict[str, Any]:
        group = str(args.get("usergroup", ""))
        if group not in self.usergroups:
            return {"ok": False, "error": "no_such_subteam"}
        return {"ok": True, "users": list(self.usergroups[group])}


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() in ("1", "true")


def _in_range(ts: str, args: dict[str, Any]) -> bool:
    inclusive = _truthy(args.get("inclusive"))
    oldest, latest = args.get("oldest"), args.get("latest")
    if oldest and (float(ts) < float(oldest) or (float(ts) == float(oldest) and not inclusive)):
        return False
    return not (
        latest and (float(ts) > float(latest) or (float(ts) == float(latest) and not inclusive))
    )


def _parsed_metadata(value: Any) -> Any:
    if isinstance(value, str):  # form bodies carry it as a JSON string
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _metadata_problem(value: Any) -> str:
    meta = _parsed_metadata(value)
    if not isinstance(meta, dict):
        return "metadata must be an object"
    if not isinstance(meta.get("event_type"), str) or not meta["event_type"]:
        return "metadata.event_type must be a non-empty string"
    if not isinstance(meta.get("event_payload"), dict):
        return "metadata.event_payload must be an object"
    return ""


def _usergroups_list(self: SlackMethods, args: dict[str, Any]) -> dict[str, Any]:
    include = str(args.get("include_users", "")).lower() in ("1", "true")
    groups = []
    for group_id, users in self.usergroups.items():
        handle = self.usergroup_handles.get(group_id, group_id.lower())
        group: dict[str, Any] = {"id": group_id, "team_id": "T1", "handle": handle, "name": handle}
        if include:
            group["users"] = list(users)
        groups.append(group)
    return {"ok": True, "usergroups": groups}


_HANDLERS: dict[str, Callable[[SlackMethods, dict[str, Any]], dict[str, Any]]] = {
    "chat.postMessage": SlackMethods._post_message,
    "chat.update": SlackMethods._update,
    "chat.postEphemeral": SlackMethods._post_ephemeral,
    "chat.delete": SlackMethods._delete,
    "views.open": SlackMethods._views_open,
    "views.push": SlackMethods._views_open,
    "views.publish": SlackMethods._views_publish,
    "chat.getPermalink": SlackMethods._get_permalink,
    "conversations.list": SlackMethods._conversations_list,
    "views.update": SlackMethods._views_update,
    "auth.test": SlackMethods._auth_test,
    "conversations.info": SlackMethods._conversations_info,
    "conversations.replies": SlackMethods._conversations_replies,
    "conversations.history": SlackMethods._conversations_history,
    "users.info": SlackMethods._users_info,
    "usergroups.users.list": SlackMethods._usergroups_users_list,
    "usergroups.list": _usergroups_list,
    "apps.connections.open": SlackMethods._apps_connections_open,
}
