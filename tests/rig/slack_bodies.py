"""Slack-shaped request bodies: slash commands, interactions, Events API callbacks.

Bodies mirror what Slack sends (form-encoded slash commands, ``payload=<json>``
interactions, JSON Events API callbacks); :class:`tests.rig.signing.SlackSigner`
inherits these builders and signs the result.
"""

from __future__ import annotations

import itertools
import json
import secrets
import time
from typing import Any
from urllib.parse import urlencode

__all__ = ["SlackBodies", "default_name"]

_action_seq = itertools.count(1)


def _trigger_id() -> str:
    # Same shape as Slack's: "<digits>.<digits>.<hex>"; unique per request.
    return f"{secrets.randbelow(10**11)}.{secrets.randbelow(10**12)}.{secrets.token_hex(16)}"


def _action_ts() -> str:
    us = int(time.time() * 1_000_000) + next(_action_seq)  # unique even within one microsecond
    return f"{us // 1_000_000}.{us % 1_000_000:06d}"


def default_name(user_id: str) -> str:
    """A handle for a user id when the test gives none, different per user as in
    Slack: ``UBOB`` → ``bob``, ``U0CMD1`` → ``u0cmd1``, ``U1`` → ``u1``."""
    rest = user_id[1:]
    return rest.lower() if user_id.startswith("U") and rest.isalpha() else user_id.lower()


def _user(user_id: str, user_name: str | None, team_id: str) -> dict[str, str]:
    name = user_name or default_name(user_id)
    return {"id": user_id, "username": name, "name": name, "team_id": team_id}


def _form_payload(payload: dict[str, Any]) -> bytes:
    return urlencode({"payload": json.dumps(payload, separators=(",", ":"))}).encode()


def _block_of(blocks: Any, action_id: str) -> str | None:
    """The ``block_id`` of the block holding the element with ``action_id``."""
    for block in blocks if isinstance(blocks, list) else []:
        if isinstance(block, dict) and _find_element(block, action_id) is not None:
            return block.get("block_id")
    return None


def _find_element(blocks: Any, action_id: str) -> dict[str, Any] | None:
    """The element with ``action_id`` in ``blocks`` (to echo its text like Slack does)."""
    stack = [blocks]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.get("action_id") == action_id:
                return node
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return None


