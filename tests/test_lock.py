"""requirements.lock / requirements-build.lock (what the image installs, with hashes)
still say what pyproject.toml declares: a stale lock fails here; `make lock` fixes it."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


def pins(lock: Path) -> dict[str, Version]:
    """Every ``name==version`` of a lock, each checked to carry a hash."""
    found: dict[str, Version] = {}
    name = None
    for line in lock.read_text().splitlines():
        match = PIN.match(line)
        if match:
            name = canonicalize_name(match[1])
            found[name] = Version(match[2])
        elif "--hash=sha256:" in line and name is not None:
            name = None  # this pin has its hash
    assert name is None, f"{lock.name}: {name} has no --hash"
    return found


def roots(lock: Path, via: str) -> set[str]:
    """The pins a lock has for the declared requirements themselves."""
    found: set[str] = set()
    name = None
    for line in lock.read_text().splitlines():
        match = PIN.match(line)
        if match:
            name = canonicalize_name(match[1])
        elif name and via in line:
            found.add(name)
    return found


LOCKS = {
    "requirements.lock": (PYPROJECT["project"]["dependencies"], "runbook-bot (pyproject.toml)"),
    "requirements-build.lock": (PYPROJECT["build-system"]["requires"], "-r -"),
}


@pytest.mark.parametrize("lock_name", sorted(LOCKS))
def test_lock_matches_pyproject(lock_name: str) -> None:
    lock = REPO / lock_name
    declared, via = LOCKS[lock_name]
    assert lock.is_file(), f"{lock_name} is missing: run make lock"
    locked = pins(lock)
    wanted = {canonicalize_name(Requirement(r).name): Requirement(r) for r in declared}
    stale = [
        f"{req} (locked {locked.get(name)})"
        for name, req in wanted.items()
        if name not in locked or not req.specifier.contains(locked[name], prereleases=True)
    ]
    assert not stale, f"{lock_name} is stale for {stale}: run make lock"
    # A requirement dropped from pyproject.toml must leave the lock too.
    extra = roots(lock, via) - set(wanted)
    assert not extra, f"{lock_name} still pins {sorted(extra)} for pyproject.toml: run make lock"


def test_lock_covers_extras_of_declared_requirements() -> None:
    # SQLAlchemy[asyncio] needs greenlet at run time; a lock made without the
    # extra would build an image that fails on its first query.
    locked = pins(REPO / "requirements.lock")
    assert "greenlet" in locked
