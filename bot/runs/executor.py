"""Running one action of the actions file: a program (no shell) or an HTTP request.

Called by the worker after the execution's row is committed (never before a
click's ack). Template variables (``{incident}``, ``{user}``, …) are
substituted inside one value (one argv element, one JSON string), never
through a shell; ``${NAME}`` reads the bot's environment, and every value read
so is masked in the output the bot shows or stores.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp

from bot.runbook.actions import CommandAction, HttpAction

__all__ = ["MASK", "TAIL_LINES", "Outcome", "mask", "run_action", "sign", "tail"]

TAIL_LINES = 20
MASK = "••••••"
MAX_OUTPUT_BYTES = 64 * 1024  # what is kept of the output: its end
_SUBST = re.compile(r"\$\{(?P<env>[A-Za-z_][A-Za-z0-9_]*)\}|\{(?P<var>[a-z]+)\}")
# What a program gets of the bot's environment besides its own `env`: never the
# bot's tokens or secrets.
_PASSED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR")


@dataclass(frozen=True, slots=True)
class Outcome:
    """How an execution ended, as the step message and the timeline show it."""

    ok: bool
    summary: str  # "succeeded", "failed with exit code 3", "HTTP 500", "timed out after 60s"
    code: int | None  # exit code or HTTP status; None when it timed out or did not start
    tail: str  # the output's last lines, masked
    duration_s: float


def mask(text: str, secrets: list[str]) -> str:
    """``text`` with every secret's value replaced (longest first)."""
    for secret in sorted({s for s in secrets if len(s) >= 3}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def tail(text: str, lines: int = TAIL_LINES) -> str:
    """The last ``lines`` lines of ``text``, without trailing blank ones."""
    return "\n".join(text.rstrip().splitlines()[-lines:])


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``v0=<hex HMAC-SHA256 of "v0:<timestamp>:<body>">``, as Slack signs its requests."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


class _Values:
    """Substitutes variables and environment references, remembering the secrets read."""

    def __init__(self, variables: Mapping[str, str], environ: Mapping[str, str]) -> None:
        self.variables = variables
        self.environ = environ
        self.secrets: list[str] = []

    def __call__(self, value: str) -> str:
        def env(match: re.Match[str]) -> str:
            found = self.environ.get(match.group("env"), "")
            self.secrets.append(found)
            return found

        def one(match: re.Match[str]) -> str:
            if match.group("env") is not None:
                return env(match)
            return self.variables.get(match.group("var"), match.group(0))

        # One pass: a variable's value (e.g. a reason) is never read as ``${NAME}``.
        return _SUBST.sub(one, value)

    def json(self, value: object) -> object:
        if isinstance(value, str):
            return self(value)
        if isinstance(value, list):
            return [self.json(v) for v in value]
        if isinstance(value, dict):
            return {str(k): self.json(v) for k, v in value.items()}
        return value


async def run_action(
    action: HttpAction | CommandAction,
    variables: Mapping[str, str],
    *,
    execution_id: int,
    environ: Mapping[str, str] | None = None,
) -> Outcome:
    """Run ``action`` once with its timeout; never raises for the action's own failure."""
    values = _Values(variables, os.environ if environ is None else environ)
    started = time.monotonic()
    try:
        if isinstance(action, CommandAction):
            ok, summary, code, output = await _command(action, values)
        else:
            ok, summary, code, output = await _http(action, values, execution_id)
    except TimeoutError:
        ok, summary, code, output = False, f"timed out after {action.timeout:g}s", None, ""
    except (OSError, aiohttp.ClientError, ValueError) as exc:
        ok, summary, code, output = False, f"could not start: {exc}", None, ""
    shown = tail(mask(output, values.secrets))
    return Outcome(ok, mask(summary, values.secrets), code, shown, time.monotonic() - started)


async def _command(action: CommandAction, values: _Values) -> tuple[bool, str, int | None, str]:
    env = {k: v for k, v in values.environ.items() if k in _PASSED_ENV}
    env.update({k: values(v) for k, v in action.env.items()})
    proc = await asyncio.create_subprocess_exec(
        *(values(arg) for arg in action.argv),
        cwd=action.cwd,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,  # a timeout or shutdown kills it alone, not the bot
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), action.timeout)
    except (TimeoutError, asyncio.CancelledError):
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        raise
    output = out[-MAX_OUTPUT_BYTES:].decode("utf-8", "replace")
    code = proc.returncode if proc.returncode is not None else -1
    summary = "succeeded" if code == 0 else f"failed with exit code {code}"
    return code == 0, summary, code, output


async def _http(
    action: HttpAction, values: _Values, execution_id: int
) -> tuple[bool, str, int | None, str]:
    body = b"" if action.body is None else json.dumps(values.json(action.body)).encode()
    headers = {k: values(v) for k, v in action.headers.items()}
    headers["Idempotency-Key"] = str(execution_id)
    if action.body is not None:
        headers.setdefault("Content-Type", "application/json")
    if action.secret_env:
        secret = values.environ.get(action.secret_env, "")
        values.secrets.append(secret)
        timestamp = str(int(time.time()))
        headers["X-Runbook-Bot-Timestamp"] = timestamp
        headers["X-Runbook-Bot-Signature"] = sign(secret, timestamp, body)
    timeout = aiohttp.ClientTimeout(total=action.timeout)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        # No redirects: the reviewed URL is the only one that gets the headers
        # and the signed body; a 3xx answer is a failure that names its status.
        session.request(
            action.method, values(action.url), data=body, headers=headers, allow_redirects=False
        ) as resp,
    ):
        raw = await resp.content.read(MAX_OUTPUT_BYTES)
        status = resp.status
    ok = 200 <= status < 300
    summary = f"succeeded (HTTP {status})" if ok else f"failed with HTTP {status}"
    return ok, summary, status, raw.decode("utf-8", "replace")
