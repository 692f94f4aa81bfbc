"""Typed columns: turning cell text (or XLSX values) into dates, numbers, text."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import date, datetime, time, timedelta, timezone, tzinfo

from msgkit.exceptions import ConfigError

__all__ = [
    "TYPES",
    "Converter",
    "column_letter",
    "converter",
    "spreadsheet_safe",
    "text_of",
    "to_utc",
    "unescape_spreadsheet",
]

#: The column types a mapping may ask for; ``date`` and ``datetime`` may also carry an
#: explicit ``strptime`` format after a colon, e.g. ``"date:%d/%m/%Y"``.
TYPES = ("str", "int", "float", "date", "datetime")

Converter = Callable[[object], object]

_DATE = re.compile(
    r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"
    r"(?:[ T]+(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?"
)
_COMPACT = re.compile(r"(\d{4})(\d{2})(\d{2})")


def column_letter(index: int) -> str:
    """The spreadsheet letter of a 0-based column: 0 → A, 27 → AB."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def text_of(value: object) -> str:
    """A cell value as text: dates in ISO form, whole numbers without ``.0``."""
    if isinstance(value, str):
        return value
    if isinstance(value, (date, time)):
        return value.isoformat()
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, timedelta):
        return _duration_text(value)
    return "" if value is None else str(value)


def _duration_text(value: timedelta) -> str:
    """An XLSX duration as ``[h]:mm:ss`` shows it: ``26:00:00``, ``-0:30:00``."""
    ms = round(value.total_seconds() * 1000)
    sign, ms = ("-" if ms < 0 else ""), abs(ms)
    seconds, ms = divmod(ms, 1000)
    text = f"{sign}{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
    return f"{text}.{ms:03d}" if ms else text


#: What makes a spreadsheet read a cell as a formula (OWASP, "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(text: str) -> str:
    """``text`` as a CSV cell that a spreadsheet shows as text, never runs as a formula.

    A cell starting with ``=`` ``+`` ``-`` ``@``, a tab or a carriage return gets a
    leading ``'`` (as OWASP advises against CSV injection); so does one starting with
    ``'`` and one of those (or another ``'``), so that `unescape_spreadsheet` gives back
    exactly ``text``. A phone number written ``+886...`` becomes ``'+886...``: shown as
    written, not turned into the number 886... (or a formula) by Excel.
    """
    if text.startswith(_FORMULA_START) or _escaped(text):
        return "'" + text
    return text


def _escaped(text: str) -> bool:
    return text.startswith("'") and (text[1:2] in _FORMULA_START or text[1:2] == "'")


def unescape_spreadsheet(text: str) -> str:
    """``text`` without the ``'`` `spreadsheet_safe` put before it, if it has one."""
    return text[1:] if _escaped(text) else text


def _offset(text: str | None) -> tzinfo | None:
    if not text:
        return None
    if text == "Z":
        return timezone.utc
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")

    return timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))


def _parse_moment(text: str) -> tuple[date, datetime | None]:
    """A written date, and the moment when a time is written too (naive if no offset)."""
    text = text.strip()
    m = _DATE.fullmatch(text)
    if m is None:
        c = _COMPACT.fullmatch(text)
        if c is None:
            raise ValueError(f"{text!r} is not a date like 2024-03-01")
        return date(int(c[1]), int(c[2]), int(c[3])), None
    day = date(int(m[1]), int(m[2]), int(m[3]))
    if m[4] is None:
        return day, None
    fraction = int((m[7] or "0").ljust(6, "0"))
    moment = datetime(
        day.year,
        day.month,
        day.day,
        int(m[4]),
        int(m[5]),
        int(m[6] or 0),
        fraction,
        tzinfo=_offset(m[8]),
    )
    return day, moment


def to_utc(moment: datetime, zone: tzinfo) -> datetime:
    """``moment`` in UTC, read in ``zone`` when it carries no offset.

    Raises:
        ValueError: When the moment in UTC falls outside the years 1–9999 (9999-12-31
            23:00 at -05:00, say), which Python's datetime cannot hold.
    """
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    try:
        return moment.astimezone(timezone.utc)
    except OverflowError:
        raise ValueError(
            f"{moment.isoformat()} is out of range once moved to UTC (years 1 to 9999)"
        ) from None


def _to_date(fmt: str | None) -> Converter:
    def convert(value: object) -> object:
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date):
            return value
        if not isinstance(value, str):
            raise ValueError(f"{value!r} is not a date")
        if fmt is not None:
            return datetime.strptime(value.strip(), fmt).date()  # noqa: DTZ007 - a date
        return _parse_moment(value)[0]

    return convert


def _to_datetime(fmt: str | None, zone: tzinfo) -> Converter:
    def convert(value: object) -> object:
        if isinstance(value, datetime):
            return to_utc(value, zone)
        if isinstance(value, date):
            return to_utc(datetime(value.year, value.month, value.day, tzinfo=zone), zone)
        if not isinstance(value, str):
            raise ValueError(f"{value!r} is not a date and time")
        if fmt is not None:
            return to_utc(datetime.strptime(value.strip(), fmt), zone)  # noqa: DTZ007
        day, moment = _parse_moment(value)
        return to_utc(moment or datetime(day.year, day.month, day.day, tzinfo=zone), zone)

    return convert


def _days(value: object) -> object:
    """An XLSX duration as the number Excel holds for it: days (36:00:00 is 1.5)."""
    return value / timedelta(days=1) if isinstance(value, timedelta) else value


def _to_int(value: object) -> object:
    value = _days(value)
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"{value!r} is not a whole number")
        return int(value)
    return int(str(value).strip().replace(",", ""))


def _to_float(value: object) -> object:
    value = _days(value)
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")
    try:
        number = (
            float(value)
            if isinstance(value, (int, float))
            else float(str(value).strip().replace(",", ""))
        )
    except OverflowError:  # an integer past 1.8e308
        raise ValueError(f"{value!r} is too large a number") from None
    if not math.isfinite(number):
        raise ValueError(f"{value!r} is not a finite number")
    return number


def converter(spec: str, *, column: str, zone: tzinfo) -> Converter:
    """The converter for a column type such as ``"int"`` or ``"date:%d/%m/%Y"``.

    Raises:
        ConfigError: For a type msgkit does not know.
    """
    kind, _, fmt = spec.partition(":")
    kind = kind.strip().lower()
    if kind == "date":
        return _to_date(fmt or None)
    if kind == "datetime":
        return _to_datetime(fmt or None, zone)
    if not fmt:
        if kind == "int":
            return _to_int
        if kind == "float":
            return _to_float
        if kind == "str":
            return text_of
    raise ConfigError(
        f"unknown column type {spec!r}",
        key=f"types.{column}",
        hint="use one of " + ", ".join(TYPES) + ", or 'date:<strptime format>'",
    )
