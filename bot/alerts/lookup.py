"""Which runbook an alert means (pure).

Public alert runbooks are keyed by alert name and linked from the alert's
``runbook_url`` annotation, but the URLs are slugs of the file names
(``…/kubernetes/kubepodcrashlooping/`` for ``KubePodCrashLooping.md``). So
both sides are compared with case, ``-``, ``_`` and a ``.md`` suffix
ignored: first the URL's last non-empty path segment, then the alert name,
each against every runbook's ``id`` and file stem.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit

from bot.runbook import Runbook


def normalize(name: str) -> str:
    """``KubePodCrashLooping.md``, ``kube-pod-crash_looping`` → ``kubepodcrashlooping``."""
    text = name.strip().lower()
    text = text.removesuffix(".md")
    return text.replace("-", "").replace("_", "")


def url_slug(url: str | None) -> str | None:
    """The last non-empty path segment of ``url`` (decoded), if any."""
    if not url or not url.strip():
        return None
    try:
        path = urlsplit(url.strip()).path
    except ValueError:
        return None
    segments = [unquote(s) for s in path.split("/") if s.strip()]
    return segments[-1] if segments else None


def file_stem(path: str) -> str:
    return PurePosixPath(path.replace("\\", "/")).stem


class RunbookIndex:
    """Normalized id and file stem → runbook, built once per library.

    Where two runbooks normalize alike, the first (the library's order) keeps
    the name, as the library does with duplicate ids; an id wins over another
    runbook's file stem.
    """

    def __init__(self, runbooks: Iterable[Runbook]) -> None:
        listed = list(runbooks)
        self._by_name: dict[str, Runbook] = {}
        for runbook in listed:
            self._by_name.setdefault(normalize(runbook.id), runbook)
        for runbook in listed:
            self._by_name.setdefault(normalize(file_stem(runbook.path)), runbook)

    def get(self, name: str | None) -> Runbook | None:
        key = normalize(name or "")
        return self._by_name.get(key) if key else None

    def find(self, alertname: str | None, runbook_url: str | None) -> Runbook | None:
        """The runbook for an alert: by ``runbook_url``'s slug, else by name."""
        return self.get(url_slug(runbook_url)) or self.get(alertname)
