"""Importing contacts from a recipient file, row by row, with every bad row reported.

`import_contacts` checks the file and the mapping at once, then streams: iterate the
returned `ContactImport` (or its `batches`) to get each accepted `Contact`; rows that
cannot be used are recorded as `Rejection` s — with their row number, column and reason
— and never stop the import. Nothing but one row at a time is held as Python objects:
duplicates are found with a compact table of the numbers seen (about 25 MB for a
million numbers), and rejections are spooled to a temporary file.
"""

from __future__ import annotations

import csv
import io
import re
import shutil
import tempfile
import weakref
import zoneinfo
from collections import Counter
from collections.abc import Generator, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from enum import Enum
from types import TracebackType
from typing import IO, Any, Literal, NamedTuple

import attrs

from msgkit.core.contacts import Contact, PhoneCipher, mask, parse_phone
from msgkit.exceptions import ConfigError, ImportFileError, InvalidPhoneError
from msgkit.io._dedupe import SeenNumbers
from msgkit.io._source import MAX_BYTES, Format, Source, closed_on_error
from msgkit.io._table import Table, open_table
from msgkit.io._values import (
    Converter,
    converter,
    spreadsheet_safe,
    text_of,
    to_utc,
    unescape_spreadsheet,
)

__all__ = [
    "MAX_CELL_CHARS",
    "BadValue",
    "BlankedCell",
    "ColumnMapping",
    "ContactImport",
    "ImportSummary",
    "RejectReason",
    "Rejection",
    "import_contacts",
]

#: A cell longer than this is refused: it is almost always a broken export (an unclosed
#: quote swallowing the rows after it, two columns run together).
MAX_CELL_CHARS = 1000

_VARIABLE = re.compile(r"[^\W\d]\w*")
_SPOOL = 1 << 20
#: The columns a rejections file starts with (`ContactImport.rejections_csv`): a file
#: whose header starts so is one msgkit wrote, its cells `spreadsheet_safe`.
_REJECTION_COLUMNS = ("row", "column", "reason", "detail", "phone_reason", "duplicate_of")

#: What to do with a cell of an optional column that cannot be used (a date that is not
#: a date, a number that is not a number, a cell over ``max_cell_chars``):
#: ``"reject_row"`` refuses the whole row; ``"blank_cell"`` keeps the contact without
#: that attribute and reports the cell (`ContactImport.blanked_cells`). The phone
#: column is never blanked: a row without a usable number is always rejected.
BadValue = Literal["reject_row", "blank_cell"]
_BAD_VALUES = ("reject_row", "blank_cell")


class RejectReason(str, Enum):
    """Why a row was not imported."""

    INVALID_PHONE = "invalid_phone"
    EMPTY_PHONE = "empty_phone"
    DUPLICATE = "duplicate"
    BAD_DATE = "bad_date"
    BAD_NUMBER = "bad_number"
    CELL_TOO_LONG = "cell_too_long"
    EXTRA_CELLS = "extra_cells"


@attrs.frozen(kw_only=True)
class Rejection:
    """A row that was not imported, and why.

    Attributes:
        row: The row number in the file (the header is row 1), as a spreadsheet shows it.
        column: The column at fault, when one is.
        reason: Why the row was refused.
        detail: A sentence for people, e.g. ``"duplicate of row 5"`` (numbers masked).
        phone_reason: For ``invalid_phone``, the `InvalidPhoneError.reason`
            (``too_short``, ``invalid_for_region``, ...).
        duplicate_of: For ``duplicate``, the row where the number first appears.
    """

    row: int
    column: str | None
    reason: RejectReason
    detail: str
    phone_reason: str | None = None
    duplicate_of: int | None = None


@attrs.frozen(kw_only=True)
class BlankedCell:
    """A cell left out of an imported contact (with ``on_bad_value="blank_cell"``).

    Attributes:
        row: The row number in the file (the header is row 1).
        column: The column of the cell.
        reason: Why the cell could not be used (``bad_date``, ``bad_number``,
            ``cell_too_long``).
        detail: A sentence for people, e.g. ``"'31/02/1990' is not a date like 2024-03-01"``.
    """

    row: int
    column: str
    reason: RejectReason
    detail: str


