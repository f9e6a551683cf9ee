"""Sign requests into the real app exactly as Slack does, and post them.

Bodies come from :class:`tests.rig.slack_bodies.SlackBodies`; they are signed with
the v0 scheme that ``slack_sdk.signature.SignatureVerifier`` (and so Bolt) checks.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import aiohttp

from .slack_bodies import SlackBodies

__all__ = ["FORM", "JSON", "SlackSigner", "post"]

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


class SlackSigner(SlackBodies):
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
