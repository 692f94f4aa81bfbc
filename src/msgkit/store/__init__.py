"""Stores: where campaigns, the outbox and everything around them are kept.

`open_store` takes a URL: ``sqlite:///path/to/msgkit.db`` (the default,
``./msgkit.db``), ``memory://``, or ``postgresql://...``.
"""

from __future__ import annotations

from pathlib import Path

from msgkit.exceptions import ConfigError
from msgkit.store.base import Change, ChangeResult, InsertResult, MessageRow, Progress
from msgkit.store.memory import MemoryStore
from msgkit.store.sql import SQLStore
from msgkit.store.sqlite import SQLiteStore

__all__ = [
    "Change",
    "ChangeResult",
    "InsertResult",
    "MemoryStore",
    "MessageRow",
    "Progress",
    "SQLStore",
    "SQLiteStore",
    "Store",
    "open_store",
]

#: The store interface. Every store is the SQL store on a dialect: SQLite on disk (the
#: default), SQLite in memory, and PostgreSQL; one implementation, one contract suite.
Store = SQLStore


def open_store(url: str | Path | SQLStore | None = None) -> SQLStore:
    """Open a store by URL (or pass a store through).

    Raises:
        ConfigError: For a URL msgkit cannot open.
    """
    if isinstance(url, SQLStore):
        return url
    if url is None:
        return SQLiteStore("msgkit.db")
    text = str(url)
    if isinstance(url, Path) or "://" not in text:
        return SQLiteStore(text)
    if text.startswith("sqlite:///"):
        return SQLiteStore(text.removeprefix("sqlite:///") or "msgkit.db")
    if text in ("memory://", "sqlite://", "sqlite:///:memory:"):
        return MemoryStore()
    if text.startswith(("postgresql://", "postgres://")):
        raise ConfigError(
            "the PostgreSQL store is not available yet",
            key="store",
            hint="use sqlite:///path/to/msgkit.db for now",
        )
    raise ConfigError(
        f"unknown store URL {text.split('://', maxsplit=1)[0]}://...",
        key="store",
        hint="use sqlite:///path/to/msgkit.db, memory:// or postgresql://...",
    )
