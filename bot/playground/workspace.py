"""The simulated Slack workspace behind the playground: plain data and a change feed.

Everything the page shows lives here: who the users are (with their time
zones), the channels, user groups, messages with their threads, ephemerals,
modals and App Home views. The Web API stand-in writes it, the page reads it;
every change is pushed to ``subscribers`` as one JSON-ready event.
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

Event = dict[str, Any]

BOT_USER = "UBOTPLAY1"
BOT_ID = "BPLAY0001"
APP_ID = "APLAY0001"
TEAM_ID = "TPLAY0001"
TEAM_DOMAIN = "playground"
MENTION = re.compile(r"(?<![\w<|@#])([@#])([a-z0-9][a-z0-9._-]*)\b")


@dataclass(frozen=True)
class User:
    id: str
    name: str
    real_name: str
    title: str
    tz: str

    def info(self) -> dict[str, Any]:
        """Slack's ``users.info`` user object."""
        offset = ZoneInfo(self.tz).utcoffset(datetime.now())
        seconds = int(offset.total_seconds()) if offset else 0
        return {
            "id": self.id,
            "team_id": TEAM_ID,
            "name": self.name,
            "real_name": self.real_name,
            "deleted": False,
            "is_bot": False,
            "tz": self.tz,
            "tz_label": self.tz,
            "tz_offset": seconds,
            "profile": {
                "real_name": self.real_name,
                "display_name": self.name,
                "title": self.title,
            },
        }


@dataclass(frozen=True)
class Channel:
    id: str
    name: str
    topic: str


@dataclass(frozen=True)
class UserGroup:
    id: str
    handle: str
    name: str
    members: tuple[str, ...]


USERS = (
    User("U01ALICE", "alice", "Alice Nguyen", "SRE on call", "Europe/London"),
    User("U02BOB", "bob", "Bob Okafor", "Backend engineer", "America/New_York"),
    User("U03CAROL", "carol", "Carol Tanaka", "Security engineer", "Asia/Tokyo"),
    User("U04DANA", "dana", "Dana Schmidt", "Incident commander", "Europe/Berlin"),
)
CHANNELS = (
    Channel("C01INCIDENTS", "incidents", "Run runbooks here: /runbook start RB-04"),
    Channel("C02GENERAL", "general", "Company-wide announcements"),
)
USERGROUPS = (
    UserGroup("S01SECURITY", "security", "Security team", ("U03CAROL",)),
    UserGroup("S02COMMANDERS", "commanders", "Incident commanders", ("U04DANA",)),
)


def _ts_key(ts: str) -> tuple[int, int]:
    whole, _, frac = ts.partition(".")
    return int(whole or 0), int((frac or "0").ljust(6, "0")[:6])


