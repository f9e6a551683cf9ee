"""Another web page cannot drive the playground, read it, or post as the bot.

A real ``runbook-bot playground`` process on PostgreSQL, reached the ways a
hostile page (or a DNS-rebinding name) would reach it: a cross-origin or
``text/plain`` POST to the page's actions, a WebSocket from another origin or
without the page's token, a URL token or a guessed one on the Web API stand-in.
Each is refused, and neither the database nor the workspace changes; the same
action with the page's token, from the page's origin, goes through.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.alert_support import until
from tests.conftest import TABLES
from tests.playground_support import Playground, run_playground

REPO = Path(__file__).resolve().parent.parent
START = {
    "user": "U01ALICE",
    "type": "command",
    "channel": "C01INCIDENTS",
    "text": "/runbook start RB-04",
}
EVIL = "http://evil.example"
# Rows the playground writes on its own while idle (App Home viewers, pacing).
BACKGROUND = frozenset({"slack_pace", "home_viewers", "people", "slack_outbox"})


@pytest.fixture
async def pg(clean_db: str, tmp_path: Path) -> AsyncIterator[tuple[Playground, str]]:
    async with run_playground(
        tmp_path, DATABASE_URL=clean_db, RUNBOOKS_DIR=str(REPO / "runbooks")
    ) as playground:
        yield playground, clean_db


async def counts(url: str) -> dict[str, int]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return {
                name: (await conn.execute(text(f"SELECT count(*) FROM {name}"))).scalar_one()
                for name in TABLES.split(", ")
                if name not in BACKGROUND
            }
    finally:
        await engine.dispose()


async def page_token(http: aiohttp.ClientSession, url: str) -> str:
    async with http.get(url) as r:
        assert r.status == 200
        found = re.search(r'<meta name="playground-token" content="([^"]+)">', await r.text())
    assert found is not None
    return found.group(1)


async def snapshot(http: aiohttp.ClientSession, url: str, token: str) -> dict[str, Any]:
    ws_url = url.replace("http://", "ws://") + f"playground/ws?token={token}"
    async with http.ws_connect(ws_url, headers={"Origin": url.rstrip("/")}) as sock:
        return json.loads((await sock.receive(timeout=10)).data)


async def test_foreign_pages_are_refused_and_nothing_changes(
    pg: tuple[Playground, str], http: aiohttp.ClientSession
) -> None:
    playground, db = pg
    url = playground.url
    origin = url.rstrip("/")
    token = await page_token(http, url)
    before = await counts(db)
    seen = await snapshot(http, url, token)
    act = url + "playground/act"
    body = json.dumps(START)
    rebinding_host = f"evil.example:{urlsplit(url).port}"
    hostile: list[tuple[str, dict[str, str], int]] = [
        # A form on another site: text/plain, its own Origin, no token.
        ("text/plain", {"Origin": EVIL}, 403),
        ("text/plain", {}, 415),
        ("application/x-www-form-urlencoded", {"X-Playground-Token": token}, 415),
        # fetch() from another site, even holding a token.
        ("application/json", {"Origin": EVIL, "X-Playground-Token": token}, 403),
        ("application/json", {"Sec-Fetch-Site": "cross-site", "X-Playground-Token": token}, 403),
        ("application/json", {"Origin": "null", "X-Playground-Token": token}, 403),
        # Same origin but no token, or a wrong one.
        ("application/json", {"Origin": origin}, 403),
        ("application/json", {"Origin": origin, "X-Playground-Token": token[:-1] + "x"}, 403),
        # DNS rebinding: a name resolving to 127.0.0.1 is not this playground's.
        ("application/json", {"Host": rebinding_host, "X-Playground-Token": token}, 403),
    ]
    for content_type, headers, status in hostile:
        sent = {"Content-Type": content_type, **headers}
        async with http.post(act, data=body, headers=sent) as r:
            assert r.status == status, (sent, r.status, await r.text())
    # A forged click on whatever message is there: refused the same way.
    click = {"user": "U04DANA", "type": "block_action", "channel": "C01INCIDENTS", "ts": "1.0",
             "action": {"action_id": "step_approve", "value": "{}"}}  # fmt: skip
    async with http.post(act, json=click, headers={"Origin": EVIL}) as r:
        assert r.status == 403

    # The page itself is not served to a rebinding name (it holds the token).
    async with http.get(url, headers={"Host": rebinding_host}) as r:
        assert r.status == 403
        assert token not in await r.text()

    # The Web API stand-in: not a GET with a query token, not a guessed token, not a browser.
    api = url + "api/chat.postMessage"
    message = {"channel": "C01INCIDENTS", "text": "posted by another site"}
    async with http.get(api, params={"token": "xoxb-playground", **message}) as r:
        assert r.status == 403
    for headers in (
        {"Authorization": "Bearer xoxb-playground"},
        {"Authorization": "Bearer xoxb-playground-0000"},
        {"Origin": EVIL},
        {},
    ):
        async with http.post(api, data=message, headers=headers) as r:
            assert r.status == 403, headers
    async with http.post(api, data={**message, "token": "xoxb-playground"}) as r:
        assert r.status == 403

    # The live feed: not from another origin, not without the page's token.
    ws_url = url.replace("http://", "ws://") + "playground/ws"
    for query, headers in (
        (f"?token={token}", {"Origin": EVIL}),
        ("", {"Origin": origin}),
        ("?token=guess", {"Origin": origin}),
        (f"?token={token}", {"Origin": origin, "Host": rebinding_host}),
    ):
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            async with http.ws_connect(ws_url + query, headers=headers):
                pass
        assert refused.value.status == 403

    assert await counts(db) == before
    after = await snapshot(http, url, token)
    assert after["messages"] == seen["messages"]
    assert after["ephemerals"] == seen["ephemerals"]

    # The page's own request, from its origin with its token, does start RB-04.
    headers = {"Origin": origin, "X-Playground-Token": token}
    async with http.post(act, json=START, headers=headers) as r:
        assert r.status == 200 and (await r.json())["ok"] is True

    async def opened() -> bool:  # by the worker, right after the ack
        return (await counts(db))["incidents"] > before["incidents"]

    await until(opened, timeout=30)
    assert (await counts(db))["incidents"] == before["incidents"] + 1


async def test_the_page_is_never_framed_and_loads_by_loopback_names(
    pg: tuple[Playground, str], http: aiohttp.ClientSession
) -> None:
    playground, _ = pg
    async with http.get(playground.url) as r:
        assert r.headers["X-Frame-Options"] == "DENY"
        assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
    # Other loopback spellings of the same address still load the page.
    port = urlsplit(playground.url).port
    for host in (f"localhost:{port}", f"[::1]:{port}"):
        async with http.get(playground.url, headers={"Host": host}) as r:
            assert r.status == 200, host
