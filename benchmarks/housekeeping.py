"""The dispatcher's housekeeping queries on a big outbox, with and without their indexes.

Between claims the dispatcher asks the store what expired (`expirable`), who holds
messages (`holders`), what a dead worker left (`stale`), what to reconcile
(`to_reconcile`) and when it must wake next (`next_due`). On an outbox of N messages in
the middle of a long run (half sent, half waiting with a validity, a few hundred held
by a worker, a few unknown) each must cost about nothing: the long run does them all
the time. This builds that outbox in a SQLite file (the store's schema; rows written
with plain SQL, which is not what is measured), times each query (best of 5), then
drops the partial indexes of migration 4 and times them again: the baseline beside
each figure is the same query reading the outbox without them. It checks each answer
and exits non-zero when one is wrong (never on a time). Run:

    PYTHONPATH=src python benchmarks/housekeeping.py [--small] [--rows N]
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from msgkit.core.delivery import MessageState
from msgkit.store.sqlite import SQLiteStore

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
T0 = int(NOW.timestamp() * 1000)
HELD = 500
UNKNOWN = 100
PARTIAL_INDEXES = (
    "messages_held",
    "messages_unknown",
    "messages_expiry",
    "messages_fallback_at",
    "messages_tests",
)
FAILURES: list[str] = []


def rows(n: int) -> Iterator[tuple[Any, ...]]:
    """N messages of one running bulk campaign: half sent, then waiting, held, unknown."""
    sent = n // 2
    for i in range(n):
        mid = f"{(i * 0x9E3779B97F4A7C15) % 2**64:016x}{i:016x}"
        if i < sent:
            state, not_before, expires, sent_at = "submitted", T0 - 60_000, None, T0 - 1_000
            worker = lease = None
        elif i < sent + HELD:
            state, not_before, expires, sent_at = "sending", T0 - 1_000, T0 + 3_600_000, None
            worker, lease = "w1", T0 + 30_000
        elif i < sent + HELD + UNKNOWN:
            state, not_before, expires, sent_at = "unknown", T0 + 120_000 + i, None, T0 - 500
            worker = lease = None
        else:
            # Waiting with a validity: an hour from now, one second apart; the first
            # ten have just ended.
            state, not_before = "planned", T0 + 60_000
            expires, sent_at = T0 - 9_500 + (i - sent - HELD - UNKNOWN) * 1_000, None
            worker = lease = None
        yield (
            mid, f"c1:{i}:0", "c1", f"k{i}", 0, "sms", "bench", f"+8869{i:08d}", state,
            "notification", "hello", "{}", 1, 0, 1, 0, not_before, expires, sent_at,
            worker, lease, T0 - 100_000, T0 - 100_000,
        )  # fmt: skip


def build(path: Path, n: int) -> None:
    SQLiteStore(path).close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute(
        "INSERT INTO campaigns (id, name, kind, status, enabled, queue_seq, spec, "
        "created_at, updated_at, created_seq) "
        "VALUES ('c1', 'bench', 'bulk', 'running', 1, 1, '{}', ?, ?, 1)",
        (T0, T0),
    )
    source = rows(n)
    while True:
        batch = [r for _, r in zip(range(100_000), source, strict=False)]
        if not batch:
            break
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO messages (id, key, campaign_id, contact_key, step, channel, "
            "provider, recipient, state, kind, text, payload, segments, test, counts, "
            "priority, not_before, expires_at, sent_at, worker, lease_until, created_at, "
            "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
            "?, ?, ?)",
            batch,
        )
        conn.execute("COMMIT")
    conn.close()


def best(call: Callable[[], Any], repeat: int = 5) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - start)
    return min(times), result


def queries(store: SQLiteStore, n: int) -> dict[str, tuple[Callable[[], Any], Any]]:
    """Each query and the answer it must give on the outbox `rows` wrote."""
    return {
        "expirable": (lambda: len(store.expirable(now=NOW)), 10),
        "holders": (store.holders, ["w1"]),
        "stale (sending, worker w1 dead)": (
            lambda: len(store.stale(MessageState.SENDING, now=NOW, dead=["w1"], limit=HELD)),
            HELD,
        ),
        "to_reconcile": (
            lambda: len(store.to_reconcile(now=NOW + timedelta(hours=1))),
            UNKNOWN,
        ),
        "next_due": (lambda: store.next_due(now=NOW), NOW + timedelta(seconds=30)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="50,000 messages (CI)")
    parser.add_argument("--rows", type=int, default=0)
    args = parser.parse_args()
    n = args.rows or (50_000 if args.small else 1_000_000)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "outbox.db"
        start = time.perf_counter()
        build(path, n)
        print(f"outbox of {n:,} messages written in {time.perf_counter() - start:.1f} s")
        store = SQLiteStore(path)
        figures: dict[str, float] = {}
        for name, (call, expected) in queries(store, n).items():
            took, answer = best(call)
            figures[name] = took
            if answer != expected:
                FAILURES.append(f"{name}: {answer!r}, expected {expected!r}")
        with sqlite3.connect(path, isolation_level=None) as conn:
            for index in PARTIAL_INDEXES:
                conn.execute(f"DROP INDEX IF EXISTS {index}")
        print(f"{'query':<34} {'indexed':>10} {'baseline: no partial index':>28}")
        for name, (call, _) in queries(store, n).items():
            took, _ = best(call, repeat=2)
            print(
                f"{name:<34} {figures[name] * 1000:8.2f} ms {took * 1000:17.2f} ms"
                f"  ({took / max(figures[name], 1e-9):,.0f}x)"
            )
        store.close()
    if FAILURES:
        print("\n".join(["", "FAILED:", *FAILURES]))
        sys.exit(1)


if __name__ == "__main__":
    main()
