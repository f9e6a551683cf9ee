"""The Slack Web API stand-in the playground's bot talks to (``SLACK_API_URL``).

The bot's real ``AsyncWebClient`` calls ``/api/<method>`` on the playground's
own server; each method answers with Slack-shaped JSON from the
:class:`~bot.playground.workspace.Workspace` and records what changed there,
which the page then shows. Methods the bot does not call answer
``unknown_method``, as Slack does. Like Slack, it refuses a message whose
blocks hold more than 12,000 characters of text (``msg_blocks_too_long``) and a
``chat.update`` text over 4,000 (``msg_too_long``); it keeps no pace.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aiohttp import web

from bot.playground.workspace import (
    APP_ID,
    BOT_ID,
    BOT_USER,
    TEAM_DOMAIN,
    TEAM_ID,
    Channel,
    Workspace,
)

# The bot's own count of a message's text (as strict as Slack's).
from bot.slack.blockkit import text_length as blocks_text_chars

Args = dict[str, Any]
Answer = dict[str, Any]

# Arguments the Web API takes as JSON strings inside form bodies.
_JSON_FIELDS = ("blocks", "attachments", "view", "metadata")

# Slack's limits on a message as a whole: the text of all its blocks together,
# and the text of an update.
MAX_BLOCKS_TEXT = 12_000
MAX_UPDATE_TEXT = 4_000


def _truthy(value: Any) -> bool:
    return str(value).lower() in ("1", "true", "yes")


def _too_long(args: Args, *, update: bool = False) -> Answer | None:
    """Slack's refusal of a message too long as a whole, or None."""
    if blocks_text_chars(args.get("blocks") or []) > MAX_BLOCKS_TEXT:
        return {"ok": False, "error": "msg_blocks_too_long"}
    text = args.get("text")
    if update and isinstance(text, str) and len(text) > MAX_UPDATE_TEXT:
        return {"ok": False, "error": "msg_too_long"}
    return None


