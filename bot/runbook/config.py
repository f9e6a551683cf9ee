"""A runbook repository's own settings: ``.runbook-bot.yaml`` at the root of its folder.

It lives in the runbooks' repository, possibly someone else's, so it is read as
untrusted data: YAML's safe loader, a size cap (applied by the reader in
:mod:`bot.runbook.library`), and anything unexpected is a ``path:line: message``
problem. A file with an error is ignored as a whole (the built-in words apply).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import yaml

from bot.runbook.model import Problem, Severity

__all__ = ["CONFIG_NAME", "MAX_CONFIG_BYTES", "RepoConfig", "parse_config"]

CONFIG_NAME = ".runbook-bot.yaml"
MAX_CONFIG_BYTES = 64 * 1024
_KEYS = ("action_phases",)
_KIND = {
    "tag:yaml.org,2002:null": "empty",
    "tag:yaml.org,2002:bool": "true/false",
    "tag:yaml.org,2002:int": "a number",
    "tag:yaml.org,2002:float": "a number",
    "tag:yaml.org,2002:timestamp": "a date",
}


@dataclass(frozen=True, slots=True)
class RepoConfig:
    """What a repository's ``.runbook-bot.yaml`` says, and what is wrong with it."""

    action_phases: tuple[str, ...] = ()
    problems: list[Problem] = field(default_factory=list)


def parse_config(data: bytes, path: str) -> RepoConfig:
    """Read a ``.runbook-bot.yaml``'s bytes. Never raises."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        return _bad(path, line, "file is not UTF-8 text")
    try:
        root = _safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or "unreadable characters"
        return _bad(path, mark.line + 1 if mark else 1, f"not valid YAML: {problem}")
    except RecursionError:  # the YAML composer recurses once per nesting level
        return _bad(path, 1, "not valid YAML: nested too deeply")
    if root is None or _is_null(root):
        return RepoConfig()
    if not isinstance(root, yaml.MappingNode):
        return _bad(path, _line(root), "expected `key: value` settings (e.g. action_phases: [...])")
    problems: list[Problem] = []
    words: tuple[str, ...] = ()
    for key, value in root.value:
        name = key.value if isinstance(key, yaml.ScalarNode) else None
        if name == "action_phases":
            words = _words(value, path, problems)
        else:
            message = f"unknown setting {name!r} (ignored); known: {', '.join(_KEYS)}"
            problems.append(Problem(path, _line(key), message, Severity.WARNING))
    if any(p.severity is Severity.ERROR for p in problems):
        return RepoConfig((), problems)
    return RepoConfig(words, problems)


def _safe_load(text: str) -> yaml.Node | None:
    """What yaml.safe_load does, keeping the node tree (it has the line numbers)."""
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        if root is not None:
            loader.construct_document(root)  # every error safe_load would raise
        return root
    finally:
        loader.dispose()


def _words(node: yaml.Node, path: str, problems: list[Problem]) -> tuple[str, ...]:
    """``action_phases``: a list of non-empty strings."""
    if not isinstance(node, yaml.SequenceNode):
        message = "action_phases must be a list of words, e.g. action_phases: [Playbook, Abhilfe]"
        problems.append(Problem(path, _line(node), message))
        return ()
    words: list[str] = []
    for number, item in enumerate(node.value, start=1):
        where = f"action_phases item {number}"
        if not isinstance(item, yaml.ScalarNode):
            message = f"{where} must be a word, not a list or map"
            problems.append(Problem(path, _line(item), message))
        elif item.tag != "tag:yaml.org,2002:str":
            kind = _KIND.get(item.tag, "not text")
            problems.append(Problem(path, _line(item), f"{where} must be a word, not {kind}"))
        elif not item.value.strip():
            problems.append(Problem(path, _line(item), f"{where} is empty"))
        else:
            words.append(item.value.strip())
    return tuple(dict.fromkeys(words))


def _is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _bad(path: str, line: int, message: str) -> RepoConfig:
    return RepoConfig((), [Problem(path, line, message)])
