"""The housekeeping queries and the claim read the outbox by index (migration 4), never
scan it."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from msgkit.core.delivery import MessageState
from msgkit.store import SQLiteStore, SQLStore

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
#: The only tables a plan may walk whole: campaigns (a few rows), a constant row.
SCANS_ALLOWED = {"SCAN c", "SCAN campaigns", "SCAN CONSTANT ROW"}
PARTIAL = ("messages_held", "messages_unknown", "messages_expiry", "messages_fallback_at")


def plans(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """The query plan of each statement the housekeeping queries run, by query."""
    path = tmp_path / "plans.db"
    store = SQLiteStore(path)
    statements: list[tuple[str, tuple[Any, ...]]] = []
    read, query = SQLStore._read, SQLStore._q

    def recording(self: SQLStore, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        statements.append((sql, tuple(params)))
        return read(self, sql, params)

    def recording_q(self: SQLStore, cur: Any, sql: str, params: Sequence[Any] = ()) -> Any:
        statements.append((sql, tuple(params)))
        return query(self, cur, sql, params)

    monkeypatch.setattr(SQLStore, "_read", recording)
    monkeypatch.setattr(SQLStore, "_q", recording_q)
    calls = {
        "claim": lambda: store.claim(worker="w", now=NOW, limit=10, lease_until=NOW),
        "expirable": lambda: store.expirable(now=NOW),
        "holders": store.holders,
        "stale": lambda: store.stale(MessageState.SENDING, now=NOW, dead=["w1"]),
        "recover_stale": lambda: store.recover_stale(
            MessageState.SENDING, lambda rows: [], now=NOW, dead=["w1"]
        ),
        "to_reconcile": lambda: store.to_reconcile(now=NOW),
        "next_due": lambda: store.next_due(
            now=NOW, poll_providers=(), poll_after=timedelta(minutes=5)
        ),
    }
    found: dict[str, list[str]] = {}
    with sqlite3.connect(path) as conn:
        for name, call in calls.items():
            statements.clear()
            call()
            found[name] = [
                row[3]
                for sql, params in statements
                if sql.lstrip().startswith("SELECT")
                for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params)
            ]
    store.close()
    return found


def test_housekeeping_queries_never_scan_the_outbox(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, plan in plans(tmp_path, monkeypatch).items():
        for line in plan:
            if line.startswith("SCAN ") and line not in SCANS_ALLOWED:
                # A walk of a partial index reads only the rows in its states.
                assert any(f"INDEX {index}" in line for index in PARTIAL), (name, line)
            if line.startswith("SEARCH ") and line.split()[1] in {"messages", "m", "p", "w"}:
                assert " USING " in line, (name, line)


@pytest.mark.parametrize(
    ("query", "index"),
    [
        ("claim", "messages_priority"),
        ("expirable", "messages_expiry"),
        ("holders", "messages_held"),
        ("stale", "messages_held"),
        ("to_reconcile", "messages_unknown"),
        ("next_due", "messages_fallback_at"),
        ("next_due", "messages_tests"),
        ("next_due", "messages_held"),
        ("next_due", "messages_unknown"),
    ],
)
def test_each_query_uses_its_partial_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, query: str, index: str
) -> None:
    assert any(f"INDEX {index}" in line for line in plans(tmp_path, monkeypatch)[query])