@attrs.frozen(kw_only=True)
class ImportSummary:
    """Where an import stands: rows read, accepted, rejected and why.

    Attributes:
        rows: Data rows read so far (blank rows are not rows).
        accepted: Rows that gave a contact.
        rejected: Rows refused.
        by_reason: Refused rows by `RejectReason` value.
        phone_reasons: ``invalid_phone`` rows by `InvalidPhoneError.reason`.
        complete: Whether the whole file has been read.
        blanked: Cells left empty in imported contacts (``on_bad_value="blank_cell"``).
        blanked_by_reason: Those cells by `RejectReason` value.
    """

    rows: int
    accepted: int
    rejected: int
    by_reason: Mapping[str, int]
    phone_reasons: Mapping[str, int]
    complete: bool
    blanked: int = 0
    blanked_by_reason: Mapping[str, int] = attrs.field(factory=dict)

    def __str__(self) -> str:
        state = "" if self.complete else " so far"
        lines = [
            f"{self.rows:,} rows{state}: {self.accepted:,} imported, {self.rejected:,} rejected"
        ]
        for reason, n in sorted(self.by_reason.items(), key=lambda kv: (-kv[1], kv[0])):
            lines.append(f"  {reason:<14} {n:>10,}")
            if reason == RejectReason.INVALID_PHONE.value:
                for why, m in sorted(self.phone_reasons.items(), key=lambda kv: (-kv[1], kv[0])):
                    lines.append(f"    {why:<20} {m:>6,}")
        if self.blanked:
            lines.append(f"{self.blanked:,} cells left empty in imported contacts")
            for reason, n in sorted(self.blanked_by_reason.items(), key=lambda kv: (-kv[1], kv[0])):
                lines.append(f"  {reason:<14} {n:>10,}")
        return "\n".join(lines)


def _mapping_of(value: Mapping[str, str]) -> dict[str, str]:
    return dict(value)


@attrs.frozen(kw_only=True)
class ColumnMapping:
    """Which column is what.

    Attributes:
        phone: The column holding the phone number (or its ciphertext).
        variables: Template variable name → the column it is read from, e.g.
            ``{"registration_date": "Registration Time"}``. A mapped column is stored
            under the variable's name only.
        key: The column holding a stable member id, used as `Contact.key`; by default
            the contact's key is its E.164 number.
        types: Column → type, for columns that are not text: ``"int"``, ``"float"``,
            ``"date"``, ``"datetime"``, ``"str"``, or ``"date:%d/%m/%Y"`` with an explicit
            format. A cell that does not convert rejects its row.

    Columns not mentioned are kept as contact attributes under their own names. Names
    are matched exactly, else ignoring case.
    """

    phone: str
    variables: Mapping[str, str] = attrs.field(factory=dict, converter=_mapping_of)
    key: str | None = None
    types: Mapping[str, str] = attrs.field(factory=dict, converter=_mapping_of)

    def __attrs_post_init__(self) -> None:
        bad = [name for name in self.variables if not _VARIABLE.fullmatch(name)]
        if bad:
            raise ConfigError(
                f"{bad[0]!r} cannot be a template variable name",
                key="variables",
                hint="use letters, digits and underscores, not starting with a digit",
            )


class _Spool:
    """CSV rows kept in a temporary file (in memory up to 1 MiB), read back as a stream.

    Every text cell is written `spreadsheet_safe`: the file is handed to people who open
    it in a spreadsheet, where a cell such as ``=cmd|' /C calc'!A0`` must stay text.
    """

    def __init__(self, header: Sequence[str]) -> None:
        self._file: Any = tempfile.SpooledTemporaryFile(  # noqa: SIM115 - closed by close()
            max_size=_SPOOL, mode="w+", encoding="utf-8", newline=""
        )
        self._writer = csv.writer(self._file)
        self.write(header)

    def write(self, cells: Iterable[object]) -> None:
        self._writer.writerow(spreadsheet_safe(c) if isinstance(c, str) else c for c in cells)

    def rows(self) -> Iterator[list[str]]:
        """The rows written so far (the header skipped), one at a time, unescaped."""
        self._file.seek(0)
        try:
            reader = csv.reader(self._file)
            next(reader)
            for row in reader:
                yield [unescape_spreadsheet(cell) for cell in row]
        finally:
            self._file.seek(0, io.SEEK_END)

    def text(self) -> str:
        """Everything written, as CSV text."""
        self._file.seek(0)
        text = str(self._file.read())
        self._file.seek(0, io.SEEK_END)
        return text

    def copy_to(self, target: IO[str]) -> None:
        """Write everything to ``target``, a chunk at a time."""
        self._file.seek(0)
        try:
            shutil.copyfileobj(self._file, target)
        finally:
            self._file.seek(0, io.SEEK_END)

    def close(self) -> None:
        self._file.close()


