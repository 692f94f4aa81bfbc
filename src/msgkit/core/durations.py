"""Durations and speeds written by people: ``"30s"``, ``"5m"``, ``"2h"``, ``"10/s"``.

Pure parsing for configuration files and the command line; each raises `ValueError`
with an example of what is accepted.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta

__all__ = ["format_duration", "parse_duration", "parse_speed"]

_UNITS = {
    "ms": 0.001,
    "s": 1.0,
    "sec": 1.0,
    "m": 60.0,
    "min": 60.0,
    "h": 3600.0,
    "d": 86400.0,
}
_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(ms|sec|min|s|m|h|d)?\s*", re.IGNORECASE)
_SPEED = re.compile(r"\s*(\d+)\s*/\s*(s|sec|second|m|min|minute|h|hour)\s*", re.IGNORECASE)
_PER = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600}


def parse_duration(value: str | float | timedelta) -> timedelta:
    """A duration from ``"30s"``, ``"5m"``, ``"2h"``, ``"1d"``, ``"250ms"`` or seconds.

    Raises:
        ValueError: Not a duration, or a negative or non-finite one.

    Example:
        >>> parse_duration("5m"), parse_duration(30)
        (datetime.timedelta(seconds=300), datetime.timedelta(seconds=30))
    """
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration: write e.g. '30s', '5m', '2h' or seconds")
    elif isinstance(value, (int, float)):
        seconds = float(value)
    else:
        match = _DURATION.fullmatch(value)
        if match is None:
            raise ValueError(
                f"{value!r} is not a duration: write e.g. '30s', '5m', '2h' or seconds"
            )
        seconds = float(match[1]) * _UNITS[(match[2] or "s").lower()]
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"{value!r} is not a duration: it must be zero or more")
    return timedelta(seconds=seconds)


def format_duration(span: timedelta) -> str:
    """The shortest of ``"2h"``, ``"5m"``, ``"30s"`` that `parse_duration` reads back."""
    seconds = span.total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s" if seconds == int(seconds) else f"{seconds}s"


def parse_speed(text: str) -> tuple[int, timedelta]:
    """A send speed from ``"10/s"`` or ``"600/min"``: (messages, per).

    Raises:
        ValueError: Not a speed, or zero messages.

    Example:
        >>> parse_speed("600/min")
        (600, datetime.timedelta(seconds=60))
    """
    match = _SPEED.fullmatch(text)
    if match is None or int(match[1]) < 1:
        raise ValueError(f"{text!r} is not a speed: write e.g. '10/s' or '600/min'")
    return int(match[1]), timedelta(seconds=_PER[match[2].lower()])
