"""The store contract (`msgkit.testing.contracts.StoreContract`), run over every store,
and what the SQLite file store does besides: migrations, URLs, WAL."""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from msgkit import Campaign, ConfigError
from msgkit.contacts import Contact, parse_phone
from msgkit.store import MemoryStore, SQLiteStore, SQLStore, codec, open_store
from msgkit.store.migrations import LATEST
from msgkit.store.postgres import PostgresStore
from msgkit.testing import StoreContract
from msgkit.testing.contracts import planned_messages, running_campaign
from tests.postgres import Databases

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


class TestMemoryStore(StoreContract):
    """The in-memory store keeps the contract."""

    @pytest.fixture
    def make_store(self) -> Callable[[], SQLStore]:
        """A new in-memory store each call."""
        return MemoryStore


class TestSQLiteStore(StoreContract):
    """The SQLite file store keeps the contract."""

    @pytest.fixture
    def make_store(self, tmp_path: Path) -> Callable[[], SQLStore]:
        """A new SQLite file each call."""
        numbers = itertools.count()
        return lambda: SQLiteStore(tmp_path / f"t{next(numbers)}.db")


KEY = "q5U0yb0c0ZJ4mYl9XW6Xc0mS2pQbU1Yx9bT7Qv3kR8E"


class TestEncryptedSQLiteStore(StoreContract):
    """The SQLite file store keeps the contract with its phone numbers encrypted."""

    @pytest.fixture
    def make_store(self, tmp_path: Path) -> Callable[[], SQLStore]:
        """A new SQLite file with a phone key each call."""
        numbers = itertools.count()
        return lambda: SQLiteStore(tmp_path / f"t{next(numbers)}.db", phone_key=KEY)


# --- migrations -----------------------------------------------------------------------


def test_migrations_run_once_and_reopen(tmp_path: Path) -> None:
    """Opening a database twice (or from two stores) applies the schema once."""
    path = tmp_path / "m.db"
    a = SQLiteStore(path)
    b = SQLiteStore(path)
    assert a.schema_version == b.schema_version == LATEST
    a.close()
    b.close()
    assert SQLiteStore(path).schema_version == LATEST


def test_newer_database_is_refused(tmp_path: Path) -> None:
    """An older msgkit refuses a database written by a newer one, saying what to do."""
    path = tmp_path / "new.db"
    SQLiteStore(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE msgkit_meta SET value = ? WHERE key = 'schema_version'", (LATEST + 1,))
    with pytest.raises(ConfigError, match="upgrade msgkit"):
        SQLiteStore(path)


def test_open_store_urls(tmp_path: Path) -> None:
    """open_store understands sqlite:///, memory:// and refuses unknown schemes."""
    db = open_store(f"sqlite:///{tmp_path / 'u.db'}")
    assert isinstance(db, SQLiteStore)
    assert (tmp_path / "u.db").exists()
    assert isinstance(open_store("memory://"), MemoryStore)
    with pytest.raises(ConfigError, match="unknown store URL"):
        open_store("mysql://x")


def test_wal_mode_on_disk(tmp_path: Path) -> None:
    """The file store runs in WAL mode."""
    store = SQLiteStore(tmp_path / "w.db")
    mode = store._read("PRAGMA journal_mode")[0][0]
    assert mode == "wal"
    store.close()


def test_upgrade_from_schema_1_keeps_creation_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database of schema 1 opened by this msgkit lists campaigns and lists in the order
    they were created (same-millisecond ones by id, as schema 1 did), and new ones after."""
    from msgkit.store import _base, migrations

    path = tmp_path / "v1.db"
    monkeypatch.setattr(_base, "MIGRATIONS", migrations.MIGRATIONS[:1])
    monkeypatch.setattr(_base, "LATEST", 1)
    old = SQLiteStore(path)
    with old._tx() as cur:  # schema 1 rows, as an older msgkit wrote them
        for cid, at in (("b", 5), ("a", 5), ("c", 3)):
            old._q(
                cur,
                "INSERT INTO campaigns (id, name, kind, status, enabled, spec, created_at, "
                "updated_at) VALUES (?, ?, 'bulk', 'draft', 1, ?, ?, ?)",
                (cid, cid, codec.dumps(Campaign(name=cid, id=cid)), at, at),
            )
            old._q(
                cur,
                "INSERT INTO lists (id, name, columns, created_at) VALUES (?, ?, '[]', ?)",
                (cid, cid, at),
            )
    old.close()
    monkeypatch.undo()
    store = SQLiteStore(path)
    assert store.schema_version == LATEST
    store.save_campaign(Campaign(name="new", id="0"), now=NOW)
    new_list = store.create_list("new", [], now=NOW)
    assert [c.id for c in store.list_campaigns()] == ["c", "a", "b", "0"]
    assert [x["id"] for x in store.list_lists()] == ["c", "a", "b", new_list]


def test_bulk_writes_span_several_transactions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plan or list larger than one bulk transaction is written whole, each row once,
    and written again it only counts duplicates."""
    monkeypatch.setattr("msgkit.store._outbox.BULK_BATCH", 7)
    monkeypatch.setattr("msgkit.store._lists.BULK_BATCH", 7)
    store = SQLiteStore(tmp_path / "bulk.db")
    campaign = store.save_campaign(running_campaign(), now=NOW)
    first = store.insert_messages(planned_messages(campaign.id, 10, now=NOW), now=NOW)
    again = store.insert_messages(planned_messages(campaign.id, 30, now=NOW), now=NOW)
    assert (first.inserted, first.duplicates) == (10, 0)
    assert (again.inserted, again.duplicates) == (20, 10)
    assert len(store.messages(campaign_id=campaign.id, limit=100)) == 30
    list_id = store.create_list("l", ["phone"], now=NOW)
    contacts = [Contact(phone=parse_phone(f"+8869120001{i:02d}")) for i in range(30)]
    added = store.add_contacts(list_id, [*contacts, *contacts[:5]])
    assert (added.inserted, added.duplicates) == (30, 5)
    back = [c for chunk in store.iter_contacts(list_id, chunk=4) for c in chunk]
    assert back == contacts
    assert store.get_list(list_id)["rows"] == 30
    store.close()


class TestPostgresStore(StoreContract):
    """The PostgreSQL store keeps the contract (with MSGKIT_TEST_POSTGRES set)."""

    stores_nul = False  # PostgreSQL's text cannot hold "\x00": see test_postgres.py

    phone_key: str | None = None

    @pytest.fixture
    def make_store(self, postgres_databases: Databases) -> Iterator[Callable[[], SQLStore]]:
        """A new database each call."""
        made: list[PostgresStore] = []

        def make() -> SQLStore:
            store = PostgresStore(postgres_databases.new(), phone_key=self.phone_key)
            made.append(store)
            return store

        yield make
        for store in made:
            store.close()
            postgres_databases.release(store._conninfo)


class TestEncryptedPostgresStore(TestPostgresStore):
    """The PostgreSQL store keeps the contract with its phone numbers encrypted."""

    phone_key = KEY
