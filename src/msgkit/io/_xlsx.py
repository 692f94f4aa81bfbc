"""A small streaming reader of XLSX worksheets (values only).

Only what an import needs: the sheets' names, and each row's cell values with numbers,
text, booleans, dates, times and durations told apart (a number is a date when its
cell's number format is a date format, see `format_kind`). Formulas give their cached
value.

Why a reader of our own, and not python-calamine or openpyxl (measured by
``benchmarks/import_files.py``, 200,000 rows × 7 columns, an 8.9 MB workbook; see
docs/performance.md): openpyxl in read-only mode is 2.7-3.5× slower than this reader
(14.4 s against 4.3 s for a preview on a quiet machine); python-calamine is about 5×
faster (0.9 s) but builds the whole sheet in memory before the first row (132 MB peak
for this file against 35 MB, growing with the sheet), and cannot stop a 400 MB cell or
a 41-million-row sheet part-way. This reader drives expat directly (no element tree):
it streams, holding one chunk of XML and its rows plus the shared-string table (stored
compactly, see `SharedStrings`), so it
can stop at the first cell over `MAX_XLSX_CELL_CHARS`, the first row past Excel's
last, or the first part over the decompression limits, and it refuses any DTD before
an entity could expand. Its readings are compared with openpyxl's and calamine's by
property tests, and it is fuzzed.

Hostile workbooks are refused with an `ImportFileError`:

- a part compressed with anything but deflate (zipfile unpacks a whole read of a
  bzip2 or LZMA part at once, past any limit; Excel and LibreOffice write deflate);
- a part that would unpack to more than `_INFLATION` × the file's size limit, or
  whose compression ratio is over `_RATIO` (zip bombs), or parts unpacking to more
  than that limit in total: checked on the sizes the zip declares before a part is
  read, then on the bytes really unpacked as it is read;
- any DTD (entity expansion);
- a cell longer than `MAX_XLSX_CELL_CHARS`, a row past row 1,048,576 or a column
  past XFD (Excel's own limits; cells written without a reference count too), more
  than `_PADDING` empty cells implied by cells written far to the right (a small file
  that would take minutes); a date cell whose number is no date; a shared-text index
  that is not in the table.

The sheet is fed to expat `_FEED` bytes at a time and the rows completed are handed
out before the next feed; rows read before a failure are handed out before it is
raised.
"""

from __future__ import annotations

import math
import re
import zipfile
import zlib
from array import array
from collections.abc import Callable, Generator
from datetime import date, datetime, time, timedelta, timezone
from posixpath import join, normpath
from typing import IO, Literal, NoReturn
from xml.parsers import expat

from msgkit.exceptions import ImportFileError
from msgkit.io._source import SourceFile

__all__ = [
    "MAX_XLSX_CELL_CHARS",
    "Cell",
    "FormatKind",
    "SharedStrings",
    "XlsxTable",
    "blank",
    "builtin_format_kind",
    "format_kind",
    "from_serial",
]

Cell = str | int | float | bool | date | datetime | time | timedelta | None
FormatKind = Literal["date", "datetime", "time", "duration"]

#: The longest text a cell may hold: Excel's own limit (32,767 characters).
MAX_XLSX_CELL_CHARS = 32_767
_MAX_ROW = 1_048_576
_MAX_COLUMN = 16_384  # XFD
# A part unpacking to more than this many times the file's size limit, or all the
# parts read together, is refused (a "zip bomb"); so is a part over 1 MiB that claims
# to compress more than _RATIO to one. Real sheets compress 5 to 15 to one.
_INFLATION = 16
_RATIO = 100
_RATIO_FLOOR = 1 << 20
_CHUNK = 1 << 16
# The sheet's XML is fed to expat this much at a time, and the rows it completes are
# handed out before the next: a row costs up to 16,384 cells (one cell at XFD), so
# this bounds what waits in memory (about 250 rows of 128 KiB at worst).
_FEED = 1 << 13
# Empty cells a sheet may imply before the cells it writes (a cell at XFD implies
# 16,383): 64 per row of Excel's 1,048,576. Past it, a small file would cost minutes.
_PADDING = 64 * _MAX_ROW

