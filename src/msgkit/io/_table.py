"""One interface over CSV and XLSX: the header, the data rows, a fast count."""

from __future__ import annotations

from collections.abc import Generator, Sequence

from msgkit.exceptions import ImportFileError
from msgkit.io._csv import CsvTable
from msgkit.io._source import (
    MAX_BYTES,
    Format,
    Source,
    SourceFile,
    closed_on_error,
    open_source,
)
from msgkit.io._values import column_letter
from msgkit.io._xlsx import Cell, XlsxTable

__all__ = ["MAX_COLUMNS", "Table", "column_letter", "open_table"]


#: The most columns a file may have: Excel's own limit (column XFD).
MAX_COLUMNS = 16_384


def _names(
    header: Sequence[Cell], path: str | None = None, row: int | None = None
) -> tuple[str, ...]:
    """Column names: the header's text, stripped; blanks named by letter; repeats numbered.

    Linear in the number of columns: each name remembers the next number to try, so a
    header repeating one name many times does not search the taken numbers again.

    Raises:
        ImportFileError: When the header has more than `MAX_COLUMNS` columns.
    """
    if len(header) > MAX_COLUMNS:
        raise ImportFileError(
            f"the header has {len(header):,} columns; at most {MAX_COLUMNS:,} are read",
            path=path,
            row=row,
            hint="check the delimiter (pass delimiter=...), or remove the empty columns",
        )
    names: list[str] = []
    seen: set[str] = set()
    next_number: dict[str, int] = {}
    for i, cell in enumerate(header):
        name = "" if cell is None else str(cell).strip()
        name = name or f"column {column_letter(i)}"
        unique, n = name, next_number.get(name, 1)
        if n > 1 or unique in seen:
            n = max(n, 2)
            unique = f"{name} ({n})"
            while unique in seen:
                n += 1
                unique = f"{name} ({n})"
            next_number[name] = n + 1
        seen.add(unique)
        names.append(unique)
    return tuple(names)


class Table:
    """A recipient file opened for reading, with its header known."""

    def __init__(
        self,
        source: SourceFile,
        *,
        format: Format | None,
        encoding: str | None,
        delimiter: str | None,
        sheet: str | None,
        max_bytes: int,
    ) -> None:
        self.source = source
        self.format: Format = source.detect_format(format)
        self.encoding: str | None = None
        self.delimiter: str | None = None
        self.sheet: str | None = None
        self._csv: CsvTable | None = None
        self._xlsx: XlsxTable | None = None
        if self.format == "csv":
            if sheet is not None:
                raise ImportFileError(
                    "sheet=... was given, but the file is CSV",
                    path=source.name,
                    hint="leave sheet out for CSV files",
                )
            self._csv = CsvTable(source, encoding=encoding, delimiter=delimiter)
            self.encoding = self._csv.encoding
            self.delimiter = self._csv.delimiter
        else:
            self._xlsx = XlsxTable(source, sheet=sheet, max_bytes=max_bytes)
            self.sheet = self._xlsx.sheet
        records = self._records()
        first = next(records, None)
        records.close()
        if first is None:
            raise ImportFileError(
                "the file has no header row (it is empty)",
                path=source.name,
                hint="the first row must name the columns, e.g. name,phone",
            )
        self.header_row, header = first
        self.header: tuple[Cell, ...] = tuple(header)
        self.columns = _names(header, source.name, self.header_row)

    def _records(self) -> Generator[tuple[int, Sequence[Cell]], None, None]:
        if self._csv is not None:
            return self._csv.records()
        assert self._xlsx is not None
        return self._xlsx.rows()

    def rows(self) -> Generator[tuple[int, Sequence[Cell]], None, None]:
        """Each non-blank data row (the header skipped), with its row number."""
        records = self._records()
        next(records, None)
        return records

    def head_and_count(self, n: int) -> tuple[list[tuple[int, Sequence[Cell]]], int]:
        """The first ``n`` data rows, and the exact number of data rows."""
        if self._csv is not None:
            first, total = self._csv.count(n + 1)
            return list(first[1:]), max(total - 1, 0)
        head: list[tuple[int, Sequence[Cell]]] = []
        total = 0
        rows = self.rows()
        try:
            for record in rows:
                total += 1
                if len(head) < n:
                    head.append(record)
        finally:
            rows.close()
        return head, total

    def close(self) -> None:
        """Release the file."""
        self.source.close()


def open_table(
    source: Source,
    *,
    format: Format | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
    sheet: str | None = None,
    max_bytes: int = MAX_BYTES,
) -> Table:
    """Open a recipient file: size limit, format, encoding, delimiter, header."""
    opened = open_source(source, max_bytes=max_bytes)
    with closed_on_error(opened):
        return Table(
            opened,
            format=format,
            encoding=encoding,
            delimiter=delimiter,
            sheet=sheet,
            max_bytes=max_bytes,
        )
