"""The plumbing of the SQL store: connection, transactions, dialects, schema migrations."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import datetime, timezone
from typing import Any

import attrs

from msgkit.exceptions import ConfigError, StoreError
from msgkit.store.migrations import LATEST, MIGRATIONS

__all__ = [
    "BATCH",
    "BULK_BATCH",
    "Dialect",
    "SQLBase",
    "chunks",
    "dt",
    "instant",
    "ms",
    "trigger_range",
]

BATCH = 500
#: Rows per transaction of a bulk write (a list's contacts, a campaign's plan). The
#: outbox's unique ids, keys, recipients and link parameters are hashes: each row lands
#: on a random page of each of those indexes, so a commit writes about one page per row
#: per index once the indexes outgrow a few thousand pages. Fewer, larger commits share
#: those pages. Measured on SQLite, 300,000 outbox rows (64 MiB page cache): 500 rows
#: per commit ~12,000 rows/s, 10,000 ~28,000/s, 20,000 ~40,000/s, 50,000 ~42,000/s.
BULK_BATCH = 20_000


def ms(value: datetime | None) -> int | None:
    """Milliseconds since the epoch of an aware datetime (None stays None)."""
    if value is None:
        return None
    if value.utcoffset() is None:
        raise ValueError("the store takes aware datetimes only")
    return int(value.timestamp() * 1000)


def dt(value: int | None) -> datetime | None:
    """The aware UTC datetime of a millisecond timestamp."""
    return None if value is None else instant(value)


def instant(value: int) -> datetime:
    """The aware UTC datetime of a millisecond timestamp of a NOT NULL column."""
    return datetime.fromtimestamp(value / 1000, tz=timezone.utc)


def chunks(items: Iterable[Any], size: int = BATCH) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def trigger_range(
    alias: str, campaign_id: str, since: datetime | None, until: datetime | None
) -> tuple[str, list[Any]]:
    """The WHERE clause of a campaign's triggers (first messages, no tests) in a range.

    A trigger is its first message (step 0); a fallback that was skipped with its first
    message is stored unlinked (no parent), and is no trigger of its own.
    """
    where = f"{alias}.campaign_id = ? AND {alias}.step = 0 AND {alias}.test = 0"
    params: list[Any] = [campaign_id]
    if since is not None:
        where += f" AND {alias}.created_at >= ?"
        params.append(ms(since))
    if until is not None:
        where += f" AND {alias}.created_at < ?"
        params.append(ms(until))
    return where, params


@attrs.frozen
class Dialect:
    """What differs between SQL databases.

    Attributes:
        name: ``"sqlite"`` or ``"postgresql"``.
        placeholder: The parameter marker of the driver.
        id_column: DDL of an auto-incrementing integer primary key.
        skip_locked: Whether claims may use ``FOR UPDATE SKIP LOCKED``.
        begin: The statement that starts a write transaction.
        lock_rows: Appended to a SELECT whose rows the transaction will update.
        lock_key: A statement taking a lock on one text key (``?``) until the
            transaction ends, for writes that depend on what they read of rows that may
            not exist yet (PostgreSQL: ``SELECT pg_advisory_xact_lock(hashtext(?))``).
            Empty where a write transaction excludes every other writer (SQLite's
            ``BEGIN IMMEDIATE``).
    """

    name: str
    placeholder: str = "?"
    id_column: str = "INTEGER PRIMARY KEY AUTOINCREMENT"
    skip_locked: bool = False
    begin: str = "BEGIN IMMEDIATE"
    lock_rows: str = ""
    lock_key: str = ""

    def json_text(self, column: str, key: str) -> str:
        """The SQL expression of the text at ``key`` of a JSON ``column``."""
        if self.name == "postgresql":
            return f"({column}::json ->> '{key}')"
        return f"json_extract({column}, '$.{key}')"

    def sql(self, text: str) -> str:
        """``text`` with ``?`` markers turned into this driver's."""
        return text if self.placeholder == "?" else text.replace("?", self.placeholder)


class SQLBase:
    """A connection, its lock, transactions and the schema; the store's parts build on it.

    Args:
        connect: Opens a DB-API connection in autocommit mode.
        dialect: What differs between databases.
        url: The URL it was opened with, for messages (without password).
    """

    def __init__(self, connect: Callable[[], Any], dialect: Dialect, *, url: str) -> None:
        self.dialect = dialect
        self.url = url
        self._lock = threading.RLock()
        with self._faults():
            self._conn = connect()
        self._migrate()

    # --- plumbing -------------------------------------------------------------

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> SQLBase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _begin(self) -> None:
        self._conn.execute(self.dialect.begin)

    def _fault(self, exc: Exception) -> StoreError | None:
        """The `StoreError` a driver's error means (None: not a fault of the database)."""
        return None

    @contextmanager
    def _faults(self) -> Iterator[None]:
        """Raise the driver's errors as `StoreError` (what happened, what to do)."""
        try:
            yield
        except Exception as exc:
            fault = self._fault(exc)
            if fault is None:
                raise
            raise fault from exc

    @contextmanager
    def _tx(self) -> Iterator[Any]:
        with self._lock, self._faults():
            cur = self._conn.cursor()
            try:
                self._begin()
                try:
                    yield cur
                    self._conn.commit()
                except BaseException:
                    # A failed commit (a full disk) leaves the transaction open: end it.
                    with suppress(Exception):
                        self._conn.rollback()
                    raise
            finally:
                cur.close()

    def _q(self, cur: Any, sql: str, params: Sequence[Any] = ()) -> Any:
        cur.execute(self.dialect.sql(sql), tuple(params))
        return cur

    def _many(self, cur: Any, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        if not rows:
            return 0
        cur.executemany(self.dialect.sql(sql), rows)
        return int(cur.rowcount)

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._lock, self._faults():
            cur = self._conn.cursor()
            try:
                cur.execute(self.dialect.sql(sql), tuple(params))
                return list(cur.fetchall())
            finally:
                cur.close()

    def _in(self, values: Sequence[Any]) -> str:
        return ",".join("?" for _ in values)

    # --- schema -----------------------------------------------------------------

    def _migrate(self) -> None:
        with self._tx() as cur:
            self._q(
                cur,
                "CREATE TABLE IF NOT EXISTS msgkit_meta "
                "(key TEXT PRIMARY KEY, value TEXT NOT NULL)",
            )
        while True:
            with self._tx() as cur:
                found = self._q(
                    cur, "SELECT value FROM msgkit_meta WHERE key = 'schema_version'"
                ).fetchone()
                version = int(found[0]) if found else 0
                if version > LATEST:
                    raise ConfigError(
                        f"the database {self.url} has schema version {version}, but this "
                        f"msgkit knows versions up to {LATEST}",
                        key="store",
                        hint="upgrade msgkit (pip install -U msgkit) before opening it",
                    )
                if version == LATEST:
                    return
                for statement in MIGRATIONS[version]:
                    self._q(cur, statement.replace("{id}", self.dialect.id_column))
                if found:
                    self._q(
                        cur,
                        "UPDATE msgkit_meta SET value = ? WHERE key = 'schema_version'",
                        (str(version + 1),),
                    )
                else:
                    self._q(
                        cur,
                        "INSERT INTO msgkit_meta (key, value) VALUES ('schema_version', ?)",
                        (str(version + 1),),
                    )

    @property
    def schema_version(self) -> int:
        """The schema version of the open database."""
        rows = self._read("SELECT value FROM msgkit_meta WHERE key = 'schema_version'")
        return int(rows[0][0])
