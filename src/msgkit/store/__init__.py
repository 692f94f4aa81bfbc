"""Stores: where campaigns, the outbox and everything around them are kept.

`open_store` takes a URL: ``sqlite:///path/to/msgkit.db`` (the default,
``./msgkit.db``; ``?busy_timeout=60s&max_size=10000000`` sets `SQLiteStore`'s options),
``memory://``, or ``postgresql://user:password@host:5432/dbname`` (`PostgresStore`, with
the ``postgres`` extra; ``?pool_size=8`` sets its number of connections).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from msgkit.core.contacts import PhoneCipher
from msgkit.core.durations import parse_duration
from msgkit.exceptions import ConfigError
from msgkit.store.base import (
    AuditEntry,
    Change,
    ChangeResult,
    InsertResult,
    ListInfo,
    MessageRow,
    Progress,
    StoredReply,
)
from msgkit.store.memory import MemoryStore
from msgkit.store.protocols import (
    AudienceStore,
    CampaignStore,
    DeliveryStore,
    Inbox,
    Outbox,
    Store,
)
from msgkit.store.sql import SQLStore
from msgkit.store.sqlite import SQLiteStore

__all__ = [
    "AudienceStore",
    "AuditEntry",
    "CampaignStore",
    "Change",
    "ChangeResult",
    "DeliveryStore",
    "Inbox",
    "InsertResult",
    "ListInfo",
    "MemoryStore",
    "MessageRow",
    "Outbox",
    "Progress",
    "SQLStore",
    "SQLiteStore",
    "Store",
    "StoredReply",
    "open_store",
]


def open_store(
    url: str | Path | Store | None = None, *, phone_key: PhoneCipher | None = None
) -> Store:
    """Open a store by URL (or pass a store through).

    The store interface is the `Store` protocol (`msgkit.store.protocols`). Every store
    msgkit opens is the SQL store on a dialect: SQLite on disk (the default), SQLite in
    memory, and PostgreSQL; one implementation, one contract suite.

    Args:
        url: The store's URL or path, or a store.
        phone_key: Keep phone numbers encrypted at rest with this key. A store given
            as an object must have been opened with it (``SQLiteStore(path,
            phone_key=...)``).

    Raises:
        ConfigError: For a URL msgkit cannot open; for a phone key that does not fit
            the database (missing, another key, a database of plain numbers).
    """
    if url is None:
        return SQLiteStore("msgkit.db", phone_key=phone_key)
    if not isinstance(url, (str, Path)):
        if phone_key is not None and not getattr(url, "encrypted", False):
            raise ConfigError(
                "a phone key is set, but the store given was opened without it: its phone "
                "numbers would be stored in plain text",
                key="MSGKIT_PHONE_KEY",
                hint="open the store with the key (SQLiteStore(path, phone_key=...)), or "
                "give the client the store's URL",
            )
        return url
    text = str(url)
    if isinstance(url, Path) or "://" not in text:
        return SQLiteStore(text, phone_key=phone_key)
    if text.startswith("sqlite:///"):
        path, _, query = text.removeprefix("sqlite:///").partition("?")
        return SQLiteStore(path or "msgkit.db", phone_key=phone_key, **_sqlite_options(query))
    if text in ("memory://", "sqlite://", "sqlite:///:memory:"):
        return MemoryStore(phone_key=phone_key)
    if text.startswith(("postgresql://", "postgres://")):
        # psycopg and its pool take 0.1 s to import: only when a PostgreSQL URL is opened.
        from msgkit.store.postgres import PostgresStore  # noqa: PLC0415

        return PostgresStore(text, phone_key=phone_key)
    raise ConfigError(
        f"unknown store URL {text.split('://', maxsplit=1)[0]}://...",
        key="store",
        hint="use sqlite:///path/to/msgkit.db, memory:// or postgresql://...",
    )


def _sqlite_options(query: str) -> dict[str, Any]:
    """`SQLiteStore`'s options from a URL's query (``busy_timeout=30s&max_size=...``)."""
    options: dict[str, Any] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name not in ("busy_timeout", "max_size"):
            raise ConfigError(
                f"the SQLite store has no option {name!r}",
                key="store",
                hint="its options are busy_timeout (a duration) and max_size (bytes)",
            )
        try:
            if name == "busy_timeout":
                options[name] = parse_duration(value).total_seconds()
            else:
                options[name] = int(value)
                if options[name] <= 0:
                    raise ValueError(value)
        except ValueError:
            raise ConfigError(
                f"{name}={value!r} is not valid",
                key="store",
                hint="busy_timeout is a duration (30s, 2m); max_size a number of bytes",
            ) from None
    return options