_MAIN = (
    "http://schemas.openxmlformats.org/spreadsheetml/2006/main",
    "http://purl.oclc.org/ooxml/spreadsheetml/main",  # "strict" OOXML
)
_REL = (
    "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
    "http://purl.oclc.org/ooxml/officeDocument/relationships",
)
_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships}Relationship"

# Built-in number formats (ECMA-376 18.8.30): 14-17 dates, 18-21 times, 22 date and
# time, 45 mm:ss, 46 [h]:mm:ss, 47 mmss.0; 27-36 and 50-58 are the East Asian date
# formats (32 and 33 are times in every East Asian locale; the others are dates in
# some locales and times in others, read as dates: a fraction then gives a datetime).
_BUILTIN: dict[int, FormatKind] = {
    **dict.fromkeys([14, 15, 16, 17, *range(27, 32), 34, 35, 36, *range(50, 59)], "date"),
    **dict.fromkeys([18, 19, 20, 21, 32, 33, 45, 47], "time"),
    22: "datetime",
    46: "duration",
}
_LITERAL = re.compile(r'"[^"]*"?|\\.|[_*].')
_BRACKET = re.compile(r"\[([^\]]*)\]?")
_ELAPSED = re.compile(r"h+|m+|s+", re.IGNORECASE)
_SCIENTIFIC = re.compile(r"e[+-]", re.IGNORECASE)
_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")
_REF = re.compile(r"([A-Z]{1,3})(\d*)")
_LETTERS = re.compile(r"[A-Z]*")

_EPOCH_1900 = datetime(1899, 12, 30)  # noqa: DTZ001 - spreadsheet dates have no zone
_EPOCH_1904 = datetime(1904, 1, 1)  # noqa: DTZ001
# The first serial past 9999-12-31 (the last day Excel shows), in each date system.
_END = {False: 2_958_466, True: 2_958_466 - 1462}


def blank(cells: list[Cell]) -> bool:
    """Whether a row has no value: every cell empty or only spaces."""
    return all(v is None or (isinstance(v, str) and not v.strip()) for v in cells)


def _unescape(text: str) -> str:
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text) if "_x" in text else text


def _first_section(code: str) -> str:
    """The part of a format code before its first ``;`` outside quotes and escapes."""
    quoted = escaped = False
    for i, ch in enumerate(code):
        if escaped:
            escaped = False
        elif ch == '"':
            quoted = not quoted
        elif quoted:
            continue
        elif ch == "\\":
            escaped = True
        elif ch == ";":
            return code[:i]
    return code


def format_kind(code: str) -> FormatKind | None:
    """What a number format code shows a number as: a date, time, duration, or None.

    Quoted literals (``"Date: "``), escaped characters (``\\d``), padding and fill
    (``_)``, ``*-``) are not tokens; ``[Red]``, ``[>100]``, ``[$-404]`` sections are
    not either, but ``[h]``, ``[mm]``, ``[ss]`` are elapsed time (a duration); ``E+``
    and ``E-`` are scientific notation, not the East Asian era year ``e``. Only the
    first section (positive numbers) counts, as in Excel.

    Examples:
        >>> format_kind("yyyy-mm-dd"), format_kind("h:mm"), format_kind("[h]:mm:ss")
        ('date', 'time', 'duration')
        >>> format_kind("0.0E+00"), format_kind('"Date" 0'), format_kind("General")
        (None, None, None)
    """
    section = _LITERAL.sub("", _first_section(code))
    elapsed = False
    for inside in _BRACKET.findall(section):
        if _ELAPSED.fullmatch(inside):
            elapsed = True
    bare = _BRACKET.sub("", section).lower()
    if _SCIENTIFIC.search(bare) or "general" in bare:
        return None
    if elapsed:
        return "duration"
    timed = "h" in bare or "s" in bare
    dated = "y" in bare or "d" in bare or "e" in bare or "g" in bare or "b" in bare
    if "m" in bare and not timed:
        dated = True
    if dated and timed:
        return "datetime"
    if dated:
        return "date"
    return "time" if timed else None


