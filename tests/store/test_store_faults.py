"""A database that fails raises `msgkit.StoreError` (what happened, what to do), never a
raw sqlite3 error; the failed transaction leaves nothing behind, and the store works
again once the cause is gone. Each fault is provoked for real."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import msgkit
from msgkit import StoreError
from msgkit.store import SQLiteStore, open_store

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
KINDS = {"full", "locked", "read_only", "io", "corrupt", "other"}


def audits(store: SQLiteStore) -> int:
    return len(store.audit_log(limit=1_000_000))


def write(store: SQLiteStore, detail: str = "x" * 2000) -> None:
    store.audit(actor="t", action="test", target=None, detail=detail, now=NOW)


def fill(store: SQLiteStore) -> None:
    for _ in range(10_000):
        write(store)


def test_a_full_disk_is_a_store_error_and_the_store_works_once_space_is_freed(
    tmp_path: Path,
) -> None:
    """SQLITE_FULL (the file may not grow: max_size): what and what to do; nothing of
    the failed transaction is kept; after space is freed, writes succeed again."""
    path = tmp_path / "full.db"
    SQLiteStore(path).close()
    store = SQLiteStore(path, max_size=(path.stat().st_size + 64 * 1024))
    with pytest.raises(StoreError) as raised:
        fill(store)
    error = raised.value
    assert isinstance(error, msgkit.MsgkitError)
    assert error.kind == "full"
    assert f"the disk holding {path} is full" in error.what
    assert "free space" in (error.hint or "")
    assert "resume" in str(error)
    assert isinstance(error.__cause__, sqlite3.OperationalError)
    kept = audits(store)
    with pytest.raises(StoreError):
        write(store)
    assert audits(store) == kept  # the failed transaction left nothing
    store.close()
    freed = SQLiteStore(path)  # space freed: no limit
    write(freed)
    assert audits(freed) == kept + 1
    freed.close()


def test_a_database_too_small_to_open_says_so(tmp_path: Path) -> None:
    """Opening a new database on a full disk (its schema cannot be written) fails alike."""
    with pytest.raises(StoreError) as raised:
        SQLiteStore(tmp_path / "tiny.db", max_size=4096)
    assert raised.value.kind == "full"


def test_a_lock_held_longer_than_the_timeout_is_a_store_error(tmp_path: Path) -> None:
    """Another connection holding the write lock past ``busy_timeout``: a StoreError that
    names the lock and the timeout; once it lets go, the same store writes again."""
    path = tmp_path / "locked.db"
    store = SQLiteStore(path, busy_timeout=0.1)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreError) as raised:
            write(store, "locked out")
    finally:
        other.rollback()
        other.close()
    error = raised.value
    assert error.kind == "locked"
    assert f"another process holds a write lock on {path} longer than 0.1 s" in error.what
    assert "busy_timeout" in (error.hint or "")
    write(store, "after")
    assert [e["detail"] for e in store.audit_log()] == ["after"]
    store.close()


def test_a_read_only_database_is_a_store_error(tmp_path: Path) -> None:
    """SQLITE_READONLY: says the file cannot be written and what to check."""
    store = SQLiteStore(tmp_path / "ro.db")
    store._conn.execute("PRAGMA query_only = ON")
    with pytest.raises(StoreError) as raised:
        write(store)
    assert raised.value.kind == "read_only"
    assert "cannot be written" in raised.value.what
    store._conn.execute("PRAGMA query_only = OFF")
    write(store)
    store.close()


def test_a_file_that_is_not_a_database_is_a_store_error(tmp_path: Path) -> None:
    """SQLITE_NOTADB: the path is wrong or the file is damaged."""
    path = tmp_path / "notes.db"
    path.write_bytes(b"these are my notes, not a database " * 200)
    with pytest.raises(StoreError) as raised:
        SQLiteStore(path)
    assert raised.value.kind == "corrupt"
    assert "backup" in (raised.value.hint or "")


def test_other_errors_pass_through(tmp_path: Path) -> None:
    """Only the database's own errors are store faults: a bug elsewhere stays itself."""
    store = SQLiteStore(tmp_path / "bug.db")
    with pytest.raises(ZeroDivisionError), store._tx():
        _ = 1 / 0
    write(store)
    store.close()


@given(code=st.integers(min_value=0, max_value=0xFFFF), text=st.text(max_size=40))
def test_every_sqlite_error_becomes_a_store_error_that_says_what_to_do(
    code: int, text: str
) -> None:
    """Property: any sqlite3 error, with any extended result code, is a StoreError of a
    known kind naming the database, with a hint; anything else is not translated."""
    store = SQLiteStore(":memory:", busy_timeout=2)
    try:
        for kind in (sqlite3.OperationalError, sqlite3.DatabaseError, sqlite3.IntegrityError):
            exc = kind(text)
            exc.sqlite_errorcode = code  # type: ignore[attr-defined]
            fault = store._fault(exc)
            assert fault is not None
            assert fault.kind in KINDS
            assert ":memory:" in fault.what
            assert fault.hint
            assert str(fault).startswith(fault.what)
            primary = code & 0xFF
            if primary == 13:
                assert fault.kind == "full"
            elif primary in (5, 6):
                assert fault.kind == "locked"
                assert "2 s" in fault.what
        assert store._fault(ValueError(text)) is None
    finally:
        store.close()


def test_the_store_url_sets_the_busy_timeout_and_the_size_limit(tmp_path: Path) -> None:
    """``sqlite:///path?busy_timeout=2s&max_size=...``: for the CLI and config files."""
    store = open_store(f"sqlite:///{tmp_path / 'u.db'}?busy_timeout=2s&max_size=5000000")
    assert isinstance(store, SQLiteStore)
    assert (store.busy_timeout, store.max_size) == (2.0, 5_000_000)
    store.close()
    for bad in ("busy_timeout=soon", "max_size=-1", "max_size=big", "timeout=3"):
        with pytest.raises(msgkit.ConfigError) as raised:
            open_store(f"sqlite:///{tmp_path / 'u.db'}?{bad}")
        assert raised.value.key == "store"
        assert "busy_timeout" in (raised.value.hint or "")


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        ("database or disk is full", "full"),
        ("database is locked", "locked"),
        ("attempt to write a readonly database", "read_only"),
        ("disk I/O error", "io"),
        ("file is not a database", "corrupt"),
    ],
)
def test_an_error_without_a_result_code_is_read_from_its_message(message: str, kind: str) -> None:
    """Python 3.10's sqlite3 errors carry no result code: SQLite's own words decide."""
    store = SQLiteStore(":memory:")
    try:
        fault = store._fault(sqlite3.OperationalError(message))
        assert fault is not None
        assert fault.kind == kind
    finally:
        store.close()