class SlackBodies:
    """Builds Slack-shaped request bodies for one app (its id, team domain, legacy token)."""

    api_app_id: str
    team_domain: str
    verification_token: str

    def slash_command(
        self,
        command: str,
        text: str,
        *,
        user_id: str = "U1",
        user_name: str | None = None,
        channel_id: str = "C_INC",
        channel_name: str = "incidents",
        team_id: str = "T1",
        trigger_id: str | None = None,
        response_url: str = "http://127.0.0.1:1/none",
    ) -> bytes:
        """Form body of a slash command, fields in Slack's order."""
        fields = [
            ("token", self.verification_token),
            ("team_id", team_id),
            ("team_domain", self.team_domain),
            ("channel_id", channel_id),
            ("channel_name", channel_name),
            ("user_id", user_id),
            ("user_name", user_name or default_name(user_id)),
            ("command", command),
            ("text", text),
            ("api_app_id", self.api_app_id),
            ("is_enterprise_install", "false"),
            ("response_url", response_url),
            ("trigger_id", trigger_id or _trigger_id()),
        ]
        return urlencode(fields).encode()

    def block_action(
        self,
        action_id: str,
        value: str = "",
        *,
        message_ts: str,
        user_id: str = "U1",
        user_name: str | None = None,
        channel_id: str = "C_INC",
        channel_name: str = "incidents",
        thread_ts: str | None = None,
        block_id: str = "b",
        message: dict[str, Any] | None = None,
        team_id: str = "T1",
        trigger_id: str | None = None,
        response_url: str = "http://127.0.0.1:1/none",
        selected_option_value: str | None = None,
        selected_option_text: str | None = None,
        selected_user: str | None = None,
    ) -> bytes:
        """``payload=`` body of a ``block_actions`` click on a message button.

        Pass ``message`` (e.g. ``slack.message(channel, ts)`` from the stand-in) to send
        the message as Slack would; its ``thread_ts`` is used when none is given.
        With ``selected_option_value`` the action is a ``static_select`` choice instead.
        """
        if message is not None and thread_ts is None:
            thread_ts = message.get("thread_ts")
        container: dict[str, Any] = {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel_id,
            "is_ephemeral": False,
        }
        msg: dict[str, Any] = {
            "type": "message",
            "user": "UBOT",
            "bot_id": "BBOT",
            "ts": message_ts,
            "text": "",
            "blocks": [],
        }
        if message is not None:
            msg.update({k: v for k, v in message.items() if k != "channel"})
            msg["ts"] = message_ts
        if thread_ts is not None:
            # Slack only includes thread_ts for messages inside a thread.
            container["thread_ts"] = thread_ts
            msg["thread_ts"] = thread_ts

        element = _find_element(msg.get("blocks"), action_id) or {}
        action: dict[str, Any] = {"action_id": action_id, "block_id": block_id}
        if block_id == "b":  # as Slack sends it: the id of the block the element is in
            action["block_id"] = _block_of(msg.get("blocks"), action_id) or block_id
        if selected_user is not None:
            action.update({"type": "users_select", "selected_user": selected_user})
        elif selected_option_value is not None:
            label = selected_option_text or selected_option_value
            action.update(
                {
                    "type": "static_select",
                    "selected_option": {
                        "text": {"type": "plain_text", "text": label, "emoji": True},
                        "value": selected_option_value,
                    },
                }
            )
            if "placeholder" in element:
                action["placeholder"] = element["placeholder"]
        else:
            text = element.get("text") or {"type": "plain_text", "text": value, "emoji": True}
            action.update({"type": "button", "text": text, "value": value})
        action["action_ts"] = _action_ts()

        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": _user(user_id, user_name, team_id),
            "api_app_id": self.api_app_id,
            "token": self.verification_token,
            "container": container,
            "trigger_id": trigger_id or _trigger_id(),
            "team": {"id": team_id, "domain": self.team_domain},
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": channel_id, "name": channel_name},
            "message": msg,
            "state": {"values": {}},
            "response_url": response_url,
            "actions": [action],
        }
        return _form_payload(payload)

    def view_block_action(
        self,
        action_id: str,
        view: dict[str, Any],
        *,
        user_id: str = "U1",
        user_name: str | None = None,
        team_id: str = "T1",
        trigger_id: str | None = None,
    ) -> bytes:
        """``payload=`` body of a button click on a view (the App Home tab, a modal)."""
        element = _find_element(view.get("blocks"), action_id) or {}
        action = {
            "type": "button",
            "action_id": action_id,
            "block_id": "b",
            "text": element.get("text") or {"type": "plain_text", "text": action_id},
            "value": element.get("value", ""),
            "action_ts": _action_ts(),
        }
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": _user(user_id, user_name, team_id),
            "api_app_id": self.api_app_id,
            "token": self.verification_token,
            "container": {"type": "view", "view_id": view.get("id", "V1")},
            "trigger_id": trigger_id or _trigger_id(),
            "team": {"id": team_id, "domain": self.team_domain},
            "enterprise": None,
            "is_enterprise_install": False,
            "view": view,
            "actions": [action],
        }
        return _form_payload(payload)

    def view_submission(
        self,
        callback_id: str,
        values: dict[str, Any],
        *,
        private_metadata: str = "",
        user_id: str = "U1",
        user_name: str | None = None,
        team_id: str = "T1",
        view_id: str = "V00000001",
        trigger_id: str | None = None,
    ) -> bytes:
        """``payload=`` body of a modal submission.

        ``values`` is Slack's ``state.values`` (``{block_id: {action_id: {...}}}``); a
        plain string leaf is shorthand for ``{"type": "plain_text_input", "value": s}``.
        """
        state = {
            block: {
                action: ({"type": "plain_text_input", "value": v} if isinstance(v, str) else v)
                for action, v in actions.items()
            }
            for block, actions in values.items()
        }
        payload: dict[str, Any] = {
            "type": "view_submission",
            "team": {"id": team_id, "domain": self.team_domain},
            "user": _user(user_id, user_name, team_id),
            "api_app_id": self.api_app_id,
            "token": self.verification_token,
            "trigger_id": trigger_id or _trigger_id(),
            "view": {
                "id": view_id,
                "team_id": team_id,
                "type": "modal",
                "blocks": [],
                "private_metadata": private_metadata,
                "callback_id": callback_id,
                "state": {"values": state},
                "hash": f"{int(time.time())}.abcdef12",
                "title": {"type": "plain_text", "text": "Runbook", "emoji": True},
                "clear_on_close": False,
                "notify_on_close": False,
                "close": None,
                "submit": {"type": "plain_text", "text": "Submit", "emoji": True},
                "previous_view_id": None,
                "root_view_id": view_id,
                "app_id": self.api_app_id,
                "external_id": "",
                "app_installed_team_id": team_id,
                "bot_id": "BBOT",
            },
            "response_urls": [],
            "is_enterprise_install": False,
            "enterprise": None,
        }
        return _form_payload(payload)

    def event(self, event: dict[str, Any], *, event_id: str = "Ev1", team_id: str = "T1") -> bytes:
        """JSON body of an Events API ``event_callback`` (sign with ``content_type=JSON``)."""
        body = {
            "token": self.verification_token,
            "team_id": team_id,
            "api_app_id": self.api_app_id,
            "event": event,
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": team_id,
                    "user_id": "UBOT",
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": f"4-{secrets.token_hex(8)}",
        }
        return json.dumps(body, separators=(",", ":")).encode()

    def url_verification(self, challenge: str = "challenge-token") -> bytes:
        """JSON body of the Events API URL handshake."""
        body = {
            "token": self.verification_token,
            "challenge": challenge,
            "type": "url_verification",
        }
        return json.dumps(body).encode()
