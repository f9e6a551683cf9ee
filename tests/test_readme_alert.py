"""The README's "Send it an alert", exactly as written: start the playground
with the README's token, run the README's curl command (its heredoc payload,
only the address changed to this playground's), and see the alert in
``#incidents`` with its runbook — in a real headless browser. Then the
claims around it: a repeat posts nothing new, no token is 401, "resolved"
updates the message."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import aiohttp
from playwright.async_api import async_playwright, expect

from tests.playground_support import LAUNCH_ARGS, chromium_path, open_page, run_playground

README = Path(__file__).resolve().parent.parent / "README.md"
DEFAULT_URL = "http://127.0.0.1:3000/"


def section(text: str, heading: str) -> str:
    start = text.index(heading)
    end = text.find("\n#", start + len(heading))
    return text[start : end if end >= 0 else None]


def bash_blocks(text: str) -> list[str]:
    return re.findall(r"```bash\n(.*?)```", text, re.S)


def readme_alert() -> tuple[str, str, dict[str, Any]]:
    """The README's start command's token, its curl command, and the payload."""
    part = section(README.read_text(encoding="utf-8"), "### Send it an alert")
    start, curl = bash_blocks(part)
    token = re.fullmatch(r"ALERT_WEBHOOK_TOKEN=(\S+) make run\n", start)
    assert token is not None, start
    payload = re.search(r"<<'JSON'\n(.*?)\nJSON\n", curl, re.S)
    assert payload is not None, curl
    return token.group(1), curl, json.loads(payload.group(1))


def test_readme_payload_is_a_firing_alert_with_a_bundled_runbook() -> None:
    token, curl, payload = readme_alert()
    assert len(token) >= 16  # what ALERT_WEBHOOK_TOKEN requires
    assert f'-H "Authorization: Bearer {token}"' in curl
    assert f"{DEFAULT_URL}alerts/alertmanager" in curl
    assert payload["version"] == "4" and payload["status"] == "firing"
    (alert,) = payload["alerts"]
    runbook = alert["annotations"]["runbook_url"].rstrip("/").rsplit("/", 1)[-1]
    assert (README.parent / "runbooks" / f"{runbook}.md").is_file()


async def test_readme_curl_posts_an_alert_the_playground_shows(tmp_path: Path) -> None:
    token, curl, payload = readme_alert()
    alertname = payload["alerts"][0]["labels"]["alertname"]
    async with (
        run_playground(tmp_path, ALERT_WEBHOOK_TOKEN=token) as pg,
        async_playwright() as p,
    ):
        browser = await p.chromium.launch(
            executable_path=chromium_path(), headless=True, args=LAUNCH_ARGS
        )
        page, watch = await open_page(browser, pg.url)
        command = curl.replace(DEFAULT_URL, pg.url)
        proc = await asyncio.create_subprocess_exec(
            "bash", "-c", command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        out, err = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 0, err
        assert json.loads(out) == {"status": "ok", "alerts": 1}  # what the README says
        message = page.locator("#messages [data-key]", has_text=alertname)
        await expect(message).to_contain_text(
            "Runbook: RB-05 Investigate notification delivery failure", timeout=15_000
        )
        await expect(message.locator("button", has_text="Start runbook")).to_be_visible()
        await expect(message.locator("button", has_text="Acknowledge")).to_be_visible()

        url = f"{pg.url}alerts/alertmanager"
        async with aiohttp.ClientSession() as http:
            again = await http.post(url, json=payload, headers={"Authorization": f"Bearer {token}"})
            assert again.status == 200
            anonymous = await http.post(url, json=payload)
            assert anonymous.status == 401
        await asyncio.sleep(2.0)
        await expect(message).to_have_count(1)  # the repeat posted nothing new
        # "status": "resolved" in both places: the same message says it resolved.
        resolved = json.loads(json.dumps(payload).replace('"firing"', '"resolved"'))
        async with aiohttp.ClientSession() as http:
            done = await http.post(url, json=resolved, headers={"Authorization": f"Bearer {token}"})
            assert done.status == 200
        await expect(message).to_contain_text(re.compile("resolved", re.I), timeout=15_000)
        await expect(message).to_have_count(1)
        await browser.close()
    assert watch.errors == [] and watch.foreign == []