class Workspace:
    """State of the simulated workspace. Not thread-safe: one event loop owns it."""

    def __init__(self) -> None:
        self.users = {u.id: u for u in USERS}
        self.channels = {c.id: c for c in CHANNELS}
        self.usergroups = {g.id: g for g in USERGROUPS}
        self.messages: dict[tuple[str, str], dict[str, Any]] = {}
        self.ephemerals: list[dict[str, Any]] = []
        self.views: dict[str, dict[str, Any]] = {}  # view id -> view (with "user", "kind")
        self.modals: dict[str, list[str]] = {}  # user -> stack of modal view ids
        self.homes: dict[str, str] = {}  # user -> published home view id
        self.triggers: dict[str, str] = {}  # trigger_id -> user who acted
        self.subscribers: set[Callable[[Event], None]] = set()
        self._last_us = 0
        self._ids = itertools.count(1)

    # -- change feed ---------------------------------------------------------

    def emit(self, event: Event) -> None:
        for subscriber in list(self.subscribers):
            subscriber(event)

    def snapshot(self) -> Event:
        """Everything the page needs when it (re)connects."""
        return {
            "type": "hello",
            "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
            "bot": {"id": BOT_USER, "name": "runbook-bot"},
            "users": [asdict(u) for u in self.users.values()],
            "channels": [asdict(c) for c in self.channels.values()],
            "usergroups": [asdict(g) for g in self.usergroups.values()],
            "messages": sorted(self.messages.values(), key=lambda m: _ts_key(m["ts"])),
            "ephemerals": self.ephemerals,
            "views": [self.views_of(user) for user in self.users],
        }

    # -- ids -------------------------------------------------------------------

    def next_ts(self) -> str:
        """Wall-clock based and strictly increasing, like Slack's message ``ts``."""
        us = max(int(time.time() * 1_000_000), self._last_us + 1)
        self._last_us = us
        return f"{us // 1_000_000}.{us % 1_000_000:06d}"

    def new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):08d}"

    def channel_by_name(self, name: str) -> Channel | None:
        return next((c for c in self.channels.values() if c.name == name.lstrip("#")), None)

    def permalink(self, channel: str, ts: str) -> str:
        """Shaped like Slack's (the bot keeps only ``https://`` links); the page
        recognises this workspace's links and opens the thread in place."""
        link = f"https://{TEAM_DOMAIN}.slack.com/archives/{channel}/p{ts.replace('.', '')}"
        message = self.messages.get((channel, ts)) or {}
        parent = message.get("thread_ts")
        if parent and parent != ts:
            link += f"?thread_ts={parent}&cid={channel}"
        return link

    def encode_mentions(self, text: str) -> str:
        """``@dana``, ``@security``, ``#incidents`` as Slack sends a mention picked
        in its composer: ``<@U04DANA|dana>``, ``<!subteam^S…|@security>``, ``<#C…|incidents>``."""
        users = {u.name: u.id for u in self.users.values()}
        groups = {g.handle: g.id for g in self.usergroups.values()}
        channels = {c.name: c.id for c in self.channels.values()}

        def one(match: re.Match[str]) -> str:
            sigil, name = match.group(1), match.group(2)
            if sigil == "#" and name in channels:
                return f"<#{channels[name]}|{name}>"
            if sigil == "@" and name in users:
                return f"<@{users[name]}|{name}>"
            if sigil == "@" and name in groups:
                return f"<!subteam^{groups[name]}|@{name}>"
            return match.group(0)

        return MENTION.sub(one, text)

    # -- messages --------------------------------------------------------------

    def post(self, channel: str, fields: dict[str, Any], *, user: str | None = None) -> dict:
        ts = self.next_ts()
        message: dict[str, Any] = {
            "type": "message",
            "channel": channel,
            "ts": ts,
            "text": fields.get("text") or "",
            "blocks": fields.get("blocks") or [],
        }
        if user is None:
            message.update({"user": BOT_USER, "bot_id": BOT_ID, "app_id": APP_ID})
        else:
            message["user"] = user
        for key in ("attachments", "metadata", "reply_broadcast"):
            if fields.get(key):
                message[key] = fields[key]
        thread_ts = fields.get("thread_ts")
        if thread_ts:
            message["thread_ts"] = str(thread_ts)
            parent = self.messages.get((channel, str(thread_ts)))
            if parent is not None:
                parent["thread_ts"] = parent["ts"]
                parent["reply_count"] = parent.get("reply_count", 0) + 1
                parent["latest_reply"] = ts
                self.emit({"type": "message", "message": parent})
        self.messages[(channel, ts)] = message
        self.emit({"type": "message", "message": message})
        return message

    def update(self, channel: str, ts: str, fields: dict[str, Any]) -> dict | None:
        message = self.messages.get((channel, ts))
        if message is None:
            return None
        for key in ("text", "blocks", "attachments", "metadata"):
            if key in fields:
                message[key] = fields[key]
        message["edited"] = {"user": message.get("user"), "ts": self.next_ts()}
        self.emit({"type": "message", "message": message})
        return message

    def delete(self, channel: str, ts: str) -> bool:
        if self.messages.pop((channel, ts), None) is None:
            return False
        self.emit({"type": "message_deleted", "channel": channel, "ts": ts})
        return True

    def history(self, channel: str) -> list[dict[str, Any]]:
        """Top-level messages (and thread parents), newest first, like conversations.history."""
        top = [
            m
            for (ch, _), m in self.messages.items()
            if ch == channel and (m.get("thread_ts") in (None, m["ts"]) or m.get("reply_broadcast"))
        ]
        return sorted(top, key=lambda m: _ts_key(m["ts"]), reverse=True)

    def replies(self, channel: str, thread_ts: str) -> list[dict[str, Any]]:
        """The parent then its replies, oldest first, like conversations.replies."""
        found = [
            m
            for (ch, ts), m in self.messages.items()
            if ch == channel and (ts == thread_ts or m.get("thread_ts") == thread_ts)
        ]
        return sorted(found, key=lambda m: _ts_key(m["ts"]))

    def post_ephemeral(self, channel: str, user: str, fields: dict[str, Any]) -> dict:
        ephemeral = {
            "type": "ephemeral",
            "id": self.new_id("E"),
            "channel": channel,
            "user": user,
            "ts": self.next_ts(),
            "text": fields.get("text") or "",
            "blocks": fields.get("blocks") or [],
        }
        if fields.get("thread_ts"):
            ephemeral["thread_ts"] = str(fields["thread_ts"])
        self.ephemerals.append(ephemeral)
        del self.ephemerals[:-200]  # the page shows the recent ones; keep memory bounded
        self.emit({"type": "ephemeral", "ephemeral": ephemeral})
        return ephemeral

    # -- views -----------------------------------------------------------------

    def views_of(self, user: str) -> Event:
        home = self.homes.get(user)
        return {
            "type": "views",
            "user": user,
            "modals": [self.views[v] for v in self.modals.get(user, [])],
            "home": self.views.get(home) if home else None,
        }

    def _store_view(self, view: dict[str, Any], user: str, kind: str, view_id: str | None) -> dict:
        view_id = view_id or self.new_id("V")
        previous = self.views.get(view_id, {})
        stored = {
            "team_id": TEAM_ID,
            "app_id": APP_ID,
            "bot_id": BOT_ID,
            "state": {"values": {}},
            "private_metadata": "",
            "callback_id": "",
            "external_id": "",
            "root_view_id": previous.get("root_view_id", view_id),
            "previous_view_id": None,
            **view,
            "id": view_id,
            "hash": f"{int(time.time())}.{next(self._ids):08d}",
            "user": user,
            "kind": kind,
        }
        self.views[view_id] = stored
        return stored

    def open_modal(self, user: str, view: dict[str, Any], *, push: bool = False) -> dict:
        stack = self.modals.setdefault(user, [])
        stored = self._store_view(view, user, "modal", None)
        if stack and push:
            stored["root_view_id"] = self.views[stack[0]]["id"]
            stored["previous_view_id"] = stack[-1]
        elif not push:
            stack.clear()
        stack.append(stored["id"])
        self.emit(self.views_of(user))
        return stored

    def find_view(self, view_id: str | None, external_id: str | None) -> dict | None:
        if view_id:
            return self.views.get(view_id)
        if external_id:
            return next((v for v in self.views.values() if v["external_id"] == external_id), None)
        return None

    def update_view(self, current: dict[str, Any], view: dict[str, Any]) -> dict:
        stored = self._store_view(view, current["user"], current["kind"], current["id"])
        self.emit(self.views_of(current["user"]))
        return stored

    def publish_home(self, user: str, view: dict[str, Any]) -> dict:
        stored = self._store_view(view, user, "home", self.homes.get(user))
        self.homes[user] = stored["id"]
        self.emit(self.views_of(user))
        return stored

    def close_modals(self, user: str, view_id: str | None = None) -> None:
        """Close ``view_id`` (and any pushed above it), or every modal of ``user``."""
        stack = self.modals.get(user, [])
        if view_id in stack:
            del stack[stack.index(view_id) :]
        else:
            stack.clear()
        self.emit(self.views_of(user))
