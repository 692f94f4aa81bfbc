"""Reading a CSV file as a stream of records, and counting its records fast.

A record is what a spreadsheet shows as one row: a quoted field may hold line breaks.
Row numbers count every record of the file, blank ones included, so they match what
the user sees when opening the file (the header is normally row 1). Records whose cells
are all blank are not data: they are skipped and not counted.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import re
from collections import deque
from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    import _csv

from msgkit.exceptions import ImportFileError
from msgkit.io._encoding import decoding_near, detect_encoding
from msgkit.io._source import SourceFile
from msgkit.io._values import column_letter

__all__ = ["DELIMITERS", "MAX_LINE_BREAKS", "MAX_QUOTED_CHARS", "CsvTable"]

DELIMITERS = (",", ";", "\t")
_CHUNK = 1 << 20
_SNIFF = 1 << 16
_SNIFF_RECORDS = 50
_QUOTES_PER_LINE = 4
# A quoted run holding something other than spaces (blank ones are left alone).
_QUOTED_FIELD = re.compile(r'"[^"]*[^\s"][^"]*"')
_SEP_LINE = re.compile(r"sep=(.)\r?\n?")

#: The most line breaks a quoted cell may hold: a last resort only (Excel's cells hold 253,
#: but CRM exports and Google Sheets write more); a quote left open is found by what the
#: cell's lines hold (`_swallowed`).
MAX_LINE_BREAKS = 10_000
#: The longest quoted cell that spans lines: what a spreadsheet cell can hold (32,767).
#: A cell on one line is left to the import's ``max_cell_chars``.
MAX_QUOTED_CHARS = 32_767
# A cell that is a phone number: 7 to 15 digits, maybe after a + and with separators.
_PHONE_LIKE = re.compile(r"\+?\(?\d(?:[\d\s().-]*\d){6,}")
_PHONE_DIGITS = range(7, 16)
# A line read after the file's last: it closes a quote left open to the end (so the
# cell it was in ends with _END), or else is a record of its own (_END_CELL), dropped.
_END = "\uffff\ufffe"
_END_CELL = _END + '"'
_END_LINE = _END_CELL + "\n"


def _line_breaks(cell: str) -> int:
    return cell.count("\n") + cell.count("\r") - cell.count("\r\n")


def _phone_like(part: str) -> bool:
    part = part.strip().strip('"').strip()
    return _PHONE_LIKE.fullmatch(part) is not None and sum(map(str.isdigit, part)) in _PHONE_DIGITS


def _swallowed(cell: str, delimiter: str, width: int) -> int:
    """How many lines of a multi-line cell look like rows of the file: as many cells as
    the header (at least two) when split on the delimiter, one of them a phone number."""
    return sum(
        1
        for line in cell.splitlines()[1:]  # the first is the rest of the row that opened it
        if line.count(delimiter) >= max(width, 2) - 1
        and any(map(_phone_like, line.split(delimiter)))
    )


def _blank(cells: list[str]) -> bool:
    return not any(map(str.strip, cells))


class CsvTable:
    """A CSV file opened for reading: its encoding, delimiter and records."""

    def __init__(
        self, source: SourceFile, *, encoding: str | None = None, delimiter: str | None = None
    ) -> None:
        if delimiter is not None and (len(delimiter) != 1 or delimiter in "\r\n\"'"):
            raise ImportFileError(
                f"delimiter={delimiter!r} cannot separate cells",
                path=source.name,
                hint="use ',', ';' or a tab",
            )
        self.source = source
        self.encoding = detect_encoding(source, encoding)
        self._skip = 0  # characters of an Excel "sep=;" line, which is not a row
        self.delimiter = delimiter or ","  # until sniffed
        text = self._text()
        try:
            start = self._read(text, _SNIFF)
            start += self._readline(text)
        finally:
            text.detach()
        sep = _SEP_LINE.match(start)
        if sep is not None and sep.end() == start.find("\n") + 1:
            self._skip = sep.end()
            delimiter = delimiter or sep.group(1)
            start = start[sep.end() :]
        self.delimiter = delimiter or self._sniff(start)
        blank = rf"(?:[^\S\n]|{re.escape(self.delimiter)})*"
        # A newline followed by a blank line (or by the end of the text).
        self._blank_after_newline = re.compile(rf"\n(?={blank}(?:\n|\Z))")
        self._blank_line = re.compile(rf"{blank}\Z")
        d = re.escape(self.delimiter)
        # Quoted fields (marked by NULs) that fill a whole field.
        # (It starts with the NUL itself, so the regex engine can skip to each one.)
        self._whole_fields = re.compile(rf"\x00(?<![^\n{d}]\x00)\x00*(?![^\r\n{d}])")

    # -- text access -------------------------------------------------------------------

    def _text(self) -> io.TextIOWrapper:
        handle = self.source.handle
        handle.seek(0)
        text = io.TextIOWrapper(
            handle,
            encoding=self.encoding,
            errors="strict",
            newline="",
        )
        if self._skip:
            text.read(self._skip)
        return text

    def _decode_error(self) -> ImportFileError:
        """The error for text that does not decode, with the row it is on.

        The decoder reads ahead of the parser, so the row is found again from the
        bytes: the records before the first byte that does not decode. The file is
        decoded a chunk at a time and the encodings that would work are judged on a
        bounded part of it (`decoding_near`): memory stays bounded whatever its size.
        """
        handle = self.source.handle
        handle.seek(0)
        decoder = codecs.getincrementaldecoder(self.encoding)("strict")
        bad: list[int] = []  # the offset of the first byte that does not decode

        def texts() -> Iterator[str]:
            offset, skip = 0, self._skip
            while True:
                chunk = handle.read(_CHUNK)
                state = decoder.getstate()
                try:
                    text = decoder.decode(chunk, final=not chunk)
                except UnicodeDecodeError as exc:
                    at = exc.start - len(state[0])  # where in the chunk
                    bad.append(offset + at)
                    before = codecs.getincrementaldecoder(self.encoding)("replace")
                    before.setstate(state)
                    text, chunk = before.decode(chunk[: max(at, 0)]), b""
                if skip:
                    text, skip = text[skip:], max(skip - len(text), 0)
                yield text if chunk else text + "x"
                if not chunk:
                    return
                offset += len(chunk)

        def lines() -> Iterator[str]:
            carry = ""
            for text in texts():
                split = io.StringIO(carry + text, newline="").readlines()
                carry = split.pop() if split and not split[-1].endswith("\n") else ""
                yield from split
            if carry:
                yield carry

        try:
            row: int | None = sum(
                1 for _ in csv.reader(lines(), delimiter=self.delimiter, strict=False)
            )
        except csv.Error:
            row = None
        if bad:
            handle.seek(bad[0])
            shown = f" (byte 0x{handle.read(1)[0]:02x} at offset {bad[0]:,})"
            works = [c for c in decoding_near(self.source, bad[0]) if c != self.encoding]
        else:
            shown, works = "", []
        handle.seek(0)
        hint = (
            "the file is in another encoding: pass "
            + " or ".join(f"encoding={c!r}" for c in works[:3])
            + ", or save it as CSV UTF-8"
            if works
            else "the file mixes encodings (or is in one msgkit does not try): save it as "
            "CSV UTF-8, or pass encoding='...' with the codec it was written in"
        )
        return ImportFileError(
            f"the text is not valid {self.encoding}{shown}",
            path=self.source.name,
            row=row,
            hint=hint,
        )

    def _csv_error(self, exc: csv.Error, after_row: int) -> ImportFileError:
        if "field larger than field limit" in str(exc):
            return ImportFileError(
                f"a cell is longer than {csv.field_size_limit():,} characters: a quote opened "
                "on this row is probably not closed, and the rows after it were read as part "
                "of the cell",
                path=self.source.name,
                row=after_row + 1,
                hint='close the quote on this row (a cell that starts with " ends with "), or '
                "save the file again from a spreadsheet",
            )
        return ImportFileError(
            f"the row cannot be read as CSV: {exc}",
            path=self.source.name,
            row=after_row + 1,
            hint="check the quotes on this row, or save the file again from a spreadsheet",
        )

    def _read(self, text: TextIO, n: int) -> str:
        try:
            return text.read(n)
        except UnicodeDecodeError:
            raise self._decode_error() from None

    def _readline(self, text: TextIO) -> str:
        try:
            return text.readline()
        except UnicodeDecodeError:
            raise self._decode_error() from None

    def _sniff(self, start: str) -> str:
        """The delimiter that splits the first records into the same number of cells."""
        cut = start.rfind("\n")
        sample = start[: cut + 1] if cut >= 0 else start
        results: list[tuple[float, int, str]] = []
        for delimiter in DELIMITERS:
            reader = csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter)
            records: list[list[str]] = []
            try:
                for cells in reader:
                    if not _blank(cells):
                        records.append(cells)
                        if len(records) == _SNIFF_RECORDS:
                            break
            except csv.Error:
                continue
            if not records or len(records[0]) < 2:
                continue
            width = len(records[0])
            same = sum(1 for r in records if len(r) == width) / len(records)
            results.append((same, width, delimiter))
        if not results:
            return ","  # one column (or nothing to go by)
        results.sort(reverse=True)
        if len(results) > 1 and results[0][0] == results[1][0] == 1.0:
            raise ImportFileError(
                f"cannot tell the delimiter: both {results[0][2]!r} and {results[1][2]!r} "
                "split every row evenly",
                path=self.source.name,
                hint="pass delimiter=',' or ';' or '\\t'",
            )
        return results[0][2]

    # -- records -----------------------------------------------------------------------

    def _reader(self, lines: Iterator[str] | TextIO) -> _csv.Reader:
        return csv.reader(lines, delimiter=self.delimiter, strict=False)

    def _runaway(self, cells: list[str], row: int, width: int) -> None:
        """Refuse a record whose quoted cell runs on: to the end of the file, or over lines
        that look like rows of the file (`_swallowed`), or, as a last resort, over more
        lines or characters than a cell holds (called for records that span lines, so
        never on the common path). Only cells that span lines are looked at: a long cell
        on one line is left to the import's ``max_cell_chars``."""
        spanning = [i for i, cell in enumerate(cells) if _line_breaks(cell)]
        if cells[-1].endswith(_END):
            rest = cells[-1][: -len(_END)]
            where = len(cells) - 1
            lines = _line_breaks(rest) + (not rest.endswith(("\n", "\r")))
            problem = (
                "a quote opened on this row is never closed: the rest of the file "
                f"({lines:,} lines) was read as one cell"
            )
        elif rows := [(_swallowed(cells[i], self.delimiter, width), i) for i in spanning]:
            found, where = max(rows)
            breaks = _line_breaks(cells[where])
            if found:
                problem = (
                    f"a quoted cell opened on this row runs over {breaks + 1:,} lines, "
                    f"{found:,} of which look like rows of this file (a phone number, "
                    f"{max(width, 2)} or more cells): a quote is probably not closed, and "
                    "those rows were read as part of the cell"
                )
            else:
                where = max(spanning, key=lambda i: (_line_breaks(cells[i]), len(cells[i])))
                breaks = _line_breaks(cells[where])
                if breaks > MAX_LINE_BREAKS:
                    problem = (
                        f"a quoted cell opened on this row runs over {breaks + 1:,} lines "
                        f"(more than {MAX_LINE_BREAKS + 1:,}): a quote is probably not "
                        "closed, and the rows after it were read as part of the cell"
                    )
                else:
                    where = max(spanning, key=lambda i: len(cells[i]))
                    if len(cells[where]) <= MAX_QUOTED_CHARS:
                        return
                    problem = (
                        f"a quoted cell opened on this row runs over {len(cells[where]):,} "
                        f"characters and {_line_breaks(cells[where]) + 1:,} lines (a "
                        f"spreadsheet cell holds at most {MAX_QUOTED_CHARS:,} characters): a "
                        "quote is probably not closed"
                    )
        else:
            return
        raise ImportFileError(
            problem,
            path=self.source.name,
            row=row,
            column=column_letter(where),
            hint='close the quote in that cell (a cell that starts with " ends with "), or '
            "remove it, then import again",
        )

    def records(self) -> Generator[tuple[int, list[str]], None, None]:
        """Each non-blank record with its row number, the header first.

        Raises:
            ImportFileError: When a quoted cell runs away (see `_runaway`), naming the
                row where its quote opened; or the text does not decode.
        """
        text = self._text()
        row = 0
        lines = 0
        width = 0
        reader = self._reader(itertools.chain(text, (_END_LINE,)))
        try:
            for cells in reader:
                row += 1
                if reader.line_num - lines > 1:
                    self._runaway(cells, row, width)
                lines = reader.line_num
                if len(cells) == 1 and cells[0] == _END_CELL:
                    return
                if not _blank(cells):
                    width = width or len(cells)  # the header's
                    yield row, cells
        except csv.Error as exc:
            raise self._csv_error(exc, row) from None
        except UnicodeDecodeError:
            raise self._decode_error() from None
        finally:
            text.detach()

    def count(self, head: int) -> tuple[list[tuple[int, list[str]]], int]:
        """The first ``head`` non-blank records, and how many non-blank records there are.

        Exact, and the same as counting `records`: one csv reader walks the file, but
        each chunk of whole lines without a quote (which cannot hold a quoted line break)
        is counted with string operations instead of being parsed.
        """
        text = self._text()
        pending: deque[str] = deque()
        row = 0

        def lines() -> Iterator[str]:
            while True:
                if pending:
                    yield pending.popleft()
                    continue
                line = self._readline(text)
                if not line:
                    yield _END_LINE
                    return
                yield line

        reader = self._reader(lines())
        first: list[tuple[int, list[str]]] = []
        found = 0
        read = 0  # lines the reader has read, but for those counted without it
        try:
            try:
                for cells in reader:
                    row += 1
                    if reader.line_num - read > 1:
                        self._runaway(cells, row, len(first[0][1]) if first else 0)
                    read = reader.line_num
                    if len(cells) == 1 and cells[0] == _END_CELL:
                        row -= 1
                        break
                    if not _blank(cells):
                        found += 1
                        first.append((row, cells))
                        if found == head:
                            break
                if found < head:
                    return first, found
                while chunk := self._read(text, _CHUNK):
                    if not chunk.endswith("\n"):
                        chunk += self._readline(text)
                    quotes = chunk.count('"')
                    # Past a few quoted fields a line, parsing is the cheaper way.
                    if not quotes:
                        plain: str | None = chunk
                    elif quotes <= _QUOTES_PER_LINE * chunk.count("\n"):
                        plain = self._unquote(chunk)
                    else:
                        plain = None
                    if plain is None or plain.count("\r") != plain.count("\r\n"):
                        pending.extend(io.StringIO(chunk, newline=""))
                        for cells in reader:
                            row += 1
                            if reader.line_num - read > 1:
                                self._runaway(cells, row, len(first[0][1]) if first else 0)
                            read = reader.line_num
                            if len(cells) == 1 and cells[0] == _END_CELL:
                                row -= 1
                                break
                            found += not _blank(cells)
                            if not pending:
                                break
                        continue
                    records, blank = self._count_plain(plain)
                    row += records
                    found += records - blank
            except csv.Error as exc:
                raise self._csv_error(exc, row) from None
            return first, found
        finally:
            text.detach()

    def _unquote(self, chunk: str) -> str | None:
        """The chunk with each quoted field replaced by ``Q``, or None if unsure.

        Only where the csv reader would read the quotes the same way: every quoted
        field closed in the chunk, opening at the start of a field and closing at its
        end, and none blank (a record of blank quoted fields is a blank record).
        """
        if "\x00" in chunk:
            return None
        marked = _QUOTED_FIELD.sub("\x00", chunk)
        if '"' in marked:
            return None
        plain = self._whole_fields.sub("Q", marked)
        return None if "\x00" in plain else plain

    def _count_plain(self, chunk: str) -> tuple[int, int]:
        """Records and blank records in whole lines of text that hold no quote."""
        ends = chunk.count("\n")
        records = ends + (not chunk.endswith("\n"))
        first_end = chunk.find("\n")
        first_line = chunk if first_end < 0 else chunk[:first_end]
        blank = int(bool(self._blank_line.match(first_line)))
        blank += len(self._blank_after_newline.findall(chunk)) - chunk.endswith("\n")
        return records, blank