class WebApi:
    """``/api/{method}`` routes over one workspace."""

    def __init__(self, workspace: Workspace) -> None:
        self.ws = workspace
        self.methods: dict[str, Callable[[Args], Answer]] = {
            "auth.test": self.auth_test,
            "chat.postMessage": self.chat_post_message,
            "chat.update": self.chat_update,
            "chat.delete": self.chat_delete,
            "chat.postEphemeral": self.chat_post_ephemeral,
            "chat.getPermalink": self.chat_get_permalink,
            "conversations.info": self.conversations_info,
            "conversations.list": self.conversations_list,
            "conversations.history": self.conversations_history,
            "conversations.replies": self.conversations_replies,
            "users.info": self.users_info,
            "usergroups.list": self.usergroups_list,
            "usergroups.users.list": self.usergroups_users_list,
            "views.open": self.views_open,
            "views.push": self.views_push,
            "views.update": self.views_update,
            "views.publish": self.views_publish,
        }

    def add_routes(self, app: web.Application, prefix: str = "/api/") -> None:
        app.router.add_post(prefix + "{method}", self.handle)
        app.router.add_get(prefix + "{method}", self.handle)

    async def handle(self, request: web.Request) -> web.Response:
        args: Args = dict(request.query)
        if request.content_type == "application/json":
            raw = await request.read()
            body = json.loads(raw) if raw else {}
            if isinstance(body, dict):
                args.update(body)
        elif request.method == "POST":
            args.update({k: v for k, v in (await request.post()).items() if isinstance(v, str)})
        for name in _JSON_FIELDS:
            if isinstance(args.get(name), str):
                try:
                    args[name] = json.loads(args[name])
                except ValueError:
                    return web.json_response({"ok": False, "error": f"invalid_{name}"})
        token = str(args.pop("token", "") or "")
        auth = request.headers.get("Authorization", "")
        if not (auth.startswith("Bearer xoxb-") or token.startswith("xoxb-")):
            return web.json_response({"ok": False, "error": "not_authed"})
        method = self.methods.get(request.match_info["method"])
        if method is None:
            return web.json_response({"ok": False, "error": "unknown_method"})
        return web.json_response(method(args))

    # -- methods ---------------------------------------------------------------

    def auth_test(self, args: Args) -> Answer:
        return {
            "ok": True,
            "url": f"https://{TEAM_DOMAIN}.slack.com/",
            "team": "Playground",
            "user": "runbook-bot",
            "team_id": TEAM_ID,
            "user_id": BOT_USER,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "is_enterprise_install": False,
        }

    def _channel(self, args: Args) -> str | None:
        channel = str(args.get("channel") or "")
        if channel in self.ws.channels:
            return channel
        named = self.ws.channel_by_name(channel)
        return named.id if named else None

    def chat_post_message(self, args: Args) -> Answer:
        channel = self._channel(args)
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        if not args.get("text") and not args.get("blocks"):
            return {"ok": False, "error": "no_text"}
        refused = _too_long(args)
        if refused is not None:
            return refused
        message = self.ws.post(channel, args)
        return {"ok": True, "channel": channel, "ts": message["ts"], "message": _public(message)}

    def chat_update(self, args: Args) -> Answer:
        channel = self._channel(args) or ""
        refused = _too_long(args, update=True)
        if refused is not None:
            return refused
        message = self.ws.update(channel, str(args.get("ts") or ""), args)
        if message is None:
            return {"ok": False, "error": "message_not_found"}
        public = _public(message)
        return {
            "ok": True,
            "channel": channel,
            "ts": message["ts"],
            "text": message["text"],
            "message": public,
        }

    def chat_delete(self, args: Args) -> Answer:
        channel, ts = self._channel(args) or "", str(args.get("ts") or "")
        if not self.ws.delete(channel, ts):
            return {"ok": False, "error": "message_not_found"}
        return {"ok": True, "channel": channel, "ts": ts}

    def chat_post_ephemeral(self, args: Args) -> Answer:
        channel = self._channel(args)
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        user = str(args.get("user") or "")
        if user not in self.ws.users:
            return {"ok": False, "error": "user_not_in_channel"}
        if not args.get("text") and not args.get("blocks"):
            return {"ok": False, "error": "no_text"}
        refused = _too_long(args)
        if refused is not None:
            return refused
        return {"ok": True, "message_ts": self.ws.post_ephemeral(channel, user, args)["ts"]}

    def chat_get_permalink(self, args: Args) -> Answer:
        channel, ts = self._channel(args) or "", str(args.get("message_ts") or "")
        if (channel, ts) not in self.ws.messages:
            return {"ok": False, "error": "message_not_found"}
        return {"ok": True, "channel": channel, "permalink": self.ws.permalink(channel, ts)}

    def conversations_info(self, args: Args) -> Answer:
        channel = self._channel(args)
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        return {"ok": True, "channel": _conversation(self.ws.channels[channel])}

    def conversations_list(self, args: Args) -> Answer:
        """Every channel on one page (the playground has a handful)."""
        channels = [_conversation(c) for c in self.ws.channels.values()]
        return {"ok": True, "channels": channels, "response_metadata": {"next_cursor": ""}}

    def _listing(self, args: Args, messages: list[dict[str, Any]]) -> Answer:
        with_metadata = _truthy(args.get("include_all_metadata", False))
        limit = int(args.get("limit") or 100)
        oldest, latest = args.get("oldest"), args.get("latest")
        picked = []
        for m in messages:
            if oldest and float(m["ts"]) < float(oldest):
                continue
            if latest and float(m["ts"]) > float(latest):
                continue
            picked.append(_public(m, with_metadata=with_metadata))
        return {
            "ok": True,
            "messages": picked[:limit],
            "has_more": len(picked) > limit,
            "response_metadata": {"next_cursor": ""},
        }

    def conversations_history(self, args: Args) -> Answer:
        channel = self._channel(args)
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        return self._listing(args, self.ws.history(channel))

    def conversations_replies(self, args: Args) -> Answer:
        channel = self._channel(args)
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        found = self.ws.replies(channel, str(args.get("ts") or ""))
        if not found:
            return {"ok": False, "error": "thread_not_found"}
        return self._listing(args, found)

    def users_info(self, args: Args) -> Answer:
        user = self.ws.users.get(str(args.get("user") or ""))
        if user is None:
            return {"ok": False, "error": "user_not_found"}
        return {"ok": True, "user": user.info()}

    def usergroups_list(self, args: Args) -> Answer:
        groups = [
            {
                "id": g.id,
                "team_id": TEAM_ID,
                "handle": g.handle,
                "name": g.name,
                "user_count": len(g.members),
            }
            for g in self.ws.usergroups.values()
        ]
        return {"ok": True, "usergroups": groups}

    def usergroups_users_list(self, args: Args) -> Answer:
        group = self.ws.usergroups.get(str(args.get("usergroup") or ""))
        if group is None:
            return {"ok": False, "error": "no_such_subteam"}
        return {"ok": True, "users": list(group.members)}

    def _trigger_user(self, args: Args) -> str | None:
        return self.ws.triggers.get(str(args.get("trigger_id") or ""))

    def views_open(self, args: Args) -> Answer:
        user = self._trigger_user(args)
        if user is None:
            return {"ok": False, "error": "invalid_trigger_id"}
        if not isinstance(args.get("view"), dict):
            return {"ok": False, "error": "invalid_arguments"}
        return {"ok": True, "view": _view(self.ws.open_modal(user, args["view"]))}

    def views_push(self, args: Args) -> Answer:
        user = self._trigger_user(args)
        if user is None:
            return {"ok": False, "error": "invalid_trigger_id"}
        if not isinstance(args.get("view"), dict):
            return {"ok": False, "error": "invalid_arguments"}
        return {"ok": True, "view": _view(self.ws.open_modal(user, args["view"], push=True))}

    def views_update(self, args: Args) -> Answer:
        current = self.ws.find_view(args.get("view_id"), args.get("external_id"))
        if current is None:
            return {"ok": False, "error": "not_found"}
        if args.get("hash") and args["hash"] != current["hash"]:
            return {"ok": False, "error": "hash_conflict"}
        if not isinstance(args.get("view"), dict):
            return {"ok": False, "error": "invalid_arguments"}
        return {"ok": True, "view": _view(self.ws.update_view(current, args["view"]))}

    def views_publish(self, args: Args) -> Answer:
        user = str(args.get("user_id") or "")
        if user not in self.ws.users:
            return {"ok": False, "error": "user_not_found"}
        if not isinstance(args.get("view"), dict) or args["view"].get("type") != "home":
            return {"ok": False, "error": "invalid_arguments"}
        return {"ok": True, "view": _view(self.ws.publish_home(user, args["view"]))}


def _conversation(c: Channel) -> dict[str, Any]:
    return {
        "id": c.id,
        "name": c.name,
        "is_channel": True,
        "is_private": False,
        "is_archived": False,
        "is_member": True,
        "created": 1700000000,
        "topic": {"value": c.topic},
    }


def _public(message: dict[str, Any], *, with_metadata: bool = True) -> dict[str, Any]:
    """A message as the Web API returns it (no channel key; metadata only when asked)."""
    return {
        k: v for k, v in message.items() if k != "channel" and (with_metadata or k != "metadata")
    }


def _view(view: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in view.items() if k not in ("user", "kind")}
