"""Slack-shaped request bodies for the playground, signed as Slack signs them.

The page's actions (a slash command typed, a button clicked, a modal
submitted, the Home tab opened) become the bodies Slack would send — form
encoded slash commands, ``payload=<json>`` interactions, JSON event
callbacks — with the v0 signature Bolt verifies: ``X-Slack-Signature =
v0=HMAC-SHA256(secret, "v0:<timestamp>:<body>")``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from typing import Any
from urllib.parse import urlencode

from bot.playground.workspace import APP_ID, BOT_USER, TEAM_DOMAIN, TEAM_ID, User

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
VERIFICATION_TOKEN = "playground-verification-token"  # legacy field Slack still sends


def sign(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """The headers Slack sends with ``body``."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    base = b"v0:" + ts.encode() + b":" + body
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    content_type = JSON if body.startswith(b"{") else FORM
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": f"v0={digest}",
    }


def trigger_id() -> str:
    """Same shape as Slack's: ``<digits>.<digits>.<hex>``."""
    return f"{secrets.randbelow(10**11)}.{secrets.randbelow(10**12)}.{secrets.token_hex(16)}"


def _user(user: User) -> dict[str, str]:
    return {"id": user.id, "username": user.name, "name": user.name, "team_id": TEAM_ID}


def _team() -> dict[str, str]:
    return {"id": TEAM_ID, "domain": TEAM_DOMAIN}


def _payload(payload: dict[str, Any]) -> bytes:
    return urlencode({"payload": json.dumps(payload, separators=(",", ":"))}).encode()


def slash_command(
    user: User, channel_id: str, channel_name: str, command: str, text: str, trigger: str
) -> bytes:
    fields = [
        ("token", VERIFICATION_TOKEN),
        ("team_id", TEAM_ID),
        ("team_domain", TEAM_DOMAIN),
        ("channel_id", channel_id),
        ("channel_name", channel_name),
        ("user_id", user.id),
        ("user_name", user.name),
        ("command", command),
        ("text", text),
        ("api_app_id", APP_ID),
        ("is_enterprise_install", "false"),
        ("response_url", "http://127.0.0.1:9/no-response-url"),
        ("trigger_id", trigger),
    ]
    return urlencode(fields).encode()


def action_ts() -> str:
    now = time.time()
    return f"{int(now)}.{int(now * 1_000_000) % 1_000_000:06d}"


def block_action(
    user: User,
    action: dict[str, Any],
    trigger: str,
    *,
    message: dict[str, Any] | None = None,
    channel: tuple[str, str] | None = None,
    view: dict[str, Any] | None = None,
    ephemeral: bool = False,
) -> bytes:
    """A ``block_actions`` click: on a message (``message`` + ``channel`` (id, name))
    or in a modal / App Home (``view``)."""
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": _user(user),
        "api_app_id": APP_ID,
        "token": VERIFICATION_TOKEN,
        "trigger_id": trigger,
        "team": _team(),
        "enterprise": None,
        "is_enterprise_install": False,
        "actions": [{**action, "action_ts": action_ts()}],
    }
    if view is not None:
        payload["container"] = {"type": "view", "view_id": view["id"]}
        payload["view"] = view
        payload["state"] = view.get("state") or {"values": {}}
    else:
        assert message is not None and channel is not None
        container: dict[str, Any] = {
            "type": "message",
            "message_ts": message["ts"],
            "channel_id": channel[0],
            "is_ephemeral": ephemeral,
        }
        msg = {k: v for k, v in message.items() if k not in ("channel", "id", "user_id")}
        if message.get("thread_ts"):
            container["thread_ts"] = message["thread_ts"]
        payload.update(
            {
                "container": container,
                "channel": {"id": channel[0], "name": channel[1]},
                "message": msg,
                "state": {"values": {}},
                "response_url": "http://127.0.0.1:9/no-response-url",
            }
        )
    return _payload(payload)


def view_submission(
    user: User, view: dict[str, Any], values: dict[str, Any], trigger: str
) -> bytes:
    submitted = {k: v for k, v in view.items() if k not in ("user", "kind")}
    submitted["state"] = {"values": values}
    payload = {
        "type": "view_submission",
        "team": _team(),
        "user": _user(user),
        "api_app_id": APP_ID,
        "token": VERIFICATION_TOKEN,
        "trigger_id": trigger,
        "view": submitted,
        "response_urls": [],
        "is_enterprise_install": False,
        "enterprise": None,
    }
    return _payload(payload)


def event_callback(event: dict[str, Any]) -> bytes:
    body = {
        "token": VERIFICATION_TOKEN,
        "team_id": TEAM_ID,
        "api_app_id": APP_ID,
        "event": event,
        "type": "event_callback",
        "event_id": f"Ev{secrets.token_hex(5).upper()}",
        "event_time": int(time.time()),
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": TEAM_ID,
                "user_id": BOT_USER,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": f"4-{secrets.token_hex(8)}",
    }
    return json.dumps(body, separators=(",", ":")).encode()


def app_home_opened(user: User, home_view: dict[str, Any] | None) -> bytes:
    event: dict[str, Any] = {
        "type": "app_home_opened",
        "user": user.id,
        "channel": f"D{user.id[1:]}",
        "tab": "home",
        "event_ts": action_ts(),
    }
    if home_view is not None:
        event["view"] = {k: v for k, v in home_view.items() if k not in ("user", "kind")}
    return event_callback(event)
