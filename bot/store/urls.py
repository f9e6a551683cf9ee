"""What ``DATABASE_URL`` names, read without SQLAlchemy (``runbook-bot stats``
connects straight over the driver, ``bot/store/direct.py``; SQLAlchemy's import
alone would be a third of that command's time)."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def asyncpg_dsn(url: str) -> str:
    """SQLAlchemy's ``postgresql+asyncpg://`` URL as a plain libpq DSN."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def sqlite_database(url: str) -> str | None:
    """The database a ``sqlite+aiosqlite:///…`` URL names, as SQLAlchemy's
    ``make_url(url).database`` reads it (unquoted, without the query)."""
    if not is_sqlite(url) or "://" not in url:
        return None
    rest = url.split("://", 1)[1]
    if "/" not in rest:
        return None
    database = rest.split("/", 1)[1].split("?", 1)[0]
    return unquote(database) or None


def missing_sqlite_folder(url: str) -> Path | None:
    """The folder a SQLite database file would be created in, when it does not
    exist. Checked before connecting: SQLite would only say "unable to open
    database file", and aiosqlite's thread may then report on a closed loop."""
    database = sqlite_database(url)
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    folder = Path(database).expanduser().parent
    return None if folder.is_dir() else folder


def unwritable_sqlite_folder(url: str) -> Path | None:
    """The folder of a SQLite database when this user cannot write in it (e.g. a
    root-owned bind mount at /data): SQLite creates the file and its journal
    there, and would only say "unable to open database file"."""
    database = sqlite_database(url)
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    folder = Path(database).expanduser().parent
    if not folder.is_dir():
        return None
    return None if os.access(folder, os.W_OK | os.X_OK) else folder
