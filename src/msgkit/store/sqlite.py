"""The default store: SQLite in a file (WAL), nothing to set up."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Literal

from msgkit.core.contacts import PhoneCipher
from msgkit.exceptions import StoreError
from msgkit.store.sql import Dialect, SQLStore

__all__ = ["SQLiteStore"]

SQLITE = Dialect(name="sqlite")

#: SQLite's primary result codes of a store fault (https://sqlite.org/rescode.html).
_PERM, _BUSY, _LOCKED, _READONLY, _IOERR, _CORRUPT, _FULL, _CANTOPEN, _NOTADB = (
    *(3, 5, 6, 8, 10, 11, 13, 14, 26),
)
#: SQLite's fixed messages, for Pythons whose sqlite3 errors carry no result code
#: (``sqlite_errorcode`` is new in 3.11).
_MESSAGES = (
    ("database or disk is full", _FULL),
    ("database is locked", _BUSY),
    ("database table is locked", _LOCKED),
    ("attempt to write a readonly database", _READONLY),
    ("disk i/o error", _IOERR),
    ("database disk image is malformed", _CORRUPT),
    ("file is not a database", _NOTADB),
    ("unable to open database file", _CANTOPEN),
)


def _code_of(message: str) -> int:
    """The result code a SQLite error message stands for (0 when unknown)."""
    text = message.lower()
    return next((code for words, code in _MESSAGES if words in text), 0)


_AGAIN = (
    "then run again: a campaign stopped by it continues with `msgkit resume CAMPAIGN` "
    "(client.resume), nothing skipped or sent twice"
)


class SQLiteStore(SQLStore):
    """A store in one SQLite file.

    Several processes may open the same file (a worker and a client, say): SQLite's WAL
    lets readers go on while one writes, and a writer waits up to ``busy_timeout`` for
    another's transaction to end. A database that fails (a full disk, a lock held
    longer than the timeout, a read-only file) raises `msgkit.StoreError`.

    Args:
        path: The database file (created if missing), or ``":memory:"``.
        synchronous: SQLite's ``synchronous`` setting. ``"full"`` (the default) makes
            every committed state change survive a power cut, not only a crash of the
            process; ``"normal"`` is faster and survives process crashes.
        busy_timeout: Seconds a write waits for another process's transaction to end
            before it fails with `StoreError` (kind ``"locked"``).
        max_size: The most bytes the database file may grow to (None: as the disk
            allows); reaching it fails a write as a full disk does.
        phone_key: Encrypt phone numbers at rest with this key (a `PhoneCipher`, or
            its URL-safe base64 text; see docs/reliability.md). A database created with
            a key can only be opened with it.

    Raises:
        ConfigError: For a phone key that is missing, wrong or not valid (see
            `msgkit.store.open_store`).
    """

    def __init__(
        self,
        path: str | Path = "msgkit.db",
        *,
        synchronous: Literal["full", "normal"] = "full",
        busy_timeout: float = 30.0,
        max_size: int | None = None,
        phone_key: PhoneCipher | str | bytes | None = None,
    ) -> None:
        self.path = str(path)
        if synchronous not in ("full", "normal"):
            raise ValueError("synchronous must be 'full' or 'normal'")
        if busy_timeout < 0:
            raise ValueError("busy_timeout must be zero or more seconds")
        if max_size is not None and max_size <= 0:
            raise ValueError("max_size must be a positive number of bytes")
        self.busy_timeout = busy_timeout
        self.max_size = max_size

        def connect() -> sqlite3.Connection:
            conn = sqlite3.connect(
                self.path, check_same_thread=False, isolation_level=None, timeout=busy_timeout
            )
            if self.path != ":memory:":
                conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(f"PRAGMA synchronous = {synchronous.upper()}")
            conn.execute("PRAGMA foreign_keys = ON")
            # Up to 64 MiB of page cache (SQLite's default is 2 MiB), taken only as pages
            # are used: a bulk write into the outbox's hash-keyed indexes touches a page
            # per row per index, and re-reads what a small cache evicted (measured on
            # 300,000 messages, 10,000 per commit: 17,600 against 13,000 rows/s).
            conn.execute("PRAGMA cache_size = -65536")
            if max_size is not None:
                page_size = conn.execute("PRAGMA page_size").fetchone()[0]
                conn.execute(f"PRAGMA max_page_count = {max(1, max_size // page_size)}")
            return conn

        cipher = (
            phone_key
            if isinstance(phone_key, (PhoneCipher, type(None)))
            else (PhoneCipher(phone_key))
        )
        super().__init__(connect, SQLITE, url=f"sqlite:///{self.path}", phone_key=cipher)

    def _fault(self, exc: Exception) -> StoreError | None:
        """What a sqlite3 error means for the user, and what to do about it."""
        if not isinstance(exc, sqlite3.Error):
            return None
        code = (getattr(exc, "sqlite_errorcode", None) or _code_of(str(exc))) & 0xFF
        db = self.path
        if code == _FULL:
            limit = (
                f" (or its max_size of {self.max_size} bytes is reached)" if self.max_size else ""
            )
            return StoreError(
                f"the disk holding {db} is full{limit}: the last change was not saved ({exc})",
                kind="full",
                database=self.url,
                hint=f"free space on that disk (or raise max_size), {_AGAIN}",
            )
        if code in (_BUSY, _LOCKED):
            return StoreError(
                f"another process holds a write lock on {db} longer than "
                f"{self.busy_timeout:g} s ({exc})",
                kind="locked",
                database=self.url,
                hint="let it finish, or stop it (a long import, a backup, an open sqlite3 "
                f"shell), or give the store a longer busy_timeout; {_AGAIN}",
            )
        if code in (_READONLY, _PERM):
            return StoreError(
                f"{db} cannot be written: it, its directory or its disk is read-only ({exc})",
                kind="read_only",
                database=self.url,
                hint="give this process write access to the file and its directory (SQLite "
                f"writes {db}-wal and {db}-shm beside it), {_AGAIN}",
            )
        if code in (_IOERR, _CANTOPEN):
            return StoreError(
                f"{db} could not be read or written: the operating system reported an "
                f"I/O error ({exc})",
                kind="io",
                database=self.url,
                hint=f"check the disk and the path (a removed or network drive?), {_AGAIN}",
            )
        if code in (_CORRUPT, _NOTADB):
            return StoreError(
                f"{db} is damaged or is not a msgkit database ({exc})",
                kind="corrupt",
                database=self.url,
                hint="restore it from a backup, or check the path points at the right file",
            )
        return StoreError(
            f"the database {db} failed: {exc}",
            kind="other",
            database=self.url,
            hint="run again with -v for the traceback, and report it if it persists",
        )
