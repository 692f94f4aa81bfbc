"""An in-memory store for tests and notebooks.

It is the SQL store on an in-memory SQLite database: the same code and the same
guarantees as the default store, gone when the process ends.
"""

from __future__ import annotations

from msgkit.store.sqlite import SQLiteStore

__all__ = ["MemoryStore"]


class MemoryStore(SQLiteStore):
    """A store that lives in memory only."""

    def __init__(self) -> None:
        super().__init__(":memory:", synchronous="normal")
        self.url = "memory://"
