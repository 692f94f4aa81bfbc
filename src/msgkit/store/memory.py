"""An in-memory store for tests and notebooks.

It is the SQL store on an in-memory SQLite database: the same code and the same
guarantees as the default store, gone when the process ends.
"""

from __future__ import annotations

from msgkit.core.contacts import PhoneCipher
from msgkit.store.sqlite import SQLiteStore

__all__ = ["MemoryStore"]


class MemoryStore(SQLiteStore):
    """A store that lives in memory only.

    Args:
        phone_key: Keep phone numbers encrypted (as `SQLiteStore` does).
    """

    def __init__(self, *, phone_key: PhoneCipher | str | bytes | None = None) -> None:
        super().__init__(":memory:", synchronous="normal", phone_key=phone_key)
        self.url = "memory://"
