"""Finding runbook files and loading a folder of them into a :class:`Library`.

The one module of the package that reads files: runbooks, and the folder's
``.runbook-bot.yaml`` (whose words reach the parser as plain data)."""

from __future__ import annotations

import difflib
import os
import re
import stat
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bot.runbook.actions import (
    ACTIONS_NAME,
    ActionsFile,
    CommandAction,
    HttpAction,
    missing_programs,
    parse_actions,
)
from bot.runbook.config import CONFIG_NAME, MAX_CONFIG_BYTES, RepoConfig, parse_config
from bot.runbook.model import Problem, Runbook, Severity
from bot.runbook.parser import Parsed, parse_file

__all__ = [
    "Library",
    "check_files",
    "discover",
    "discover_configured",
    "is_runbook_file",
    "load_library",
    "read_config",
    "read_runbook",
    "sort_problems",
]

# A runbook folder may be someone else's repository: a file bigger than this is
# refused unread (the bundled runbooks are a few KiB each).
MAX_RUNBOOK_BYTES = 1024 * 1024
# Folder documentation and the authors' template are Markdown but not runbooks.
_NOT_RUNBOOKS = frozenset({"readme", "index", "_index", "template"})
_SUFFIXES = frozenset({"md", "markdown"})


def is_runbook_file(path: Path) -> bool:
    """A visible *.md / *.markdown file that isn't README/index/_index/TEMPLATE."""
    name = Path(path).name
    stem, dot, suffix = name.rpartition(".")
    return (
        bool(dot and stem)
        and not name.startswith(".")
        and suffix.lower() in _SUFFIXES
        and stem.lower() not in _NOT_RUNBOOKS
    )


def _natural(text: str) -> tuple[object, ...]:
    """Sort key so RB-2 comes before RB-10."""
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", text.lower()))


def discover(paths: Iterable[Path | str]) -> tuple[list[Path], list[Problem]]:
    """Runbook files under the given files/folders (recursive, hidden dirs skipped)."""
    found: set[Path] = set()
    problems: list[Problem] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            home = path.resolve()
            for folder, dirs, files in os.walk(path):  # never follows linked folders
                dirs[:] = [d for d in dirs if not d.startswith(".")]
                for name in files:
                    file = Path(folder, name)
                    if not is_runbook_file(file):
                        continue
                    if file.is_symlink() and not file.resolve().is_relative_to(home):
                        message = "symbolic link to a file outside the folder (skipped)"
                        problems.append(Problem(str(file), 1, message))
                        continue
                    found.add(file)
        elif path.exists():
            if is_runbook_file(path):
                found.add(path)  # named by the operator; read_runbook still checks it
        else:
            problems.append(Problem(str(raw), 1, "no such file or directory"))
    return sorted(found, key=lambda p: p.as_posix()), problems


def check_files(
    files: Sequence[Path], action_phases: Sequence[str] | Mapping[Path, Sequence[str]] = ()
) -> tuple[list[Parsed], list[Problem]]:
    """Parse every file and flag duplicate ids; the first file (path order) keeps an id.

    ``action_phases``: the repository's own words, for all files or by file.
    """
    results: list[Parsed] = []
    problems: list[Problem] = []
    owners: dict[str, str] = {}
    for file in files:
        name = str(file)
        data = read_runbook(file)
        if isinstance(data, Problem):
            problems.append(data)
            continue
        words = action_phases.get(file, ()) if isinstance(action_phases, Mapping) else action_phases
        parsed = parse_file(data, name, words)
        problems.extend(parsed.problems)
        if parsed.id is not None:
            key = parsed.id.lower()
            if key in owners:
                message = f"duplicate id '{parsed.id}': {owners[key]} already uses it"
                problems.append(Problem(name, parsed.id_line, message))
                parsed.runbook = None  # only the first file with an id is kept
            else:
                owners[key] = name
        results.append(parsed)
    return results, problems