def builtin_format_kind(format_id: int) -> FormatKind | None:
    """What a built-in number format (by its id, without a format code) shows."""
    return _BUILTIN.get(format_id)


def from_serial(value: float, kind: FormatKind, *, date1904: bool = False) -> Cell:
    """A spreadsheet number shown with a date, time or duration format, as Python sees it.

    Serial numbers count days from the epoch of the workbook's date system (1900, or
    1904 on old Mac workbooks); the fraction is the time of day. In the 1900 system
    Excel counts a 29 February 1900 that never was (serial 60): days before it are
    one day later than the count says, and serial 60 itself is refused. A time-only
    number (under one day) is a `time`; a duration (``[h]:mm``) a `timedelta`; a date
    without a time a `date`. Values are rounded to the millisecond, as Excel shows.

    Raises:
        ValueError: For a number that is no date in the range Excel shows
            (1900-01-01 or 1904-01-01 to 9999-12-31), infinite or not a number.
    """
    if not math.isfinite(value):
        raise ValueError(f"{value!r} is not a number")
    if kind == "duration":
        if abs(value) >= _END[False]:
            raise ValueError(f"{value!r} days is not a duration Excel shows")
        return timedelta(milliseconds=round(value * 86_400_000))
    if value < 0 or value >= _END[date1904]:
        raise ValueError(f"{value!r} is not a date Excel shows (it shows ####)")
    if kind == "time" and value < 1:
        return _time_of(value)
    if not date1904:
        if value < 1:  # "1900-01-00": no day, only a time
            return _time_of(value)
        if 60 <= value < 61:
            raise ValueError("serial 60 is 29 February 1900, a day that never was")
    days = math.floor(value)
    ms = round((value - days) * 86_400_000)
    if not date1904 and days < 60:
        days += 1  # the day Excel counts that never was comes after these
    try:
        moment = (_EPOCH_1904 if date1904 else _EPOCH_1900) + timedelta(days=days, milliseconds=ms)
    except OverflowError:  # 9999-12-31 23:59:59.9999 rounds to the year 10000
        raise ValueError(f"{value!r} is not a date Excel shows (it shows ####)") from None
    if kind == "date" and moment.time() == time(0):
        return moment.date()
    return moment


