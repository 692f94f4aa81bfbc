"""A compact set of phone numbers, remembering the row each was first seen on.

A million numbers in a ``dict[str, int]`` cost about 150 MB of Python objects. Here a
number is kept as its E.164 digits read as one integer (at most 15 digits, so exact:
two different numbers never collide) in an open-addressing table of two flat arrays:
8 bytes for the number and 4 for the row, at a load of at most one half, so 24 to 48
bytes a number — about 25 MB for a million.
"""

from __future__ import annotations

from array import array

__all__ = ["SeenNumbers"]

_EMPTY = 0  # no E.164 number reads as 0
_MIX = 0x9E3779B97F4A7C15  # Fibonacci hashing spreads consecutive numbers apart
_MASK64 = (1 << 64) - 1


class SeenNumbers:
    """Numbers seen so far, each with the row it was first seen on."""

    def __init__(self, capacity_bits: int = 16) -> None:
        self._bits = capacity_bits
        self._keys = array("Q", bytes(8 << capacity_bits))
        self._rows = array("I", bytes(4 << capacity_bits))
        self._count = 0

    def __len__(self) -> int:
        return self._count

    @property
    def nbytes(self) -> int:
        """The memory the two tables take."""
        return len(self._keys) * self._keys.itemsize + len(self._rows) * self._rows.itemsize

    def _slot(self, number: int) -> int:
        keys = self._keys
        mask = len(keys) - 1
        i = ((number * _MIX) & _MASK64) >> (64 - self._bits)
        while True:
            k = keys[i]
            if k in (number, _EMPTY):
                return i
            i = (i + 1) & mask

    def first_row(self, number: int, row: int) -> int | None:
        """The row ``number`` was first seen on; or None, recording it as seen on ``row``."""
        i = self._slot(number)
        if self._keys[i] == number:
            return self._rows[i]
        self._keys[i] = number
        self._rows[i] = row
        self._count += 1
        if self._count * 2 > len(self._keys):
            self._grow()
        return None

    def _grow(self) -> None:
        keys, rows = self._keys, self._rows
        self._bits += 1
        self._keys = array("Q", bytes(8 << self._bits))
        self._rows = array("I", bytes(4 << self._bits))
        for number, row in zip(keys, rows, strict=True):
            if number != _EMPTY:
                i = self._slot(number)
                self._keys[i] = number
                self._rows[i] = row
