"""Rates shared by every worker on the store: one row per rate (`msgkit.core.rates`)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from msgkit.core.rates import reserve_slot
from msgkit.store._base import SQLBase


def _us(value: datetime) -> int:
    if value.utcoffset() is None:
        raise ValueError("the store takes aware datetimes only")
    return round(value.timestamp() * 1_000_000)


class RateTables(SQLBase):
    """Rate slots (`msgkit.store.protocols.SharedRates`)."""

    def reserve_rate(
        self, key: str, units: float, rate: float, *, now: datetime, ahead: timedelta
    ) -> datetime:
        """Reserve the next slot of ``units`` at ``rate`` per second of the rate ``key``,
        for all workers on this store together; returns when it begins.

        One short transaction: the rate's row is read under the write lock (SQLite's
        ``BEGIN IMMEDIATE``, PostgreSQL's ``FOR UPDATE``), moved on, and written.
        """
        stamp = _us(now)
        with self._tx() as cur:
            self._q(
                cur,
                "INSERT INTO rate_slots (key, due) VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
                (key, stamp),
            )
            row = self._q(
                cur, f"SELECT due FROM rate_slots WHERE key = ?{self.dialect.lock_rows}", (key,)
            ).fetchone()
            start, due = reserve_slot(int(row[0]), stamp, units, rate, ahead=_us_delta(ahead))
            self._q(cur, "UPDATE rate_slots SET due = ? WHERE key = ?", (due, key))
        return datetime.fromtimestamp(start / 1_000_000, tz=timezone.utc)


def _us_delta(value: timedelta) -> int:
    return round(value.total_seconds() * 1_000_000)