def _time_of(value: float) -> time:
    ms = min(round(value * 86_400_000), 86_399_999)  # 23:59:59.9999 stays in its day
    seconds, ms = divmod(ms, 1000)
    return time(seconds // 3600, seconds // 60 % 60, seconds % 60, ms * 1000)


def _iso_cell(text: str) -> date | datetime | time:
    """A ``t="d"`` cell: ISO 8601 date, date and time, or time of day. An offset
    (``Z``, ``+08:00``) is kept: a date and time with one is that moment in UTC (not a
    time in the import's zone); a time of day keeps its offset.

    Raises:
        ValueError: For text that is none of these, or a moment past year 9999 in UTC.
    """
    text = text.strip()
    if "T" not in text and " " not in text and ":" in text:
        return time.fromisoformat(text)
    if len(text) == 10:
        return date.fromisoformat(text)
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        return moment
    try:
        return moment.astimezone(timezone.utc)
    except OverflowError:
        raise ValueError(f"{text!r} is past the dates Python holds, in UTC") from None


class SharedStrings:
    """The shared-string table, stored compactly: strings are joined into blocks of up
    to 4,096, and each string is its block, start and length. A table of millions of
    short strings costs their characters and 10 bytes each, not a Python object each
    (about 58 bytes): a 25 MB workbook of 9.8 million distinct short strings peaked at
    728 MB as a list, 194 MB so (docs/performance.md). A block holds strings of one
    character width (CPython stores a ``str`` 1, 2 or 4 bytes a character, the widest
    of its characters), so no string costs more than its own characters: one emoji never
    makes ASCII text cost 4 bytes a character, and the table never costs more than
    twice the XML it came from (an empty ``<si/>`` is 5 bytes). A string over `MAX_XLSX_CELL_CHARS`
    reads as None (the cell that uses it is refused).
    """

    _BLOCK = 4096

    def __init__(self) -> None:
        self._blocks: list[str] = []
        self._block = array("I")  # for each string: its block,
        self._start = array("I")  # where it starts there,
        self._length = array("H")  # and its length (at most 32,767)
        self._pending: dict[int, tuple[int, list[str]]] = {}  # width: block, its strings
        self._ends: dict[int, int] = {}  # width: the length of its pending block so far
        self._over: set[int] = set()

    def append(self, text: str | None) -> None:
        if text is None:
            self._over.add(len(self._block))
            text = ""
        width = _width(text)
        block, strings = self._pending.get(width) or self._open(width)
        self._block.append(block)
        self._start.append(self._ends[width])
        self._length.append(len(text))
        strings.append(text)
        self._ends[width] += len(text)
        if len(strings) == self._BLOCK:
            self._seal(width)

    def _open(self, width: int) -> tuple[int, list[str]]:
        self._pending[width] = (len(self._blocks), [])
        self._blocks.append("")
        self._ends[width] = 0
        return self._pending[width]

    def _seal(self, width: int) -> None:
        block, strings = self._pending.pop(width)
        self._blocks[block] = "".join(strings)

    def finish(self) -> SharedStrings:
        """Seal the last blocks; call once every string is appended."""
        for width in list(self._pending):
            self._seal(width)
        return self

    def __len__(self) -> int:
        return len(self._block)

    def __getitem__(self, index: int) -> str | None:
        """The string at ``index`` (0 <= index < len(self)), None if it is over the limit."""
        if index in self._over:
            return None
        start = self._start[index]
        return self._blocks[self._block[index]][start : start + self._length[index]]


def _width(text: str) -> int:
    """The bytes a character CPython stores ``text`` with (1, 2 or 4)."""
    if text.isascii():
        return 1
    widest = max(text)
    return 1 if widest <= "\xff" else 2 if widest <= "\uffff" else 4


class _RefusedError(Exception):
    """Raised inside expat handlers to stop parsing; turned into an ImportFileError."""

    def __init__(self, message: str, hint: str, *, row: int | None = None, column: str = ""):
        super().__init__(message)
        self.message, self.hint, self.row, self.column = message, hint, row, column


# What a damaged package raises while its parts are opened and unpacked.
_BROKEN = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    EOFError,
    KeyError,
    ValueError,
    OSError,
    NotImplementedError,  # a compression method zipfile does not know
    RuntimeError,  # an encrypted part
    expat.ExpatError,
    LookupError,  # an XML declaration naming an unknown encoding
)
_RESAVE = "open it in Excel or LibreOffice and save it again as .xlsx, or as CSV"
_TOTAL = "the workbook's parts unpack to too much data in total"
_BOMB = "this is not a normal spreadsheet; open it in Excel and save it again, or export CSV"


def _no_dtd(*_: object) -> NoReturn:
    raise _RefusedError("a workbook part declares a DTD: not plain spreadsheet XML", _RESAVE)


def _parser() -> expat.XMLParserType:
    """An expat parser with namespaces as ``uri}name`` that refuses any DTD."""
    parser = expat.ParserCreate(namespace_separator="}")
    parser.StartDoctypeDeclHandler = _no_dtd
    parser.EntityDeclHandler = _no_dtd
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.buffer_text = True
    parser.buffer_size = _CHUNK
    return parser


_METHODS = {zipfile.ZIP_BZIP2: "bzip2", zipfile.ZIP_LZMA: "LZMA"}


