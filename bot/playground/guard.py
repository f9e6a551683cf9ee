"""Only the playground's own page drives the playground; only the bot calls its Web API.

The playground has no login, so any other web page the person has open could
otherwise reach it on loopback: a form's ``text/plain`` POST to
``/playground/act``, a cross-origin WebSocket reading the whole workspace, an
``<img src>`` GET to ``/api/chat.postMessage`` posting as the bot, or a DNS
rebinding name that resolves to 127.0.0.1. A middleware refuses them all:

- every playground route (the page, its files, its actions, the Web API) only
  answers a ``Host`` naming this machine — loopback names, an IP address, the
  address it listens on — never a domain name that merely resolves here;
- the page's actions and its WebSocket need the page's token (random per
  process, embedded in the page as served: another site cannot read it), an
  ``Origin`` (when sent) equal to the page's own, and actions a JSON body;
- the Web API stand-in only answers calls bearing the bot's token in their
  ``Authorization`` header (random per process, never in the page; never a
  token in the URL) and nothing a browser sends (no ``Origin``).

Refusals are 403 (415 for an action whose body is not JSON) and change
nothing: the request never reaches a handler.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import web

TOKEN_HEADER = "X-Playground-Token"
TOKEN_META = "playground-token"
# Names that always mean this machine (a browser never resolves *.localhost elsewhere).
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
_GUARDED = ("/playground/", "/api/", "/static/")
_WILDCARDS = ("", "0.0.0.0", "::")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def new_token() -> str:
    return secrets.token_urlsafe(32)


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def host_name(host_header: str) -> str | None:
    """``localhost:3000`` → ``localhost``; ``[::1]:3000`` → ``::1``; junk → None."""
    try:
        name = urlsplit("//" + host_header).hostname
    except ValueError:
        return None
    return name or None


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class Guard:
    """The checks, with this process's two tokens and the names it answers to."""

    def __init__(self, *, listen_host: str, bot_token: str, index_html: Path) -> None:
        self.page_token = new_token()
        self.bot_token = bot_token
        names = set(LOOPBACK_NAMES)
        if listen_host in _WILDCARDS:
            # Reached from other machines (a container): also by this host's name.
            names.add(socket.gethostname().lower())
        else:
            names.add(listen_host.lower())
        self.names = frozenset(names)
        self._page = _with_token(index_html.read_text(encoding="utf-8"), self.page_token)

    def install(self, app: web.Application) -> None:
        app.middlewares.append(self.middleware)

    def page(self) -> web.Response:
        """The page, with this process's token in it; never framed by another site."""
        headers = {
            "Cache-Control": "no-store",
            "X-Frame-Options": "DENY",
            "Content-Security-Policy": "frame-ancestors 'none'",
            "Referrer-Policy": "no-referrer",
        }
        return web.Response(text=self._page, content_type="text/html", headers=headers)

    def known_host(self, request: web.Request) -> bool:
        """A Host naming this machine: an IP address cannot be a rebound DNS name."""
        name = host_name(request.headers.get("Host", ""))
        if name is None:
            return False
        name = name.lower().rstrip(".")
        return name in self.names or name.endswith(".localhost") or _is_ip(name)

    def same_origin(self, request: web.Request, *, required: bool) -> bool:
        origin = request.headers.get("Origin")
        if origin is None:
            return not required
        try:
            parts = urlsplit(origin)
        except ValueError:
            return False
        host = request.headers.get("Host", "")
        return parts.scheme in ("http", "https") and parts.netloc.lower() == host.lower()

    def refusal(self, request: web.Request) -> web.Response | None:
        """Why ``request`` is refused, or None to let it through."""
        path = request.path
        if not (path == "/" or path.startswith(_GUARDED)):
            return None  # /slack/events is signed; /healthz and /metrics are read-only
        if not self.known_host(request):
            return _refuse(403, "unknown_host")
        if path.startswith("/api/"):
            return self._web_api(request)
        if path == "/playground/act":
            return self._action(request)
        if path == "/playground/ws":
            if not self.same_origin(request, required=False):
                return _refuse(403, "cross_origin")
            if not _same(request.query.get("token", ""), self.page_token):
                return _refuse(403, "bad_token")
        return None

    def _action(self, request: web.Request) -> web.Response | None:
        if not self.same_origin(request, required=False):
            return _refuse(403, "cross_origin")
        # Sent by browsers: anything but the page itself (or typed in) is another site.
        if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
            return _refuse(403, "cross_origin")
        if request.content_type != "application/json":
            return _refuse(415, "json_only")
        if not _same(request.headers.get(TOKEN_HEADER, ""), self.page_token):
            return _refuse(403, "bad_token")
        return None

    def _web_api(self, request: web.Request) -> web.Response | None:
        # The bot's client GETs a few methods (chat.getPermalink), always with the
        # token in its Authorization header, which no <img>, link or form can set.
        if request.method not in ("GET", "POST"):
            return _refuse(405, "get_or_post_only")
        if "Origin" in request.headers or "token" in request.query:
            return _refuse(403, "not_from_the_bot")
        if not _same(request.headers.get("Authorization", ""), f"Bearer {self.bot_token}"):
            return _refuse(403, "invalid_auth")
        return None

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        refused = self.refusal(request)
        return refused if refused is not None else await handler(request)


def _refuse(status: int, error: str) -> web.Response:
    return web.json_response({"ok": False, "error": error}, status=status)


def _with_token(html: str, token: str) -> str:
    meta = f'<meta name="{TOKEN_META}" content="{token}">'
    head = html.find("<head>")
    if head < 0:
        return meta + html
    at = head + len("<head>")
    return html[:at] + "\n" + meta + html[at:]