class _Field(NamedTuple):
    at: int
    column: str
    name: str
    convert: Converter | None
    reason: RejectReason


def _resolve(name: str, columns: Sequence[str], path: str | None, role: str) -> int:
    if name in columns:
        return columns.index(name)
    folded = [i for i, c in enumerate(columns) if c.casefold() == name.strip().casefold()]
    if len(folded) == 1:
        return folded[0]
    raise ImportFileError(
        f"there is no column {name!r} (mapped as {role})",
        path=path,
        column=name,
        hint="the columns are: " + ", ".join(repr(c) for c in columns),
    )


class ContactImport:
    """A running import: iterate it once for the accepted contacts.

    Use it as a context manager, or call `close`, if you stop before the end.

    Attributes:
        columns: The file's column names.
        format: ``"csv"`` or ``"xlsx"``.
        encoding: The CSV encoding used (None for XLSX).
        delimiter: The CSV delimiter used (None for XLSX).
        sheet: The worksheet read (None for CSV).
    """

    def __init__(
        self,
        table: Table,
        mapping: ColumnMapping,
        *,
        region: str | None,
        cipher: PhoneCipher | None,
        mobile_only: bool,
        time_zone: str,
        max_cell_chars: int,
        on_bad_value: BadValue = "reject_row",
    ) -> None:
        if on_bad_value not in _BAD_VALUES:
            raise ConfigError(
                f"on_bad_value={on_bad_value!r} is not a choice",
                key="on_bad_value",
                hint="use 'reject_row' (the default) or 'blank_cell'",
            )
        self._blank_bad = on_bad_value == "blank_cell"
        self._table = table
        self.columns = table.columns
        self.format = table.format
        self.encoding = table.encoding
        self.delimiter = table.delimiter
        self.sheet = table.sheet
        path = table.source.name
        try:
            zone = zoneinfo.ZoneInfo(time_zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ConfigError(
                f"unknown time zone {time_zone!r}",
                key="time_zone",
                hint="use an IANA name such as 'Asia/Taipei'",
            ) from None
        if region is not None:
            parse_phone("+886912345678", region)  # raises ConfigError for an unknown region
        self._phone = _resolve(mapping.phone, self.columns, path, "the phone")
        self._key = (
            None if mapping.key is None else _resolve(mapping.key, self.columns, path, "the key")
        )
        names: dict[int, list[str]] = {}
        for variable, column in mapping.variables.items():
            names.setdefault(_resolve(column, self.columns, path, f"${{{variable}}}"), []).append(
                variable
            )
        converters: dict[int, Converter] = {}
        for column, spec in mapping.types.items():
            at = _resolve(column, self.columns, path, "a typed column")
            converters[at] = converter(spec, column=self.columns[at], zone=zone)
        fields: list[_Field] = []
        taken = {v for vs in names.values() for v in vs}
        for i, column in enumerate(self.columns):
            if i in (self._phone, self._key):
                continue
            spec = mapping.types.get(column, "")
            reason = RejectReason.BAD_DATE if "date" in spec else RejectReason.BAD_NUMBER
            convert = converters.get(i)
            if i in names:
                fields.extend(_Field(i, column, v, convert, reason) for v in names[i])
            elif column in taken:
                raise ImportFileError(
                    f"the variable {column!r} would also be the name of the column {column!r}",
                    path=path,
                    column=column,
                    hint="map that column too, or give the variable another name",
                )
            else:
                fields.append(_Field(i, column, column, convert, reason))
        self._fields = tuple(fields)
        self._width = len(self.columns)
        self._phone_column = self.columns[self._phone]
        self._zone = zone
        self._region = region
        self._cipher = cipher
        self._mobile_only = mobile_only
        self._max_chars = max_cell_chars
        self._seen = SeenNumbers()
        self._counts: Counter[str] = Counter()
        self._blanked_counts: Counter[str] = Counter()
        self._phone_reasons: Counter[str] = Counter()
        self._rows = 0
        self._accepted = 0
        self._complete = False
        self._started = False
        self._reading: Generator[Contact, None, None] | None = None
        # A rejections file handed back: its cells lose the ' msgkit put before them.
        # Any other file is read as it is ('-) smile stays '-) smile).
        self._unescape = tuple(self.columns[: len(_REJECTION_COLUMNS)]) == _REJECTION_COLUMNS
        self._rejected = _Spool([*_REJECTION_COLUMNS, *self.columns])
        self._blanked = _Spool(["row", "column", "reason", "detail"])
        # The rejections outlive close(); the spools go when this object does.
        weakref.finalize(self, self._rejected.close)
        weakref.finalize(self, self._blanked.close)

    # -- results ------------------------------------------------------------------------

    @property
    def variables(self) -> tuple[str, ...]:
        """The attribute names the contacts carry, i.e. the template variables the list
        provides: mapped columns under their variable names, the other columns (but the
        phone and key) under their own."""
        return tuple(dict.fromkeys(field.name for field in self._fields))

    @property
    def summary(self) -> ImportSummary:
        """The counts so far (final once the import has been read to the end)."""
        return ImportSummary(
            rows=self._rows,
            accepted=self._accepted,
            rejected=self._rows - self._accepted,
            by_reason=dict(self._counts),
            phone_reasons=dict(self._phone_reasons),
            complete=self._complete,
            blanked=sum(self._blanked_counts.values()),
            blanked_by_reason=dict(self._blanked_counts),
        )

    def iter_rejections(self) -> Iterator[Rejection]:
        """The rejected rows so far, in file order, one at a time (read from the spool,
        so a file of a million bad rows costs no more memory than one)."""
        for r in self._rejected.rows():
            yield Rejection(
                row=int(r[0]),
                column=r[1] or None,
                reason=RejectReason(r[2]),
                detail=r[3],
                phone_reason=r[4] or None,
                duplicate_of=int(r[5]) if r[5] else None,
            )

    def rejections(self) -> list[Rejection]:
        """The rejected rows so far, in file order (see `iter_rejections` for many)."""
        return list(self.iter_rejections())

    def rejections_csv(self) -> str:
        """The rejected rows as CSV text: row, column, reason, detail, then the row's cells.

        Hand it back to whoever uploaded the file: they can fix the rows and import
        them again. ``.encode("utf-8-sig")`` gives bytes that Excel opens correctly.
        A cell that a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``...)
        is written after a ``'``; importing the file again reads it without the ``'``.
        """
        return self._rejected.text()

    def write_rejections_csv(self, target: IO[str]) -> None:
        """Write `rejections_csv` to a text file, a chunk at a time."""
        self._rejected.copy_to(target)

    def iter_blanked_cells(self) -> Iterator[BlankedCell]:
        """The cells left empty so far (``on_bad_value="blank_cell"``), one at a time."""
        for r in self._blanked.rows():
            yield BlankedCell(row=int(r[0]), column=r[1], reason=RejectReason(r[2]), detail=r[3])

    def blanked_cells(self) -> list[BlankedCell]:
        """The cells left empty so far, in file order (not rows: their contacts were
        imported without that attribute)."""
        return list(self.iter_blanked_cells())

    def blanked_cells_csv(self) -> str:
        """The blanked cells as CSV text: row, column, reason, detail."""
        return self._blanked.text()

    # -- reading ------------------------------------------------------------------------

    def __iter__(self) -> Iterator[Contact]:
        if self._started:
            raise ImportFileError(
                "this import has already been read",
                path=self._table.source.name,
                hint="call import_contacts() again to read the file again",
            )
        self._started = True
        self._reading = self._contacts()
        return self._reading

    def batches(self, size: int = 1000) -> Iterator[list[Contact]]:
        """The accepted contacts in lists of ``size`` (the last may be shorter)."""
        batch: list[Contact] = []
        for contact in self:
            batch.append(contact)
            if len(batch) == size:
                yield batch
                batch = []
        if batch:
            yield batch

    def _reject(
        self,
        row: int,
        cells: Sequence[object],
        column: str | None,
        reason: RejectReason,
        detail: str,
        *,
        phone_reason: str | None = None,
        duplicate_of: int | None = None,
    ) -> None:
        self._counts[reason.value] += 1
        if phone_reason is not None:
            self._phone_reasons[phone_reason] += 1
        self._rejected.write(
            [
                row,
                column or "",
                reason.value,
                detail,
                phone_reason or "",
                duplicate_of or "",
                *map(text_of, cells),
            ]
        )

    def _bad_value(
        self, row: int, cells: Sequence[object], column: str, reason: RejectReason, detail: str
    ) -> bool:
        """Blank the cell (True: go on with the row) or reject the row (False)."""
        if self._blank_bad:
            self._blanked_counts[reason.value] += 1
            self._blanked.write([row, column, reason.value, detail])
            return True
        self._reject(row, cells, column, reason, detail)
        return False

    def _contacts(self) -> Generator[Contact, None, None]:
        rows = self._table.rows()
        try:
            for row, cells in rows:
                self._rows += 1
                contact = self._contact(row, cells)
                if contact is not None:
                    self._accepted += 1
                    yield contact
            self._complete = True
        finally:
            rows.close()
            self._table.close()

    def _contact(self, row: int, cells: Sequence[object]) -> Contact | None:
        # The hot path: one call per row, so locals, tuples and no needless calls.
        width = self._width
        if len(cells) != width:
            if len(cells) > width and any(text_of(c).strip() for c in cells[width:]):
                self._reject(
                    row,
                    cells,
                    None,
                    RejectReason.EXTRA_CELLS,
                    f"{len(cells)} cells for {width} columns (an unquoted delimiter?)",
                )
                return None
            cells = [*cells[:width], *([None] * (width - len(cells)))]
        raw = cells[self._phone]
        unescape = self._unescape
        text = raw if raw.__class__ is str else text_of(raw)
        text = (unescape_spreadsheet(text) if unescape else text).strip()
        if not text:
            self._reject(
                row, cells, self._phone_column, RejectReason.EMPTY_PHONE, "no phone number"
            )
            return None
        if len(text) > self._max_chars:
            self._too_long(row, cells, self._phone_column, text)
            return None
        try:
            if self._cipher is not None:
                text = self._cipher.decrypt(text)
            phone = parse_phone(text, self._region, mobile_only=self._mobile_only)
        except InvalidPhoneError as exc:
            self._reject(
                row,
                cells,
                self._phone_column,
                RejectReason.INVALID_PHONE,
                exc.message,
                phone_reason=exc.reason,
            )
            return None
        attributes: dict[str, object] = {}
        max_chars = self._max_chars
        for index, column, name, convert, reason in self._fields:
            value = cells[index]
            if value.__class__ is str:
                if unescape and value[:1] == "'":
                    value = unescape_spreadsheet(value)
                value = value.strip()
                if not value:
                    continue
                if len(value) > max_chars:
                    if self._bad_value(
                        row, cells, column, RejectReason.CELL_TOO_LONG, self._long(value)
                    ):
                        continue
                    return None
            elif value is None:
                continue
            elif isinstance(value, datetime) and value.tzinfo is None:
                try:
                    value = to_utc(value, self._zone)
                except ValueError as exc:
                    if self._bad_value(row, cells, column, RejectReason.BAD_DATE, str(exc)):
                        continue
                    return None
            if convert is not None:
                try:
                    value = convert(value)
                except ValueError as exc:
                    if self._bad_value(row, cells, column, reason, str(exc)):
                        continue
                    return None
            attributes[name] = value
        e164 = phone.e164
        if self._key is None:
            key = e164
        else:
            key = text_of(cells[self._key])
            key = (unescape_spreadsheet(key) if unescape else key).strip() or e164
        first = self._seen.first_row(int(e164[1:]), row)
        if first is not None:
            self._reject(
                row,
                cells,
                self._phone_column,
                RejectReason.DUPLICATE,
                f"{mask(phone)} is a duplicate of row {first}",
                duplicate_of=first,
            )
            return None
        # Contact converts attributes with dict(), whose overloads mypy cannot match.
        return Contact(phone=phone, key=key, attributes=attributes)  # type: ignore[arg-type]

    def _long(self, text: str) -> str:
        return f"{len(text):,} characters; at most {self._max_chars:,} are allowed"

    def _too_long(self, row: int, cells: Sequence[object], column: str, text: str) -> None:
        self._reject(row, cells, column, RejectReason.CELL_TOO_LONG, self._long(text))

    # -- lifetime -----------------------------------------------------------------------

    def close(self) -> None:
        """Stop reading and release the file (the rejections stay readable)."""
        if self._reading is not None:
            self._reading.close()
        self._table.close()
        self._seen = SeenNumbers(1)  # the numbers seen (25 MB a million) are not needed

    def __enter__(self) -> ContactImport:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ContactImport({self._table.source.name!r}, {self.summary.rows:,} rows read)"


def import_contacts(
    source: Source,
    mapping: ColumnMapping,
    *,
    region: str | None = None,
    cipher: PhoneCipher | None = None,
    mobile_only: bool = False,
    time_zone: str = "UTC",
    format: Format | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
    sheet: str | None = None,
    max_bytes: int = MAX_BYTES,
    max_cell_chars: int = MAX_CELL_CHARS,
    on_bad_value: BadValue = "reject_row",
) -> ContactImport:
    """Open a recipient file for import; iterate the result for the accepted contacts.

    The file's size, format, encoding, delimiter, header and the mapping are checked
    here, before any data row is read; rows are read as the result is iterated.

    Args:
        source: A path, the file's bytes, or a binary file object (an upload).
        mapping: Which column is the phone, which become template variables.
        region: The region of national numbers, e.g. ``"TW"`` for ``0912-345-678``.
        cipher: Read the phone column as ciphertext made with this `PhoneCipher`.
        mobile_only: Reject numbers that cannot be mobiles.
        time_zone: The zone of dates and times written without one.
        format: ``"csv"`` or ``"xlsx"``; found from the file's first bytes if omitted.
        encoding: The CSV encoding; detected if omitted (refused if unclear).
        delimiter: The CSV delimiter; found from the first rows if omitted.
        sheet: The XLSX worksheet to read; the first one if omitted.
        max_bytes: The size limit of the file.
        max_cell_chars: The longest cell accepted.
        on_bad_value: ``"reject_row"`` (the default) rejects a row when one of its
            cells cannot be used (a bad date or number, a cell too long);
            ``"blank_cell"`` imports the contact without that cell and reports it in
            `ContactImport.blanked_cells`. The phone column is never blanked.

    Returns:
        The running import.

    Raises:
        ImportFileError: When the file cannot be read at all, or a mapped column does
            not exist (the hint lists the columns that do).
        ConfigError: For an unknown region, time zone, encoding, column type or
            ``on_bad_value``.

    Example:
        >>> rows = b"Name,Mobile,Registration Time\\nAmy,0912-345-678,2024-03-01\\n"
        >>> mapping = ColumnMapping(
        ...     phone="Mobile", variables={"registration_date": "Registration Time"},
        ...     types={"Registration Time": "date"})
        >>> with import_contacts(rows, mapping, region="TW") as run:
        ...     contacts = list(run)
        >>> contacts[0].attributes
        {'Name': 'Amy', 'registration_date': datetime.date(2024, 3, 1)}
        >>> print(run.summary)
        1 rows: 1 imported, 0 rejected
    """
    table = open_table(
        source,
        format=format,
        encoding=encoding,
        delimiter=delimiter,
        sheet=sheet,
        max_bytes=max_bytes,
    )
    with closed_on_error(table):
        return ContactImport(
            table,
            mapping,
            region=region,
            cipher=cipher,
            mobile_only=mobile_only,
            time_zone=time_zone,
            max_cell_chars=max_cell_chars,
            on_bad_value=on_bad_value,
        )
