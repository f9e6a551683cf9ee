"""The actions file (``actions.yaml``): what a runbook step's ``[run: <id>]`` may run.

It lives in the runbooks' repository and is reviewed there, so it is read as
untrusted data: YAML's safe loader, then pydantic; anything wrong is a
``path:line: message`` problem, and a file with an error defines no actions (the
runbooks are still served, their Run buttons are not). Pure: no I/O besides
looking a command's program up on ``PATH`` (``missing_programs``).
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import ErrorDetails

from bot.runbook.model import Problem
from bot.timefmt import parse_duration

__all__ = [
    "ACTIONS_NAME",
    "Action",
    "ActionsFile",
    "CommandAction",
    "HttpAction",
    "missing_programs",
    "parse_actions",
    "split_run_tag",
]

ACTIONS_NAME = "actions.yaml"
MAX_ACTIONS_BYTES = 256 * 1024
TEMPLATE_NAMES = ("incident", "priority", "runbook", "step", "user", "channel", "reason")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_RUN_TAG = re.compile(r"\[\s*run\s*:\s*(?P<id>[^\[\]]*?)\s*\]\s*$", re.IGNORECASE)
_RUN_TAGLIKE = re.compile(r"\[\s*run\s*[:=][^\[\]]*$", re.IGNORECASE)  # no closing bracket
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class _Common(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    description: str = ""
    timeout: float = 60.0
    idempotent: bool = False

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not _ID.match(value):
            raise ValueError("an id is letters, digits, '.', '_' or '-' (at most 64)")
        return value

    @field_validator("timeout", mode="before")
    @classmethod
    def _timeout(cls, value: object) -> float:
        return parse_duration(value)


class HttpAction(_Common):
    """A request to a URL; success is a 2xx answer."""

    kind: Literal["http"]
    url: str
    method: str = "POST"
    headers: dict[str, str] = Field(default_factory=dict)
    body: object = None  # a JSON template
    secret_env: str | None = None  # signs the request as Slack signs its own

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("url must start with http:// or https:// and name a host")
        return value

    @field_validator("method")
    @classmethod
    def _method(cls, value: str) -> str:
        method = value.upper()
        if method not in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            raise ValueError("method must be GET, POST, PUT, PATCH or DELETE")
        return method

    @property
    def preview(self) -> str:
        return f"{self.method} {self.url}"


class CommandAction(_Common):
    """A program run with an argument list (never a shell); success is exit 0."""

    kind: Literal["command"]
    argv: list[str] = Field(min_length=1)
    cwd: str | None = None
    env: dict[str, str] = Field(default_factory=dict)

    @property
    def preview(self) -> str:
        return " ".join(_quoted(arg) for arg in self.argv)

    def environment(self, source: dict[str, str]) -> dict[str, str]:
        """``env`` with each ``${NAME}`` read from ``source`` (absent → empty)."""
        return {
            k: _ENV_REF.sub(lambda m: source.get(m.group(1), ""), v) for k, v in self.env.items()
        }

    @property
    def secret_names(self) -> tuple[str, ...]:
        """The environment variables ``env`` names: their values are masked."""
        return tuple(n for v in self.env.values() for n in _ENV_REF.findall(v))


Action = Annotated[HttpAction | CommandAction, Field(discriminator="kind")]


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")
    actions: list[Action] = Field(default_factory=list)


def _quoted(arg: str) -> str:
    return arg if arg and not re.search(r"\s|['\"]", arg) else repr(arg)


@dataclass(frozen=True, slots=True)
class ActionsFile:
    """The actions a file defines by id (none when it has an error), and its problems."""

    path: str = ""
    actions: dict[str, HttpAction | CommandAction] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    lines: dict[str, int] = field(default_factory=dict)  # each action's line, for lint


def parse_actions(data: bytes, path: str) -> ActionsFile:
    """Read an actions file's bytes. Never raises."""
    if len(data) > MAX_ACTIONS_BYTES:
        return _bad(path, 1, f"file is larger than {MAX_ACTIONS_BYTES // 1024} KiB")
    try:
        text = data.decode("utf-8")
        root = _safe_load(text)
    except UnicodeDecodeError:
        return _bad(path, 1, "file is not UTF-8 text")
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or "unreadable characters"
        return _bad(path, mark.line + 1 if mark else 1, f"not valid YAML: {problem}")
    except RecursionError:
        return _bad(path, 1, "not valid YAML: nested too deeply")
    if root is None:
        return ActionsFile(path)
    if not isinstance(root, yaml.MappingNode):
        return _bad(path, _line(root), "expected a mapping whose key `actions` holds a list")
    try:
        parsed = _File.model_validate(yaml.safe_load(text) or {})
    except ValidationError as exc:
        problems = [
            Problem(path, _error_line(root, err["loc"]), _message(err)) for err in exc.errors()
        ]
        return ActionsFile(path, {}, problems)
    lines = _action_lines(root)
    actions: dict[str, HttpAction | CommandAction] = {}
    problems = []
    for n, action in enumerate(parsed.actions):
        if action.id in actions:
            message = f"duplicate action id '{action.id}'"
            problems.append(Problem(path, lines[n] if n < len(lines) else 1, message))
        actions[action.id] = action
    if problems:
        return ActionsFile(path, {}, problems)
    by_id = {a.id: lines[n] if n < len(lines) else 1 for n, a in enumerate(parsed.actions)}
    return ActionsFile(path, actions, [], by_id)