def sort_problems(problems: Iterable[Problem]) -> list[Problem]:
    return sorted(problems, key=lambda p: (p.path, p.line, p.severity is not Severity.ERROR))


@dataclass(frozen=True, slots=True)
class Library:
    """The loaded runbooks (by id, naturally sorted) and every problem found."""

    runbooks: dict[str, Runbook] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    action_phases: tuple[str, ...] = ()  # the repository's own words, from .runbook-bot.yaml
    # The actions file's actions by id (``[run: <id>]``): copied into a run's
    # snapshot when it starts, so a run runs what its steps showed.
    actions: dict[str, HttpAction | CommandAction] = field(default_factory=dict)
    root: str = ""  # the folder they were loaded from

    def shown_path(self, runbook: Runbook) -> str:
        """The runbook's file as people know it: relative to the runbooks folder
        (the server's own paths are no business of the channel's)."""
        if self.root:
            try:
                root = Path(self.root).resolve()
                return Path(runbook.path).resolve().relative_to(root).as_posix()
            except ValueError:
                pass
        return Path(runbook.path).name

    def get(self, runbook_id: str) -> Runbook | None:
        """Case-insensitive lookup: `/runbook start rb-04` finds RB-04."""
        wanted = runbook_id.strip().lower()
        for key, runbook in self.runbooks.items():
            if key.lower() == wanted:
                return runbook
        return None

    def closest(self, runbook_id: str, n: int = 3) -> list[str]:
        """Nearest ids for an "unknown runbook" reply (rb4 -> RB-04)."""

        def norm(text: str) -> str:
            # Ignore case, punctuation and leading zeros: rb4 == RB-04.
            # Leading zeros stripped as text: int() refuses 4,300+ digits.
            bare = re.sub(r"\W|_", "", text.lower())
            return re.sub(r"\d+", lambda m: m.group().lstrip("0") or "0", bare)

        runbook_id = runbook_id[:200]  # no id is longer; difflib is quadratic
        wanted, lowered = norm(runbook_id), runbook_id.strip().lower()
        exact = [key for key in self.runbooks if norm(key) == wanted]
        # Rank the rest on the ids as typed: RB-13 is nearer RB-12 than RB-01.
        fuzzy = difflib.get_close_matches(lowered, [k.lower() for k in self.runbooks], n + 1, 0.5)
        by_lower = {key.lower(): key for key in self.runbooks}
        result = exact + [by_lower[k] for k in fuzzy if by_lower[k] not in exact]
        return result[:n]

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity is Severity.ERROR]


def load_library(root: Path | str) -> Library:
    """Load every runbook under ``root``; files with errors are left out, not fatal."""
    root = Path(root)
    if not root.is_dir():
        return Library({}, [Problem(str(root), 1, "runbook folder not found")])
    config = read_config(root)
    files, problems = discover([root])
    results, more = check_files(files, config.action_phases)
    loaded = {p.runbook.id: p.runbook for p in results if p.runbook is not None}
    ordered = {key: loaded[key] for key in sorted(loaded, key=_natural)}
    found = sort_problems([*config.problems, *problems, *more])
    return Library(ordered, found, config.action_phases, root=str(root))


