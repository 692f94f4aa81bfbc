"""Rate slots: how workers that share one rate take turns, as a pure rule.

A shared rate (a provider's requests per second, a campaign's send speed) is one
number in the store: the time its next slot begins (``due``). A worker that wants to
send ``units`` reserves the slot that begins at ``due`` (or now, when ``due`` has
passed) and moves ``due`` on by ``units / rate``; it then waits until its slot
begins. This is the generic cell rate algorithm (GCRA) that rate limiters keep in a
shared database: nothing is held while nobody sends, a worker that dies leaves no
budget behind (its slots simply pass), and over any window of ``w`` seconds the slots
that begin in it hold at most ``rate * w`` units plus one reservation.

Times are integers of microseconds since the epoch (the store's column).
"""

from __future__ import annotations

import math

__all__ = ["reserve_slot"]


def reserve_slot(
    due: int | None, now: int, units: float, rate: float, *, ahead: int
) -> tuple[int, int]:
    """The slot of a reservation of ``units`` at ``rate`` per second.

    Args:
        due: When the next free slot begins (None: nobody reserved yet).
        now: The reserving worker's time.
        units: What it will send in the slot (> 0).
        rate: Units per second (> 0).
        ahead: A ``due`` further than this past ``now`` is not believed: it was set
            by a clock that is not this one (a test's fake clock, a machine whose clock
            jumped) and would make everybody wait; the slot begins now instead.

    Returns:
        ``(start, due)``: when this slot begins (the worker waits until then) and when
        the next one begins.

    Raises:
        ValueError: ``units`` or ``rate`` is not positive.
    """
    if not units > 0 or not rate > 0:
        raise ValueError("a reservation takes a positive number of units at a positive rate")
    start = now if due is None or due < now or due - now > ahead else due
    return start, start + math.ceil(units * 1_000_000 / rate)
