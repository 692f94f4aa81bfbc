"""A quick look at a recipient file: its columns, first rows and exact row count."""

from __future__ import annotations

import unicodedata

import attrs

from msgkit.io._source import MAX_BYTES, Format, Source
from msgkit.io._table import open_table
from msgkit.io._values import text_of

__all__ = ["Preview", "preview"]

_SHOWN_ROWS = 2
_CELL = 32


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _fit(text: str, width: int) -> str:
    text = " ".join(text.split())
    if _width(text) > width:
        while _width(text) > width - 1:
            text = text[:-1]
        text += "…"
    return text + " " * (width - _width(text))


@attrs.frozen(kw_only=True)
class Preview:
    """What a recipient file holds.

    Printing it shows the columns down the side and the first rows across.

    Attributes:
        name: The file's path, when it has one.
        format: ``"csv"`` or ``"xlsx"``.
        encoding: The CSV encoding found or given (None for XLSX).
        delimiter: The CSV delimiter found or given (None for XLSX).
        sheet: The worksheet read (None for CSV).
        header: The header row as written.
        columns: The column names a mapping refers to (blank headers are named by
            their letter, ``"column C"``; a repeated name gets `` (2)``).
        rows: The first two data rows as text, each with one cell per column.
        row_numbers: The file row numbers of those rows (the header is row 1).
        row_count: The exact number of data rows (blank rows do not count).
    """

    name: str | None
    format: Format
    encoding: str | None
    delimiter: str | None
    sheet: str | None
    header: tuple[str, ...]
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...] = attrs.field(repr=False)
    row_numbers: tuple[int, ...] = attrs.field(repr=False)
    row_count: int

    def __str__(self) -> str:
        if self.format == "csv":
            how = f"CSV, {self.encoding}, delimiter {self.delimiter!r}"
        else:
            how = f"XLSX, sheet {self.sheet!r}"
        lines = [f"{self.name or '(file)'}  {how}  {self.row_count:,} rows"]
        table = [["column", *(f"row {n}" for n in self.row_numbers)]]
        table += [[c, *(row[i] for row in self.rows)] for i, c in enumerate(self.columns)]
        widths = [
            min(max(_width(" ".join(line[j].split())) for line in table), _CELL)
            for j in range(len(table[0]))
        ]
        for line in table:
            lines.append("  ".join(_fit(cell, w) for cell, w in zip(line, widths, strict=True)))
        return "\n".join(line.rstrip() for line in lines)


def preview(
    source: Source,
    *,
    format: Format | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
    sheet: str | None = None,
    max_bytes: int = MAX_BYTES,
) -> Preview:
    """Read a recipient file's header, first two data rows and exact data-row count.

    The whole file is read (so a wrong encoding anywhere is found now, not halfway
    through an import), but without parsing rows that need no parsing: a million-row
    CSV takes a fraction of a second.

    Args:
        source: A path, the file's bytes, or a binary file object (an upload).
        format: ``"csv"`` or ``"xlsx"``; found from the file's first bytes if omitted.
        encoding: The CSV encoding; detected if omitted (refused if unclear).
        delimiter: The CSV delimiter; found from the first rows if omitted.
        sheet: The XLSX worksheet; the first one if omitted.
        max_bytes: The size limit of the file.

    Raises:
        ImportFileError: When the file cannot be read; the hint says what to do.

    Example:
        >>> p = preview(b"name,phone\\nAmy,0912345678\\nBob,0922333444\\n\\n")
        >>> p.columns, p.row_count
        (('name', 'phone'), 2)
    """
    table = open_table(
        source,
        format=format,
        encoding=encoding,
        delimiter=delimiter,
        sheet=sheet,
        max_bytes=max_bytes,
    )
    try:
        head, count = table.head_and_count(_SHOWN_ROWS)
    finally:
        table.close()
    width = len(table.columns)
    rows = tuple(
        tuple(text_of(c) for c in (list(cells) + [None] * width)[:width]) for _, cells in head
    )
    return Preview(
        name=table.source.name,
        format=table.format,
        encoding=table.encoding,
        delimiter=table.delimiter,
        sheet=table.sheet,
        header=tuple(text_of(c) for c in table.header),
        columns=table.columns,
        rows=rows,
        row_numbers=tuple(n for n, _ in head),
        row_count=count,
    )