def read_runbook(path: Path) -> bytes | Problem:
    """One runbook file's bytes, or why not: a regular file under the size cap only.

    Opened non-blocking and checked on the open descriptor, so a FIFO, a device
    (a link to /dev/zero) or a 50 MB file costs one ``fstat``, not a hang or the memory.
    """
    name = str(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        return Problem(name, 1, f"cannot read file: {exc.strerror or exc}")
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return Problem(name, 1, "cannot read file: not a regular file (skipped)")
        if info.st_size > MAX_RUNBOOK_BYTES:
            return Problem(name, 1, _too_big())
        chunks: list[bytes] = []
        size = 0
        while size <= MAX_RUNBOOK_BYTES:  # the file may grow after fstat
            chunk = os.read(fd, MAX_RUNBOOK_BYTES + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        return Problem(name, 1, f"cannot read file: {exc.strerror or exc}")
    finally:
        os.close(fd)
    if size > MAX_RUNBOOK_BYTES:
        return Problem(name, 1, _too_big())
    return b"".join(chunks)


def _too_big() -> str:
    return f"file larger than {MAX_RUNBOOK_BYTES // (1024 * 1024)} MB (skipped)"


def read_config(root: Path) -> RepoConfig:
    """``root/.runbook-bot.yaml``, if there is one: a small regular file, read once."""
    path = Path(root) / CONFIG_NAME
    name = str(path)
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)  # no symlink, and a FIFO cannot block us
    except FileNotFoundError:
        return RepoConfig()
    except OSError as exc:
        what = "a symbolic link" if path.is_symlink() else exc.strerror or str(exc)
        return RepoConfig((), [Problem(name, 1, f"cannot read settings: {what}")])
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return RepoConfig((), [Problem(name, 1, "cannot read settings: not a regular file")])
        data = os.read(fd, MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        return RepoConfig((), [Problem(name, 1, f"cannot read settings: {exc.strerror or exc}")])
    finally:
        os.close(fd)
    if len(data) > MAX_CONFIG_BYTES:
        message = f"settings file larger than {MAX_CONFIG_BYTES // 1024} KiB (ignored)"
        return RepoConfig((), [Problem(name, 1, message)])
    return parse_config(data, name)


def discover_configured(
    paths: Iterable[Path | str], runbooks_dir: Path | str | None = None
) -> tuple[list[Path], dict[Path, tuple[str, ...]], list[Problem]]:
    """What ``lint`` checks: the files, each one's repository words, and the problems.

    A path inside ``runbooks_dir`` gets that folder's ``.runbook-bot.yaml`` (as the
    bot would); any other path, the one in the folder given (or the file's folder).
    """
    home = Path(runbooks_dir) if runbooks_dir is not None else None
    configs: dict[Path, RepoConfig] = {}
    words: dict[Path, tuple[str, ...]] = {}
    problems: list[Problem] = []
    for raw in paths:
        files, missing = discover([raw])
        problems.extend(missing)
        if not files:
            continue
        path = Path(raw)
        root = path if path.is_dir() else path.parent
        if home is not None and path.resolve().is_relative_to(home.resolve()):
            root = home
        key = root.resolve()
        if key not in configs:
            configs[key] = read_config(root)
            problems.extend(configs[key].problems)
        for file in files:
            words.setdefault(file, configs[key].action_phases)
    return sorted(words, key=lambda p: p.as_posix()), words, problems


def actions_path(runbooks_dir: Path | str, actions_file: Path | str | None = None) -> Path:
    """Where the actions file is: ``ACTIONS_FILE``, else ``actions.yaml`` in the folder."""
    return Path(actions_file) if actions_file is not None else Path(runbooks_dir) / ACTIONS_NAME


def read_actions(path: Path) -> ActionsFile | None:
    """The actions file at ``path``; None when there is none (nothing changes then)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        return ActionsFile(str(path), {}, [Problem(str(path), 1, f"cannot read: {exc.strerror}")])
    return parse_actions(data, str(path))


def action_problems(parsed: Iterable[Parsed], actions: ActionsFile | None) -> list[Problem]:
    """Lint for executable steps: the file's own problems, unknown ids, missing programs."""
    problems: list[Problem] = []
    known: dict[str, object] = {}
    if actions is not None:
        problems += actions.problems + missing_programs(actions)
        known = dict(actions.actions)
    for result in parsed:
        runbook = result.runbook
        if runbook is None:
            continue
        phases = (*runbook.phases, *((runbook.rollback,) if runbook.rollback else ()))
        for phase in phases:
            for step in phase.steps:
                if step.action is None or step.action in known:
                    continue
                where = "no actions file" if actions is None else f"not in {actions.path}"
                message = (
                    f"step {step.number} of '{phase.name}' runs unknown action "
                    f"'{step.action}' ({where})"
                )
                problems.append(Problem(runbook.path, step.line, message))
    return problems