class _Unpacked:
    """A part being unpacked, counting the bytes it really gives against the limits
    (a part's own and, the first time it is read, the workbook's total)."""

    def __init__(self, table: XlsxTable, name: str, packed: int, stream: IO[bytes]) -> None:
        self._table, self._name, self._packed, self._stream = table, name, packed, stream
        self._size = 0

    def read(self, n: int = -1) -> bytes:
        data = self._stream.read(n)
        self._size += len(data)
        self._table._unpacked(self._name, self._size, self._packed)
        return data

    def __enter__(self) -> _Unpacked:
        return self

    def __exit__(self, *_: object) -> None:
        self._stream.close()


class XlsxTable:
    """One worksheet of an XLSX workbook, opened for streaming."""

    def __init__(self, source: SourceFile, *, sheet: str | None, max_bytes: int) -> None:
        self.source = source
        self._limit = self._budget = self._real_budget = max_bytes * _INFLATION
        self._opened: set[str] = set()
        self._real: dict[str, int] = {}  # bytes really unpacked from each part so far
        try:
            self._zip = zipfile.ZipFile(source.handle)
            self._open_workbook(sheet)
        except _RefusedError as exc:
            raise self._error(exc) from None
        except _BROKEN as exc:
            if isinstance(exc, ImportFileError):
                raise
            raise ImportFileError(
                f"this is not a readable XLSX workbook ({exc})", path=source.name, hint=_RESAVE
            ) from None

    def _error(self, exc: _RefusedError) -> ImportFileError:
        return ImportFileError(
            exc.message,
            path=self.source.name,
            row=exc.row,
            column=exc.column or None,
            hint=exc.hint,
        )

    # -- the package --------------------------------------------------------------------

    def _part(self, name: str) -> _Unpacked:
        """A part of the package, refused if it is a zip bomb.

        Only stored and deflated parts are read: zipfile unpacks a whole read of a
        bzip2 or LZMA part in one call, before any limit could apply. The declared size
        is checked first (a bomb is refused unread), then what is really unpacked is
        counted against the same limits as it is read.
        """
        info = self._zip.getinfo(name)
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            method = _METHODS.get(info.compress_type, f"method {info.compress_type}")
            raise _RefusedError(
                f"the workbook part {name} is compressed with {method}, "
                "which Excel and LibreOffice never write (they use deflate)",
                _RESAVE,
            )
        self._check(name, info.file_size, info.compress_size)
        if name not in self._opened:  # a part read twice (the header, then the rows) counts once
            self._opened.add(name)
            self._budget -= info.file_size
            if self._budget < 0:
                raise _RefusedError(_TOTAL, _BOMB)
        return _Unpacked(self, name, info.compress_size, self._zip.open(info))

    def _check(self, name: str, size: int, packed: int) -> None:
        """Refuse a part unpacking to ``size`` bytes from ``packed`` if it is a bomb."""
        if size > self._limit or (size > _RATIO_FLOOR and size > _RATIO * max(packed, 1)):
            raise _RefusedError(
                f"the workbook part {name} unpacks to {size:,} bytes from {packed:,}", _BOMB
            )

    def _unpacked(self, name: str, size: int, packed: int) -> None:
        """Count ``size`` bytes really unpacked so far from the part ``name``."""
        self._check(name, size, packed)
        grown = size - self._real.get(name, 0)
        if grown > 0:  # a part read twice counts once, as far as it was read
            self._real[name] = size
            self._real_budget -= grown
            if self._real_budget < 0:
                raise _RefusedError(_TOTAL, _BOMB)

    def _parse(self, name: str, start: Callable[[str, dict[str, str]], None]) -> None:
        """Run a small part through expat with ``start`` called on each element."""
        parser = _parser()
        parser.StartElementHandler = start
        with self._part(name) as part:
            parser.ParseFile(part)

    def _open_workbook(self, wanted: str | None) -> None:
        names = set(self._zip.namelist())
        if "xl/workbook.xml" not in names:
            raise KeyError("no xl/workbook.xml")
        found: dict[str, str] = {}
        sheets: list[tuple[str, str]] = []

        def workbook(tag: str, attrs: dict[str, str]) -> None:
            if "ns" not in found:
                found["ns"] = tag.rpartition("}")[0]
                if found["ns"] not in _MAIN:
                    raise ValueError(f"unknown workbook namespace {found['ns']}")
                found["rel"] = _REL[_MAIN.index(found["ns"])]
            local = tag.rpartition("}")[2]
            if local == "workbookPr":
                found["1904"] = attrs.get("date1904", "")
            elif local == "sheet":
                sheets.append((attrs.get("name", ""), attrs.get(found["rel"] + "}id", "")))

        self._parse("xl/workbook.xml", workbook)
        self._ns = found["ns"] + "}"
        self._date1904 = found.get("1904") in ("1", "true")
        self.sheet_names = tuple(name for name, _ in sheets)
        if not sheets:
            raise ValueError("the workbook has no sheet")
        if wanted is None:
            chosen = sheets[0]
        else:
            match = [s for s in sheets if s[0] == wanted] or [
                s for s in sheets if s[0].casefold() == wanted.strip().casefold()
            ]
            if not match:
                raise ImportFileError(
                    f"the workbook has no sheet named {wanted!r}",
                    path=self.source.name,
                    hint="its sheets are: " + ", ".join(repr(n) for n in self.sheet_names),
                )
            chosen = match[0]
        self.sheet = chosen[0]
        targets: dict[str, str] = {}

        def rels(tag: str, attrs: dict[str, str]) -> None:
            if tag == _PKG_REL:
                targets[attrs.get("Id", "")] = attrs.get("Target", "")

        self._parse("xl/_rels/workbook.xml.rels", rels)
        target = targets[chosen[1]]
        self._sheet_part = (
            target.lstrip("/") if target.startswith("/") else normpath(join("xl", target))
        )
        self._styles = self._number_kinds(names)
        self._shared = self._shared_strings(names)

    def _number_kinds(self, names: set[str]) -> list[FormatKind | None]:
        """For each cell style (``s=``), what its number format shows."""
        if "xl/styles.xml" not in names:
            return []
        ns = self._ns
        custom: dict[int, str] = {}
        ids: list[int] = []
        inside = [False]
        formats = [False]  # inside <numFmts> (not the <numFmt> of a <dxf>, say)

        def start(tag: str, attrs: dict[str, str]) -> None:
            if tag == ns + "numFmt" and formats[0]:
                custom[int(attrs.get("numFmtId", "-1"))] = attrs.get("formatCode", "")
            elif tag == ns + "numFmts":
                formats[0] = True
            elif tag == ns + "cellXfs":
                inside[0] = True
            elif tag == ns + "cellStyleXfs":
                inside[0] = False
            elif tag == ns + "xf" and inside[0]:
                ids.append(int(attrs.get("numFmtId", "0")))

        parser = _parser()
        parser.StartElementHandler = start

        def end(tag: str) -> None:
            if tag == ns + "cellXfs":
                inside[0] = False
            elif tag == ns + "numFmts":
                formats[0] = False

        parser.EndElementHandler = end
        with self._part("xl/styles.xml") as part:
            parser.ParseFile(part)
        return [format_kind(custom[i]) if i in custom else _BUILTIN.get(i) for i in ids]

    def _shared_strings(self, names: set[str]) -> SharedStrings:
        """The shared-string table; a string over the cell limit is kept as None (the
        cell that uses it is refused, with its row and column)."""
        part = "xl/sharedStrings.xml"
        strings = SharedStrings()
        if part not in names:
            return strings
        ns = self._ns
        si, t, rph = ns + "si", ns + "t", ns + "rPh"
        buf: list[str] = []
        state = [False, 0, 0]  # collecting, characters so far, depth inside <rPh>

        def start(tag: str, attrs: dict[str, str]) -> None:
            if tag == t and not state[2]:
                state[0] = True
            elif tag == rph:
                state[2] += 1
            elif tag == si:
                buf.clear()
                state[1] = 0

        def end(tag: str) -> None:
            if tag == t:
                state[0] = False
            elif tag == rph:
                state[2] -= 1
            elif tag == si:
                strings.append(None if state[1] > MAX_XLSX_CELL_CHARS else _unescape("".join(buf)))

        def chars(data: str) -> None:
            if state[0]:
                state[1] += len(data)
                if state[1] <= MAX_XLSX_CELL_CHARS:
                    buf.append(data)

        parser = _parser()
        parser.StartElementHandler = start
        parser.EndElementHandler = end
        parser.CharacterDataHandler = chars
        with self._part(part) as handle:
            parser.ParseFile(handle)
        return strings.finish()

    # -- the sheet ----------------------------------------------------------------------

    def rows(self) -> Generator[tuple[int, list[Cell]], None, None]:
        """Each row that has a value, with its row number, in sheet order."""
        ns = self._ns
        row_tag, c_tag, v_tag, t_tag, rph_tag = ns + "row", ns + "c", ns + "v", ns + "t", ns + "rPh"
        shared, styles, date1904 = self._shared, self._styles, self._date1904
        ready: list[tuple[int, list[Cell]]] = []
        buf: list[str] = []
        # The row being read, its number, the cell being read and its reference, type,
        # style, whether its text is being collected and how long it is so far.
        cells: list[Cell] = []
        padding = _PADDING
        kinds = {str(i): k for i, k in enumerate(styles) if k is not None}
        number = 0
        in_row = False
        ref = kind = style = ""
        col = -1
        collecting = False
        length = 0
        rph = 0

        def refuse(message: str, hint: str) -> NoReturn:
            raise _RefusedError(message, hint, row=number, column=_letters(ref))

        columns: dict[str, int] = {}

        def column(ref: str) -> int:
            m = _REF.fullmatch(ref)
            if m is None:
                refuse(f"the cell reference {ref[:20]!r} is not a cell", _RESAVE)
            at = _column_index(m.group(1))
            if at >= _MAX_COLUMN:
                refuse(f"the cell {ref} is past column XFD, Excel's last", _RESAVE)
            return at

        def start(tag: str, attrs: dict[str, str]) -> None:
            nonlocal number, in_row, ref, kind, style, col, collecting, length, rph, padding
            if tag == c_tag:
                ref = attrs.get("r", "")
                kind = attrs.get("t", "n")
                style = attrs.get("s", "")
                buf.clear()
                length = 0
                col = -1
                if not ref and len(cells) >= _MAX_COLUMN:
                    refuse(
                        "the row has a cell past column XFD, Excel's last",
                        "this is not a normal spreadsheet; open it in Excel and save it "
                        "again, or export CSV",
                    )
                if ref:
                    letters = ref.rstrip("0123456789")
                    col = columns.get(letters, -1)
                    if col < 0:
                        col = column(ref)
                        columns[letters] = col
                    if col > len(cells):
                        padding -= col - len(cells)
                        if padding < 0:
                            refuse(
                                "the sheet's cells are spread over too many empty columns",
                                "this is not a normal spreadsheet; delete the empty columns, "
                                "or export CSV",
                            )
                        cells.extend([None] * (col - len(cells)))
            elif tag == v_tag or (tag == t_tag and not rph):
                collecting = True
            elif tag == row_tag:
                r = attrs.get("r")
                if r:
                    if not r.isdigit() or len(r) > 8:
                        ref = ""
                        number += 1
                        refuse(f"the row number {r[:20]!r} is not a row Excel has", _RESAVE)
                    number = int(r)
                else:
                    number += 1
                if number > _MAX_ROW:
                    ref = ""
                    refuse(
                        f"row {number:,} is past row {_MAX_ROW:,}, Excel's last",
                        "this is not a normal spreadsheet; split the list, or export CSV",
                    )
                cells.clear()
                in_row = True
            elif tag == rph_tag:
                rph += 1

        def chars(data: str) -> None:
            nonlocal length
            if collecting:
                length += len(data)
                if length > MAX_XLSX_CELL_CHARS:
                    refuse(
                        f"the cell holds more than {MAX_XLSX_CELL_CHARS:,} characters "
                        "(Excel's own limit)",
                        "this is not a normal spreadsheet; check that cell, or export CSV",
                    )
                buf.append(data)

        def end(tag: str) -> None:
            nonlocal collecting, in_row, rph, cells
            if tag == c_tag:
                text = "".join(buf) if buf else None
                value: Cell = None
                if text is not None:
                    if kind in ("n", ""):
                        value = number_cell(text)
                    elif kind == "s":
                        value = shared_cell(text)
                    elif kind == "inlineStr":
                        value = _unescape(text)
                    elif kind == "b":
                        value = text.strip() in ("1", "true")
                    elif kind == "d":
                        try:
                            value = _iso_cell(text)
                        except ValueError:
                            refuse(f"{text[:40]!r} is not an ISO date or time", _RESAVE)
                    else:  # "str" (a formula's text), "e" (an error such as #N/A)
                        value = _unescape(text)
                collecting = False
                if 0 <= col < len(cells):
                    cells[col] = value  # a cell given twice: the last one counts
                else:
                    cells.append(value)
            elif tag in (v_tag, t_tag):
                collecting = False
            elif tag == row_tag:
                in_row = False
                if not blank(cells):
                    ready.append((number, cells))
                cells = []
            elif tag == rph_tag:
                rph -= 1

        def number_cell(text: str) -> Cell:
            try:
                value = float(text)
            except ValueError:
                refuse(f"{text[:40]!r} is not a number", _RESAVE)
            fmt = kinds.get(style)
            if fmt is not None:
                try:
                    return from_serial(value, fmt, date1904=date1904)
                except ValueError as exc:
                    refuse(
                        f"the cell is formatted as a date, but {exc}",
                        "type the date again in Excel, or "
                        "clear the cell's date format if it is not a date",
                    )
            if not math.isfinite(value):
                refuse(f"{text[:40]!r} is not a number Excel holds", _RESAVE)
            if value.is_integer() and abs(value) < 2**53:
                return int(value)
            return value

        def shared_cell(text: str) -> Cell:
            index = text.strip()
            ok = index.isascii() and index.isdigit() and len(index) < 12
            if not ok or int(index) >= len(shared):  # not "-1", "1.0" or past the table
                refuse(f"the cell points to shared text #{text[:20]} that is not there", _RESAVE)
            value = shared[int(index)]
            if value is None:
                refuse(
                    f"the cell holds more than {MAX_XLSX_CELL_CHARS:,} characters "
                    "(Excel's own limit)",
                    "this is not a normal spreadsheet; check that cell, or export CSV",
                )
            return value

        parser = _parser()
        parser.StartElementHandler = start
        parser.EndElementHandler = end
        parser.CharacterDataHandler = chars
        failure: Exception | None = None
        try:
            with self._part(self._sheet_part) as handle:
                while failure is None:
                    chunk = handle.read(_FEED)
                    try:  # the rows read before a failure are still handed out
                        parser.Parse(chunk, not chunk)
                    except (_RefusedError, *_BROKEN) as exc:
                        failure = exc
                    if ready:
                        yield from ready
                        ready.clear()
                    if not chunk:
                        break
        except (_RefusedError, *_BROKEN) as exc:  # the part itself refused, or broken
            failure = exc
        if isinstance(failure, _RefusedError):
            raise self._error(failure)
        if failure is not None:
            raise ImportFileError(
                f"the sheet cannot be read ({type(failure).__name__}: {failure})",
                path=self.source.name,
                row=number if in_row else number + 1,
                hint=_RESAVE,
            )


def _column_index(letters: str) -> int:
    index = 0
    for ch in letters:
        index = index * 26 + ord(ch) - 64
    return index - 1


def _letters(ref: str) -> str:
    m = _LETTERS.match(ref)
    return m.group(0)[:10] if m else ""
