"""Build and sign requests into the real app exactly as Slack does.

Bodies mirror what Slack sends (form-encoded slash commands, ``payload=<json>``
interactions, JSON Events API callbacks) and are signed with the v0 scheme that
``slack_sdk.signature.SignatureVerifier`` (and so Bolt) checks.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import secrets
import time
from typing import Any
from urllib.parse import urlencode

import aiohttp

__all__ = ["FORM", "JSON", "SlackSigner", "post"]

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"

_action_seq = itertools.count(1)


def _trigger_id() -> str:
    # Same shape as Slack's: "<digits>.<digits>.<hex>"; unique per request.
    return f"{secrets.randbelow(10**11)}.{secrets.randbelow(10**12)}.{secrets.token_hex(16)}"


def _action_ts() -> str:
    us = int(time.time() * 1_000_000) + next(_action_seq)  # unique even within one microsecond
    return f"{us // 1_000_000}.{us % 1_000_000:06d}"


def _user(user_id: str, user_name: str, team_id: str) -> dict[str, str]:
    return {"id": user_id, "username": user_name, "name": user_name, "team_id": team_id}


def _form_payload(payload: dict[str, Any]) -> bytes:
    return urlencode({"payload": json.dumps(payload, separators=(",", ":"))}).encode()


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


class SlackSigner:
    """Signs bodies with a signing secret and builds Slack-shaped request bodies."""

    def __init__(
        self,
        signing_secret: str,
        *,
        api_app_id: str = "A1",
        team_domain: str = "example",
        verification_token: str = "legacy-verification-token",
    ) -> None:
        self.signing_secret = signing_secret
        self.api_app_id = api_app_id
        self.team_domain = team_domain
        self.verification_token = verification_token

    # -- signing -----------------------------------------------------------

    def signature(self, body: bytes | str, timestamp: int) -> str:
        if isinstance(body, bytes):
            body = body.decode("utf-8")
        base = f"v0:{timestamp}:{body}".encode()
        digest = hmac.new(self.signing_secret.encode(), base, hashlib.sha256).hexdigest()
        return f"v0={digest}"

    def headers(
        self,
        body: bytes | str,
        timestamp: int | None = None,
        *,
        content_type: str = FORM,
    ) -> dict[str, str]:
        """Slack's request headers for ``body``; pass an old ``timestamp`` to test replay limits."""
        ts = int(time.time()) if timestamp is None else int(timestamp)
        return {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": str(ts),
            "X-Slack-Signature": self.signature(body, ts),
        }

    # -- bodies --------------------------------------------------------------

    def slash_command(
        self,
        command: str,
        text: str,
        *,
        user_id: str = "U1",
        user_name: str = "alice",
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
            ("user_name", user_name),
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
        user_name: str = "alice",
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
        if selected_option_value is not None:
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
        user_name: str = "alice",
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
        user_name: str = "alice",
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

    async def post(
        self,
        session: aiohttp.ClientSession,
        url: str,
        body: bytes,
        *,
        headers_override: dict[str, str | None] | None = None,
        retry_num: int | None = None,
        retry_reason: str = "http_timeout",
        timestamp: int | None = None,
    ) -> tuple[int, Any, float]:
        """Shorthand for :func:`post` with ``signer=self``."""
        return await post(
            session,
            url,
            body,
            signer=self,
            headers_override=headers_override,
            retry_num=retry_num,
            retry_reason=retry_reason,
            timestamp=timestamp,
        )


async def post(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    *,
    signer: SlackSigner | None = None,
    headers_override: dict[str, str | None] | None = None,
    retry_num: int | None = None,
    retry_reason: str = "http_timeout",
    timestamp: int | None = None,
) -> tuple[int, Any, float]:
    """Sign (unless ``signer`` is None) and POST ``body``; return (status, json-or-text, seconds).

    The content type follows the body (JSON for ``{...}``, form otherwise).
    ``headers_override`` replaces headers after signing (a ``None`` value removes one),
    e.g. to send a wrong signature. ``elapsed`` covers sending and reading the response.
    """
    content_type = JSON if body.lstrip().startswith(b"{") else FORM
    if signer is not None:
        headers = signer.headers(body, timestamp, content_type=content_type)
    else:
        headers = {"Content-Type": content_type}
    if retry_num is not None:
        headers["X-Slack-Retry-Num"] = str(retry_num)
        headers["X-Slack-Retry-Reason"] = retry_reason
    for key, value in (headers_override or {}).items():
        # Header names are case-insensitive: drop any existing spelling first.
        for existing in [k for k in headers if k.lower() == key.lower()]:
            del headers[existing]
        if value is not None:
            headers[key] = value
    started = time.perf_counter()
    async with session.post(url, data=body, headers=headers) as resp:
        raw = await resp.read()
        elapsed = time.perf_counter() - started
        text = raw.decode("utf-8", errors="replace")
        result: Any = text
        if resp.content_type == JSON or text.startswith("{"):
            try:
                result = json.loads(text)
            except ValueError:
                result = text
        return resp.status, result, elapsed
