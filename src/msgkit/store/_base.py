"""The plumbing of the SQL store: connection, transactions, dialects, schema migrations."""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from datetime import datetime, timezone
from typing import Any

import attrs

from msgkit.core.contacts import PhoneCipher
from msgkit.exceptions import ConfigError, StoreError
from msgkit.store import codec
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
        exclusive: The statement (one ``?``: a name) that makes a transaction wait for
            any other holding the same name until it ends; empty where ``begin`` already
            serialises writers (SQLite's ``BEGIN IMMEDIATE``).
        shared: The statement (one ``?``: an array of names, taken in its order) that
            makes a transaction wait for any other holding one of the names with
            ``exclusive`` -- not for those holding it shared; empty with ``exclusive``.
    """

    name: str
    placeholder: str = "?"
    id_column: str = "INTEGER PRIMARY KEY AUTOINCREMENT"
    skip_locked: bool = False
    begin: str = "BEGIN IMMEDIATE"
    lock_rows: str = ""
    exclusive: str = ""
    shared: str = ""

    def json_text(self, column: str, key: str) -> str:
        """The SQL expression of the text at ``key`` of a JSON ``column``."""
        if self.name == "postgresql":
            return f"({column}::json ->> '{key}')"
        return f"json_extract({column}, '$.{key}')"

    def ddl(self, statement: str) -> str:
        """A statement of `msgkit.store.migrations` in this database's words."""
        return statement.replace("{id}", self.id_column)

    def sql(self, text: str) -> str:
        """``text`` with ``?`` markers turned into this driver's."""
        return text if self.placeholder == "?" else text.replace("?", self.placeholder)


class SQLBase:
    """A connection, its lock, transactions and the schema; the store's parts build on it.

    Args:
        connect: Opens a DB-API connection in autocommit mode.
        dialect: What differs between databases.
        url: The URL it was opened with, for messages (without password).
        phone_key: Encrypt phone numbers at rest with this key (see `Addresses`).

    Raises:
        ConfigError: When the database's phone numbers are encrypted and no key or
            another key is given, or they are in plain text and a key is given.
    """

    def __init__(
        self,
        connect: Callable[[], Any],
        dialect: Dialect,
        *,
        url: str,
        phone_key: PhoneCipher | None = None,
    ) -> None:
        self.dialect = dialect
        self.url = url
        self._lock = threading.RLock()
        self._addresses = Addresses(phone_key)
        with self._faults():
            self._conn = connect()
        try:
            self._migrate()
            self._check_phone_key()
        except BaseException:
            self.close()  # a refused database is not left open
            raise

    @property
    def encrypted(self) -> bool:
        """Whether this store keeps phone numbers encrypted (it was opened with a key)."""
        return self._addresses.cipher is not None

    @property
    def digest_key(self) -> bytes | None:
        """What keys the recipient digest of message keys, ids and link parameters
        (`msgkit.core.planning.message_key`): the phone key's, or None without one."""
        cipher = self._addresses.cipher
        return None if cipher is None else cipher.digest_key

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

    def _begin(self, cur: Any) -> None:
        cur.execute(self.dialect.begin)

    @contextmanager
    def _connection(self) -> Iterator[Any]:
        """The connection for one transaction or read, this thread's alone while in use."""
        with self._lock:
            yield self._conn

    def _exclusive(self, cur: Any, name: str) -> None:
        """Make this transaction the only one holding ``name`` until it ends: for a
        read-then-write that no constraint guards (the next number of a sequence)."""
        if self.dialect.exclusive:
            self._q(cur, self.dialect.exclusive, (name,))

    def _shared(self, cur: Any, names: Sequence[str]) -> None:
        """Hold ``names`` shared until this transaction ends: it waits for (and holds
        off) a transaction holding one `_exclusive`, not another holding it shared."""
        if self.dialect.shared and names:
            self._q(cur, self.dialect.shared, (sorted(set(names)),))

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
        with self._faults(), self._connection() as conn:
            cur = conn.cursor()
            try:
                self._begin(cur)
                try:
                    yield cur
                    conn.commit()
                except BaseException:
                    # A failed commit (a full disk) leaves the transaction open: end it.
                    with suppress(Exception):
                        conn.rollback()
                    self._addresses.settle(committed=False)
                    raise
                self._addresses.settle(committed=True)
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
        with self._faults(), self._connection() as conn:
            cur = conn.cursor()
            try:
                cur.execute(self.dialect.sql(sql), tuple(params))
                return list(cur.fetchall())
            finally:
                cur.close()

    def _in(self, values: Sequence[Any]) -> str:
        return ",".join("?" for _ in values)

    # --- schema -----------------------------------------------------------------

    def _migrate(self) -> None:
        # Several processes may open a new database at once: each migration step is one
        # transaction, and on PostgreSQL holds the "migrate" lock (SQLite's BEGIN
        # IMMEDIATE serialises them already), so one applies it and the others see it done.
        with self._tx() as cur:
            self._exclusive(cur, "msgkit.migrate")
            self._q(
                cur,
                "CREATE TABLE IF NOT EXISTS msgkit_meta "
                "(key TEXT PRIMARY KEY, value TEXT NOT NULL)",
            )
        while True:
            with self._tx() as cur:
                self._exclusive(cur, "msgkit.migrate")
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
                    self._q(cur, self.dialect.ddl(statement))
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

    def _check_phone_key(self) -> None:
        """Refuse a key the database was not encrypted with, a missing one, or one given
        for a database that keeps its numbers in plain text.

        The first store to open a database marks it, keyed or plain (a plain database
        from before the mark existed is plain when it holds addresses): the mark is
        written with ``ON CONFLICT DO NOTHING`` and read back, so two processes opening
        a new database at once agree on one of them, and the other is refused.
        """
        mark = self._addresses.mark or _PLAIN
        with self._tx() as cur:
            self._exclusive(cur, "msgkit.migrate")
            found = self._q(cur, "SELECT value FROM msgkit_meta WHERE key = 'phone_key'").fetchone()
            if found is None:
                if mark != _PLAIN and any(
                    self._q(cur, f"SELECT 1 FROM {table} LIMIT 1").fetchone()
                    for table in _ADDRESS_TABLES
                ):
                    mark = _PLAIN  # written before the mark: its numbers are in plain text
                self._q(
                    cur,
                    "INSERT INTO msgkit_meta (key, value) VALUES ('phone_key', ?) "
                    "ON CONFLICT (key) DO NOTHING",
                    (mark,),
                )
                found = self._q(
                    cur, "SELECT value FROM msgkit_meta WHERE key = 'phone_key'"
                ).fetchone()
        stored = found[0]
        if stored == (self._addresses.mark or _PLAIN):
            return
        if stored == _PLAIN:
            raise ConfigError(
                f"the database {self.url} keeps its phone numbers in plain text: "
                "encryption cannot be turned on for it",
                key="MSGKIT_PHONE_KEY",
                hint="open it without a phone key (unset MSGKIT_PHONE_KEY in every process "
                "that opens it), or start a new database with the key and import the "
                "lists again",
            )
        if self._addresses.mark is None:
            raise ConfigError(
                f"the database {self.url} keeps its phone numbers encrypted, and no phone "
                "key was given",
                key="MSGKIT_PHONE_KEY",
                hint="set the MSGKIT_PHONE_KEY environment variable to the key it was "
                "created with (or pass phone_key=...) in every process that opens it",
            )
        raise ConfigError(
            f"the phone key given is not the one the database {self.url} was encrypted with",
            key="MSGKIT_PHONE_KEY",
            hint="set MSGKIT_PHONE_KEY to the key it was created with: without it its "
            "numbers cannot be read",
        )

    # --- campaign and scenario specs ------------------------------------------------------

    def _dump_spec(self, value: Any) -> str:
        """A campaign's or scenario's stored text: its JSON, sealed in a keyed store (a
        policy's test numbers are phone numbers too)."""
        text = codec.dumps(value)
        cipher = self._addresses.cipher
        return text if cipher is None else _SEALED_SPEC + cipher.encrypt(text)

    def _load_spec(self, text: str) -> Any:
        """What `_dump_spec` stored (a spec written before it was sealed is plain JSON)."""
        if text.startswith(_SEALED_SPEC):
            cipher = self._addresses.cipher
            if cipher is None:
                raise ConfigError(
                    f"the database {self.url} holds sealed campaigns",
                    key="MSGKIT_PHONE_KEY",
                    hint="open it with the phone key it was created with",
                )
            text = cipher.decrypt(text[len(_SEALED_SPEC) :])
        return codec.loads(text)

    # --- addresses (phone numbers) --------------------------------------------------------

    def _ix(self, address: str) -> str:
        """What an address column holds for ``address`` (see `Addresses.index`)."""
        return self._addresses.index(address)

    def _seal(self, cur: Any, addresses: Iterable[str | None]) -> Callable[[str], str]:
        """Keep the sealed form of these addresses, to read them back (a keyed store);
        returns what their columns hold (`_ix` of each, computed once)."""
        if self._addresses.cipher is None:
            return _same
        stored, rows = self._addresses.seal(addresses)
        if rows:
            self._many(
                cur,
                "INSERT INTO addresses (ix, sealed) VALUES (?, ?) ON CONFLICT (ix) DO NOTHING",
                rows,
            )
        return stored.__getitem__

    def _open(self, stored: Iterable[str | None]) -> Mapping[str, str]:
        """The addresses of these address-column values, by value (without a phone key,
        the value itself; an empty value stays empty).

        Raises:
            StoreError: In a keyed store, a value has no sealed address (the database
                was written to without the key, or damaged): never is an index handed
                back as if it were the number.
        """
        found = _Same()
        if self._addresses.cipher is None:
            return found
        missing: set[str] = set()
        for value in stored:
            if value:
                address = self._addresses.get(value)
                if address is None:
                    missing.add(value)
                else:
                    found[value] = address
        for chunk in chunks(sorted(missing)):
            rows = self._read(
                f"SELECT ix, sealed FROM addresses WHERE ix IN ({self._in(chunk)})", chunk
            )
            found.update(self._addresses.learn(rows))
        unknown = len(missing.difference(found))
        if unknown:
            raise StoreError(
                f"{unknown} address(es) in the database {self.url} have no encrypted "
                "form: they were written without the phone key, or the database is damaged",
                kind="corrupt",
                database=self.url,
                hint="make every process that opens this database use the same "
                "MSGKIT_PHONE_KEY; restore the database from a backup taken before the "
                "rows were written without it",
            )
        return found

    @property
    def schema_version(self) -> int:
        """The schema version of the open database."""
        rows = self._read("SELECT value FROM msgkit_meta WHERE key = 'schema_version'")
        return int(rows[0][0])


#: The tables with an address column (a database with rows in one holds addresses).
_ADDRESS_TABLES = ("contacts", "messages", "send_history", "suppressions", "replies")
#: What the database's ``phone_key`` mark is the blind index of.
_MARK = "msgkit:phone-key"
#: The ``phone_key`` mark of a database that keeps its numbers in plain text.
_PLAIN = "plain"
#: Opened addresses kept in memory (a claim, a report page, a chunk of contacts).
_OPENED = 50_000


class _Same(dict[str, str]):
    """Opened addresses by stored value; any other value (without a phone key: every
    value; with one: an empty value) opens to itself."""

    def __missing__(self, key: str) -> str:
        return key


#: Marks a spec sealed with the phone key (a plain spec is JSON: it starts with ``{``).
_SEALED_SPEC = "sealed:"


class Addresses:
    """How a store keeps phone numbers (and every other address): the one place that
    seals and opens them.

    Without a cipher an address is stored as it is. With one, every address column
    holds the address's blind index (HMAC-SHA256, 64 hex characters: the same for the
    same address, so lookups, joins, UNIQUE constraints, dedupe, suppression and caps
    work unchanged), and the ``addresses`` table keeps each address once, AES-GCM
    sealed, by its index. Only what must read a number back (the dispatcher sending it,
    reports and exports the user asked for) opens it.

    Args:
        cipher: The phone key, or None to store addresses as they are.
    """

    def __init__(self, cipher: PhoneCipher | None) -> None:
        self.cipher = cipher
        #: index -> address, of those sealed or opened lately (least recently used first).
        self.opened: OrderedDict[str, str] = OrderedDict()
        # Guards `opened`: the threads of a pooled store (PostgreSQL) share it.
        self._opened_lock = threading.Lock()
        # index -> address, sealed by the transaction under way in this thread (a store
        # on a connection pool runs one transaction per thread at once: PostgreSQL).
        self._local = threading.local()
        self.mark = None if cipher is None else cipher.blind_index(_MARK)
        self.index: Callable[[str], str] = (
            _same if cipher is None else functools.lru_cache(maxsize=4096)(self._index)
        )

    @property
    def _pending(self) -> dict[str, str]:
        pending: dict[str, str] | None = getattr(self._local, "pending", None)
        if pending is None:
            pending = self._local.pending = {}
        return pending

    def _index(self, address: str) -> str:
        assert self.cipher is not None
        return self.cipher.blind_index(address) if address else address

    def seal(self, addresses: Iterable[str | None]) -> tuple[dict[str, str], list[tuple[str, str]]]:
        """The index of each of these addresses, and the ``(index, sealed)`` rows of
        those not sealed lately (none without a cipher). An empty address stays empty."""
        stored: dict[str, str] = {}
        rows: list[tuple[str, str]] = []
        for address in addresses:
            if address is None or address in stored:
                continue
            if not address or self.cipher is None:
                stored[address] = address
                continue
            ix = stored[address] = self.cipher.blind_index(address)
            if self.get(ix) is None and ix not in self._pending:
                rows.append((ix, self.cipher.encrypt(address)))
                self._pending[ix] = address
        return stored, rows

    def settle(self, *, committed: bool) -> None:
        """The transaction that wrote the sealed addresses ended: remember them as
        stored (committed), or forget them (rolled back: they must be written again)."""
        if self._pending:
            if committed:
                for ix, address in self._pending.items():
                    self._keep(ix, address)
            self._pending.clear()

    def learn(self, rows: Iterable[tuple[str, str]]) -> dict[str, str]:
        """Open ``(index, sealed)`` rows read from the ``addresses`` table."""
        assert self.cipher is not None
        found = {ix: self.cipher.decrypt(sealed) for ix, sealed in rows}
        for ix, address in found.items():
            self._keep(ix, address)
        return found

    def get(self, ix: str) -> str | None:
        """The address of an index sealed or opened lately (now the most recently used),
        or None."""
        with self._opened_lock:
            address = self.opened.get(ix)
            if address is not None:
                self.opened.move_to_end(ix)
            return address

    def _keep(self, ix: str, address: str) -> None:
        with self._opened_lock:
            self.opened[ix] = address
            self.opened.move_to_end(ix)
            if len(self.opened) > _OPENED:
                self.opened.popitem(last=False)  # the least recently used


def _same(address: str) -> str:
    return address