def missing_programs(file: ActionsFile) -> list[Problem]:
    """A ``command`` action whose program is not found: an error for lint."""
    problems: list[Problem] = []
    for action_id, action in file.actions.items():
        if not isinstance(action, CommandAction):
            continue
        program = action.argv[0]
        base = action.cwd if action.cwd and not os.path.isabs(program) else None
        candidate = os.path.join(base, program) if base and os.sep in program else program
        if shutil.which(candidate) is None:
            message = (
                f"action '{action_id}': program '{program}' does not exist or is not executable"
            )
            problems.append(Problem(file.path, file.lines.get(action_id, 1), message))
    return problems


def split_run_tag(text: str) -> tuple[str, str | None]:
    """A trailing ``[run: <id>]`` tag: (text without it, the id or None).

    A tag that looks like one but is unreadable raises ValueError for lint.
    """
    match = _RUN_TAG.search(text)
    if match:
        action_id = match.group("id")
        if not _ID.match(action_id):
            raise ValueError(f"'[run: {action_id}]' does not name an action id")
        return text[: match.start()].rstrip(), action_id
    bad = _RUN_TAGLIKE.search(text)
    if bad:
        raise ValueError(
            f"unreadable run tag '{bad.group(0).strip()}': write it as [run: <action id>] "
            "at the end of the step"
        )
    return text, None


def _safe_load(text: str) -> yaml.Node | None:
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        if root is not None:
            loader.construct_document(root)
        return root
    finally:
        loader.dispose()


def _error_line(root: yaml.Node, loc: tuple[int | str, ...]) -> int:
    """The line of the deepest node the error's location still reaches."""
    node = root
    for part in loc:
        if part in ("http", "command"):  # the discriminator's branch, not a key
            continue
        child: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode):
            child = next((v for k, v in node.value if getattr(k, "value", None) == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            child = node.value[part] if part < len(node.value) else None
        if child is None:
            break
        node = child
    return _line(node)


def _message(err: ErrorDetails) -> str:
    loc = [str(p) for p in err["loc"] if str(p) not in ("http", "command")]
    where = ".".join(loc) if loc else "file"
    text = err["msg"].removeprefix("Value error, ")
    return f"{where}: {text}"


def _action_lines(root: yaml.MappingNode) -> list[int]:
    for key, value in root.value:
        if getattr(key, "value", None) == "actions" and isinstance(value, yaml.SequenceNode):
            return [_line(item) for item in value.value]
    return []


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _bad(path: str, line: int, message: str) -> ActionsFile:
    return ActionsFile(path, {}, [Problem(path, line, message)])
