"""Tests of reading XLSX recipient files: sheets, shared and inline text, dates, limits."""

from __future__ import annotations

import io
import sys
import tempfile
import tracemalloc
import zipfile
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from msgkit import ImportFileError
from msgkit.io import ColumnMapping, import_contacts, preview
from msgkit.io._source import open_source
from msgkit.io._values import text_of
from msgkit.io._xlsx import (
    MAX_XLSX_CELL_CHARS,
    Cell,
    FormatKind,
    SharedStrings,
    XlsxTable,
    _iso_cell,
    builtin_format_kind,
    format_kind,
    from_serial,
)
from tests.io.xlsx_writer import MAIN, replace_part, write_xlsx

HEADER = ["Name", "Mobile", "Registration Time", "Points"]


def test_first_sheet_by_default(tmp_path: Path) -> None:
    """Without sheet=, the first sheet is read; its header, rows and count."""
    path = write_xlsx(
        tmp_path / "list.xlsx",
        {
            "Members": [
                HEADER,
                ["王小明", "0912345678", ("n", "45352", 1), 10],
                ["Bob", 922333444],
            ],
            "Other": [["x"], ["y"]],
        },
    )
    p = preview(path)
    assert (p.format, p.sheet, p.columns, p.row_count) == ("xlsx", "Members", tuple(HEADER), 2)
    assert p.rows[0] == ("王小明", "0912345678", "2024-03-01", "10")
    assert p.rows[1] == ("Bob", "922333444", "", "")


def test_named_sheet_and_a_missing_one(tmp_path: Path) -> None:
    """sheet= picks a sheet by name; an unknown name lists the sheets there are."""
    path = write_xlsx(
        tmp_path / "l.xlsx", {"A": [["x"], ["1"]], "Members": [["phone"], ["1"], ["2"]]}
    )
    assert preview(path, sheet="Members").row_count == 2
    assert preview(path, sheet="members").sheet == "Members"
    with pytest.raises(ImportFileError, match="'A', 'Members'"):
        preview(path, sheet="Nope")


def test_dates_numbers_booleans_and_inline_text(tmp_path: Path) -> None:
    """Date-formatted numbers are dates or datetimes; numeric phones keep their digits."""
    rows = [
        ["phone", "joined", "seen", "vip", "note", "score"],
        [
            912345678,  # Excel dropped the leading 0 of 0912345678
            ("n", "45352", 1),
            ("n", "45352.375", 2),
            True,
            ("inlineStr", "a_x0041_b", None),
            2.5,
        ],
    ]
    path = write_xlsx(tmp_path / "t.xlsx", {"S": rows})
    run = import_contacts(path, ColumnMapping(phone="phone"), region="TW", time_zone="Asia/Taipei")
    (contact,) = list(run)
    assert contact.phone is not None
    assert contact.phone.e164 == "+886912345678"
    assert dict(contact.attributes) == {
        "joined": date(2024, 3, 1),
        "seen": datetime(2024, 3, 1, 1, 0, tzinfo=timezone.utc),  # 09:00 in Taipei
        "vip": True,
        "note": "aAb",
        "score": 2.5,
    }


def test_1904_dates(tmp_path: Path) -> None:
    """A workbook on the 1904 date system gives the same calendar dates."""
    path = write_xlsx(tmp_path / "m.xlsx", {"S": [["d"], [("n", "43890", 1)]]}, date1904=True)
    assert preview(path).rows[0] == ("2024-03-01",)


def test_typed_date_column_rejects_text(tmp_path: Path) -> None:
    """A date column accepts real dates and ISO text and rejects other text."""
    rows = [HEADER, ["A", "0912345678", ("n", "45352", 1), 1], ["B", "0922333444", "someday", 2]]
    path = write_xlsx(tmp_path / "d.xlsx", {"S": rows})
    mapping = ColumnMapping(
        phone="Mobile",
        variables={"registration_date": "Registration Time"},
        types={"Registration Time": "date"},
    )
    run = import_contacts(path, mapping, region="TW")
    contacts = list(run)
    assert contacts[0].attributes["registration_date"] == date(2024, 3, 1)
    assert [(r.row, r.column, r.reason.value) for r in run.rejections()] == [
        (3, "Registration Time", "bad_date")
    ]


def test_row_numbers_follow_the_sheet(tmp_path: Path) -> None:
    """Blank and missing rows are skipped, and row numbers are the sheet's own."""
    rows = [["phone"], ["0912345678"], None, ["  "], ["12"], [None], None]
    path = write_xlsx(tmp_path / "r.xlsx", {"S": rows})
    p = preview(path)
    assert (p.row_count, p.row_numbers) == (2, (2, 5))
    run = import_contacts(path, ColumnMapping(phone="phone"), region="TW")
    list(run)
    assert [r.row for r in run.rejections()] == [5]


def test_rows_without_references(tmp_path: Path) -> None:
    """Rows and cells written without r= attributes are read in order."""
    path = write_xlsx(tmp_path / "n.xlsx", {"S": [["a", "b"], ["1", "2"]]}, row_refs=False)
    assert preview(path).rows == (("1", "2"),)


def test_a_workbook_written_by_openpyxl(tmp_path: Path) -> None:
    """A workbook from a real writer (openpyxl) reads with its datetimes and sheets."""
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Members"
    sheet.append(["Name", "Mobile", "Registration Time"])
    sheet.append(["Amy", "0912-345-678", datetime(2024, 3, 1, 10, 30)])  # noqa: DTZ001
    sheet.append(["Bob", "0922333444", datetime(2024, 3, 2)])  # noqa: DTZ001
    book.create_sheet("Notes").append(["nothing here"])
    path = tmp_path / "real.xlsx"
    book.save(path)
    p = preview(path)
    assert (p.sheet, p.row_count) == ("Members", 2)
    mapping = ColumnMapping(phone="Mobile", variables={"registration_date": "Registration Time"})
    contacts = list(import_contacts(path, mapping, region="TW"))
    assert contacts[0].attributes["registration_date"] == datetime(
        2024, 3, 1, 10, 30, tzinfo=timezone.utc
    )
    assert preview(path, sheet="Notes").columns == ("nothing here",)


def test_a_part_with_a_dtd_is_refused(tmp_path: Path) -> None:
    """Sheet XML declaring a DTD (entity tricks) is refused unread."""
    prolog = '<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">]>'
    path = write_xlsx(tmp_path / "e.xlsx", {"S": [["a"], ["1"]]}, sheet_prolog=prolog)
    with pytest.raises(ImportFileError, match="not plain spreadsheet XML"):
        preview(path)


def test_a_broken_zip_is_refused(tmp_path: Path) -> None:
    """A zip that is no workbook is an error saying to save it again."""
    path = tmp_path / "x.xlsx"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("hello.txt", "hi")
    with pytest.raises(ImportFileError, match="save it again"):
        preview(path)


# -- number formats -----------------------------------------------------------------------


def test_a_scientific_format_is_not_a_date(tmp_path: Path) -> None:
    """Cells shown as 0.0E+00 are numbers: a phone imports, 1.5 stays 1.5 (issue 14)."""
    rows = [["phone", "ratio"], [("n", "912345678", 3), ("n", "1.5", 3)]]
    path = write_xlsx(tmp_path / "e.xlsx", {"S": rows}, formats=["0.0E+00"])
    assert preview(path).rows == (("912345678", "1.5"),)
    (contact,) = list(import_contacts(path, ColumnMapping(phone="phone"), region="TW"))
    assert contact.phone is not None
    assert (contact.phone.e164, contact.attributes["ratio"]) == ("+886912345678", 1.5)


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("0.0E+00", None),
        ("##0.0E-0", None),
        ("General", None),
        ("@", None),
        ('"Days: "0', None),
        ('0" mmss"', None),
        ("0.00_);[Red](0.00)", None),
        ("[Red][>=100]0;0", None),
        ("\\d\\a\\y 0", None),
        ("* #,##0_-", None),
        ("[$-404]e/m/d", "date"),
        ('yyyy"年"m"月"d"日"', "date"),
        ("m/d/yy", "date"),
        ("d-mmm", "date"),
        ("mmm-yy", "date"),
        ("h:mm AM/PM", "time"),
        ("mm:ss", "time"),
        ("hh:mm:ss;@", "time"),
        ("yyyy-mm-dd hh:mm", "datetime"),
        ("[$-F800]dddd, mmmm dd, yyyy", "date"),
        ("[h]:mm:ss", "duration"),
        ("[mm]:ss", "duration"),
        ("[Blue][h]:mm", "duration"),
    ],
)
def test_format_kinds(code: str, kind: str | None) -> None:
    """Number format codes are classified by their tokens, not by letters in literals."""
    assert format_kind(code) == kind


@given(
    st.lists(
        st.sampled_from(
            [
                '"d"',
                '"Date: "',
                "\\y",
                "\\h",
                "_)",
                "_d",
                "[Red]",
                "[>=10]",
                "[$-409]",
                "[$€-2]",
                "0",
                "0.00",
                "#,##0",
                "%",
                " ",
                "-",
                "(",
                ")",
                "0.0E+00",
                "##0E-0",
            ]
        ),
        min_size=1,
        max_size=6,
    ),
    st.sampled_from([None, "yyyy-mm-dd", "h:mm", "[h]:mm", "d/m/yy h:mm", "mm:ss"]),
)
def test_format_kind_agrees_with_openpyxl(pieces: list[str], dated: str | None) -> None:
    """On codes made of literals, brackets, escapes and digits around an optional date
    part, the reading agrees with openpyxl's is_date_format / is_timedelta_format
    (fills such as ``*m`` are left out: openpyxl takes their letter for a token)."""
    numbers = pytest.importorskip("openpyxl.styles.numbers")
    code = "".join(pieces) + (dated or "")
    kind = format_kind(code)
    if "E+" in code or "E-" in code:
        assert kind is None  # openpyxl takes 0.0E+00 with a date part for a date too
        return
    assert (kind is not None) == numbers.is_date_format(code)
    assert (kind == "duration") == numbers.is_timedelta_format(code)


def test_builtin_format_ids() -> None:
    """Built-in ids: 14 a date, 20 a time, 22 a date and time, 46 a duration, 2 a number."""
    kinds = [builtin_format_kind(i) for i in (14, 20, 22, 46, 2, 49, 57)]
    assert kinds == ["date", "time", "datetime", "duration", None, None, "date"]


# -- serial numbers -----------------------------------------------------------------------


def test_time_only_cells_are_times_in_the_1900_system(tmp_path: Path) -> None:
    """08:15 in a 1900-system book is 08:15, not 1899-12-31 08:15 (issue 14)."""
    rows = [["phone", "at", "at2"], ["0912345678", ("n", "0.34375", 3), ("n", "0.5", 4)]]
    path = write_xlsx(tmp_path / "t.xlsx", {"S": rows}, formats=["h:mm", 20])
    assert preview(path).rows == (("0912345678", "08:15:00", "12:00:00"),)
    (contact,) = list(import_contacts(path, ColumnMapping(phone="phone"), region="TW"))
    assert contact.attributes == {"at": time(8, 15), "at2": time(12)}


def test_iso_typed_cells(tmp_path: Path) -> None:
    """t="d" cells: a time of day, a date, a date and time; a bad one names its row."""
    rows = [
        ["phone", "at", "on", "when"],
        [
            "0912345678",
            ("d", "08:15:00", 3),
            ("d", "2024-03-01", 1),
            ("d", "2024-03-01T10:30:00Z", 2),
        ],
    ]
    path = write_xlsx(tmp_path / "d.xlsx", {"S": rows}, formats=["h:mm"])
    assert preview(path).rows == (
        ("0912345678", "08:15:00", "2024-03-01", "2024-03-01T10:30:00+00:00"),
    )
    rows.append(["0922333444", ("d", "soon", 3), None, None])
    bad = write_xlsx(tmp_path / "b.xlsx", {"S": rows}, formats=["h:mm"])
    with pytest.raises(ImportFileError, match=r"row 3, column 'B'.*'soon'") as info:
        preview(bad)
    assert (info.value.row, info.value.column) == (3, "B")


def test_durations_over_a_day(tmp_path: Path) -> None:
    """[h]:mm:ss cells are durations: 1.5 days shows 36:00:00 and imports as a timedelta."""
    rows = [["phone", "spent", "built_in"], ["0912345678", ("n", "1.5", 3), ("n", "0.25", 4)]]
    path = write_xlsx(tmp_path / "h.xlsx", {"S": rows}, formats=["[h]:mm:ss", 46])
    assert preview(path).rows == (("0912345678", "36:00:00", "6:00:00"),)
    (contact,) = list(import_contacts(path, ColumnMapping(phone="phone"), region="TW"))
    assert contact.attributes == {"spent": timedelta(days=1.5), "built_in": timedelta(hours=6)}


@pytest.mark.parametrize("date1904", [False, True])
def test_both_date_systems(tmp_path: Path, date1904: bool) -> None:
    """The same calendar dates, times and durations from 1900 and 1904 books."""
    base = 43890 if date1904 else 45352  # 2024-03-01
    rows = [
        ["d", "dt", "t", "dur"],
        [("n", str(base), 1), ("n", f"{base}.75", 2), ("n", "0.75", 3), ("n", "2.25", 4)],
    ]
    path = write_xlsx(
        tmp_path / "s.xlsx", {"S": rows}, date1904=date1904, formats=["hh:mm:ss", "[h]:mm"]
    )
    assert preview(path).rows == (("2024-03-01", "2024-03-01T18:00:00", "18:00:00", "54:00:00"),)


def test_excel_counts_a_29_february_1900(tmp_path: Path) -> None:
    """Serials 1, 59 and 61 are 1900-01-01, 02-28 and 03-01; serial 60 (29 February 1900,
    which never was) is refused with its row and column."""
    rows = [["a", "b", "c"], [("n", "1", 1), ("n", "59", 1), ("n", "61", 1)]]
    assert preview(write_xlsx(tmp_path / "a.xlsx", {"S": rows})).rows == (
        ("1900-01-01", "1900-02-28", "1900-03-01"),
    )
    rows.append([("n", "5", 1), ("n", "60", 1)])
    with pytest.raises(ImportFileError, match="29 February 1900") as info:
        preview(write_xlsx(tmp_path / "b.xlsx", {"S": rows}))
    assert (info.value.row, info.value.column) == (3, "B")


@pytest.mark.parametrize("text", ["1e10", "inf", "-inf", "nan", "-1", "2958466"])
def test_date_cells_that_are_no_date(tmp_path: Path, text: str) -> None:
    """A date cell of 1e10, inf, nan or a negative number is an ImportFileError naming
    the row and column, from preview and import alike (issue 14)."""
    rows = [["phone", "joined"], ["0912345678", ("n", "45352", 1)], ["0922333444", ("n", text, 1)]]
    path = write_xlsx(tmp_path / "x.xlsx", {"S": rows})
    with pytest.raises(ImportFileError, match=r"row 3, column 'B'.*type the date again"):
        preview(path)
    run = import_contacts(path, ColumnMapping(phone="phone"), region="TW")
    with pytest.raises(ImportFileError, match="row 3, column 'B'"):
        list(run)
    assert run.summary.accepted == 1


def test_a_number_cell_of_inf_is_refused(tmp_path: Path) -> None:
    """A General cell holding inf or text is refused, not read as a float."""
    path = write_xlsx(tmp_path / "i.xlsx", {"S": [["a"], [("n", "inf", None)]]})
    with pytest.raises(ImportFileError, match="row 2, column 'A'"):
        preview(path)


@given(st.floats(min_value=61, max_value=2_958_465.99, allow_nan=False))
def test_from_serial_agrees_with_openpyxl(serial: float) -> None:
    """From 1 March 1900 on, a serial reads as openpyxl reads it, in both systems."""
    from openpyxl.utils.datetime import CALENDAR_MAC_1904, from_excel

    ours = from_serial(serial, "datetime")
    assert ours == from_excel(serial)
    if serial < 2_958_466 - 1462:
        assert from_serial(serial, "datetime", date1904=True) == from_excel(
            serial, CALENDAR_MAC_1904
        )


@given(st.floats(min_value=0, max_value=0.99999, allow_nan=False))
def test_time_of_day_agrees_with_openpyxl(serial: float) -> None:
    """A fraction of a day in a time format reads as openpyxl's time (to the ms)."""
    from openpyxl.utils.datetime import from_excel

    theirs = from_excel(serial)
    ours = from_serial(serial, "time")
    assert isinstance(ours, time)
    if isinstance(theirs, time):
        assert ours == theirs


@given(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["date", "datetime", "time", "duration"]),
    st.booleans(),
)
def test_from_serial_is_total(serial: float, kind: FormatKind, date1904: bool) -> None:
    """Any float gives a value or a ValueError, never another error."""
    value: object
    try:
        value = from_serial(serial, kind, date1904=date1904)
    except ValueError as exc:
        value = exc
    assert isinstance(value, (date, time, timedelta)) or str(value)


# -- hostile files ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "row", "column"),
    [
        (
            '<row r="1"><c r="A1" t="inlineStr"><is><t>a</t></is></c></row>'
            '<row r="99999999999"><c r="A2"><v>1</v></c></row>',
            2,
            None,
        ),
        (
            '<row r="1"><c r="A1"><v>1</v></c></row>'
            '<row r="1048577"><c r="A1048577"><v>1</v></c></row>',
            1048577,
            None,
        ),
        (
            '<row r="1"><c r="A1"><v>1</v></c></row><row r="2"><c r="ZZZZZZZ2"><v>1</v></c></row>',
            2,
            "ZZZZZZZ",
        ),
        (
            '<row r="1"><c r="A1"><v>1</v></c></row><row r="2"><c r="XFE2"><v>1</v></c></row>',
            2,
            "XFE",
        ),
        (
            '<row r="1"><c r="A1"><v>1</v></c></row><row r="2"><c r="B2" t="s"><v>7</v></c></row>',
            2,
            "B",
        ),
    ],
)
def test_rows_and_cells_past_excels_limits(
    tmp_path: Path, data: str, row: int, column: str | None
) -> None:
    """Row numbers past 1,048,576 or out of range, columns past XFD and missing shared
    text are ImportFileErrors naming the row (and the column) — not a MemoryError."""
    path = write_xlsx(tmp_path / "r.xlsx", {"S": [["x"]]}, sheet_data=data)
    with pytest.raises(ImportFileError) as info:
        preview(path)
    assert (info.value.row, info.value.column) == (row, column)
    assert info.value.hint


@pytest.mark.parametrize("inline", [False, True])
def test_a_cell_over_excels_length_limit(tmp_path: Path, inline: bool) -> None:
    """A cell of more than 32,767 characters (shared or inline) is refused with its row
    and column; preview never returns it."""
    text = "".join(chr(0x4E00 + i % 2000) for i in range(MAX_XLSX_CELL_CHARS + 1))
    cell = ("inlineStr", text, None) if inline else text
    rows = [["phone", "note"], ["0912345678", "ok"], ["0922333444", cell]]
    path = write_xlsx(tmp_path / "l.xlsx", {"S": rows})
    with pytest.raises(ImportFileError, match="32,767 characters") as info:
        preview(path)
    assert (info.value.row, info.value.column) == (3, "B")
    rows[2][1] = text[:-1]
    assert preview(write_xlsx(tmp_path / "ok.xlsx", {"S": rows})).row_count == 2


def test_a_zip_bomb_shared_string_is_refused_unread(tmp_path: Path) -> None:
    """A small file whose shared-string part unpacks 1000:1 is refused before it is read."""
    path = write_xlsx(tmp_path / "b.xlsx", {"S": [["phone"], ["0912345678"]]})
    chunk = b"a" * (1 << 20)
    replace_part(
        path,
        "xl/sharedStrings.xml",
        [f'<sst xmlns="{MAIN}"><si><t>'.encode(), *[chunk] * 40, b"</t></si></sst>"],
    )
    assert path.stat().st_size < 100_000
    with pytest.raises(ImportFileError, match="unpacks to 41,943,") as info:
        preview(path)
    assert "not a normal spreadsheet" in str(info.value.hint)


def test_millions_of_rows_in_a_small_file_are_refused(tmp_path: Path) -> None:
    """A 2-million-row sheet packed into a small file is refused, not counted for minutes."""
    path = write_xlsx(tmp_path / "m.xlsx", {"S": [["x"]]})
    row = b"<row><c><v>1</v></c></row>"
    replace_part(
        path,
        "xl/worksheets/sheet1.xml",
        [
            f'<worksheet xmlns="{MAIN}"><sheetData>'.encode(),
            *[row * 100_000] * 20,
            b"</sheetData></worksheet>",
        ],
    )
    with pytest.raises(ImportFileError, match="unpacks to"):
        preview(path)


def test_the_row_limit_stops_a_sheet_within_the_ratio(tmp_path: Path) -> None:
    """Rows past Excel's last stop the count even when the file compresses normally."""
    path = write_xlsx(tmp_path / "m.xlsx", {"S": [["x"]]})
    rows = (
        "".join(f"<row><c><v>{i}</v></c></row>" for i in range(start, start + 10_000)).encode()
        for start in range(0, 1_050_000, 10_000)
    )
    replace_part(
        path,
        "xl/worksheets/sheet1.xml",
        [f'<worksheet xmlns="{MAIN}"><sheetData>'.encode(), *rows, b"</sheetData></worksheet>"],
    )
    with pytest.raises(ImportFileError, match="past row 1,048,576") as info:
        preview(path)
    assert info.value.row == 1_048_577


@pytest.mark.parametrize(
    "part", ["xl/worksheets/sheet1.xml", "xl/sharedStrings.xml", "xl/styles.xml", "xl/workbook.xml"]
)
@pytest.mark.parametrize(
    "prolog",
    [
        '<!--<x--><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">]>',
        '<!DOCTYPE x [<!ENTITY a "aa"><!ENTITY b "&a;&a;">]>',
        '<?pi <x?><!DOCTYPE x SYSTEM "http://example.invalid/x.dtd">',
    ],
)
def test_any_dtd_is_refused(tmp_path: Path, part: str, prolog: str) -> None:
    """A DTD in any part is refused, however the text before it is dressed up (issue 14:
    a comment holding "<x" used to pass the guard and the entities expanded)."""
    rows = [["a"], ["&a;"]]
    path = write_xlsx(tmp_path / "e.xlsx", {"S": rows}, prologs={part: prolog})
    with pytest.raises(ImportFileError, match="DTD"):
        preview(path)


# -- against openpyxl, and fuzzed ---------------------------------------------------------


def _read(data: bytes) -> list[tuple[int, list[Cell]]]:
    table = XlsxTable(open_source(data), sheet=None, max_bytes=1 << 20)
    try:
        return list(table.rows())
    finally:
        table.source.close()


# Numbers get number formats, dates and times date formats of their own kind (a number
# in a date format out of Excel's range is refused, where openpyxl returns it).
_NUMBER_FORMATS = ["General", "0.0E+00", "0.00", '"Tel: "0', "[Red]#,##0", "@", "0.0;[Red]-0.0"]
_DATE_FORMATS = {
    datetime: ["yyyy-mm-dd hh:mm:ss", "yyyy-mm-dd", "d/m/yy h:mm", '[$-404]yyyy"年"m"月"d"日"'],
    time: ["h:mm:ss", "mm:ss", "hh:mm AM/PM"],
    timedelta: ["[h]:mm:ss", "[mm]:ss"],
}
_TEXT = st.text(
    st.characters(blacklist_categories=("Cs", "Cc")) | st.sampled_from("\t\n_x0041_"),
    max_size=20,
)
_VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53) + 1, 2**53 - 1),
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e15, max_value=1e15),
    _TEXT,
    st.datetimes(datetime(1900, 3, 1), datetime(9999, 12, 31)).map(  # noqa: DTZ001
        lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000)
    ),
    st.times().map(lambda t: t.replace(microsecond=t.microsecond // 1000 * 1000)),
    st.timedeltas(timedelta(0), timedelta(days=3000)).map(
        lambda d: timedelta(milliseconds=round(d.total_seconds() * 1000))
    ),
)


def _day(value: object) -> object:
    if isinstance(value, date) and not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day)  # noqa: DTZ001
    return value


def _same(ours: object, theirs: object) -> bool:
    ours, theirs = _day(ours), _day(theirs)
    if isinstance(theirs, str) and ours is None:
        return theirs == ""
    if isinstance(ours, (int, float)) and not isinstance(ours, bool):
        return isinstance(theirs, (int, float)) and float(ours) == float(theirs)
    return ours == theirs


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.lists(st.tuples(_VALUE, st.integers(0, 10)), max_size=6), max_size=6),
    st.booleans(),
)
def test_readings_agree_with_openpyxl(rows: list[list[tuple[object, int]]], date1904: bool) -> None:
    """Workbooks openpyxl writes (numbers, text, dates, times, durations, booleans, blanks,
    number formats, both date systems) read as openpyxl reads them."""
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    if date1904:
        book.epoch = openpyxl.utils.datetime.CALENDAR_MAC_1904
    sheet = book.active
    for r, row in enumerate(rows, start=1):
        for c, (value, pick) in enumerate(row, start=1):
            cell = sheet.cell(row=r, column=c, value=value)
            formats = _DATE_FORMATS.get(type(value), _NUMBER_FORMATS)
            if value is not None and pick < len(formats):
                cell.number_format = formats[pick]
    out = io.BytesIO()
    book.save(out)
    data = out.getvalue()
    theirs = {
        cell.row: [(cell.column - 1, cell.value) for cell in row if cell.value is not None]
        for row in openpyxl.load_workbook(io.BytesIO(data)).active.iter_rows()
        for cell in row[:1]
    }
    ours = dict(_read(data))
    expected = {
        r: cells
        for r, cells in theirs.items()
        if any(not (isinstance(v, str) and not v.strip()) for _, v in cells)
    }
    assert set(ours) == set(expected)
    for r, cells in expected.items():
        for at, value in cells:
            assert _same(ours[r][at], value), (r, at, ours[r][at], value)


@pytest.fixture(scope="module")
def sample_book(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    rows = [
        ["phone", "d", "t", "n", "s"],
        ["0912345678", ("n", "45352.5", 2), ("n", "0.25", 3), 1.5, ("inlineStr", "x", None)],
        ["0922333444", ("n", "45353", 1), ("d", "08:15:00", 3), True, "y"],
    ]
    path = write_xlsx(tmp_path_factory.mktemp("f") / "s.xlsx", {"S": rows}, formats=["h:mm"])
    return path.read_bytes()


def _mutated_parts(book: bytes, name: str, xml: bytes) -> bytes:
    with zipfile.ZipFile(io.BytesIO(book)) as old:
        parts = {n: old.read(n) for n in old.namelist()}
    parts[name] = xml
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for n, data in parts.items():
            z.writestr(n, data)
    return out.getvalue()


def _reading_or_error(data: bytes) -> None:
    try:
        rows = _read(data)
    except ImportFileError as exc:
        hint = exc.hint
        rows = []
        assert hint
    assert all(1 <= n <= 1_048_576 and len(cells) <= 16_384 for n, cells in rows)


_PARTS = [
    "xl/worksheets/sheet1.xml",
    "xl/sharedStrings.xml",
    "xl/styles.xml",
    "xl/workbook.xml",
    "xl/_rels/workbook.xml.rels",
]


@settings(
    max_examples=150, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.sampled_from(_PARTS),
    st.lists(
        st.tuples(st.integers(0, 10_000), st.binary(max_size=8), st.integers(0, 8)),
        min_size=1,
        max_size=4,
    ),
)
def test_fuzzed_xml_gives_a_reading_or_an_import_file_error(
    sample_book: bytes, part: str, edits: list[tuple[int, bytes, int]]
) -> None:
    """Bytes changed inside a part's XML give rows or an ImportFileError, nothing else,
    within the deadline."""
    with zipfile.ZipFile(io.BytesIO(sample_book)) as z:
        xml = bytearray(z.read(part))
    for where, insert, cut in edits:
        at = where % (len(xml) + 1)
        xml[at : at + cut] = insert
    _reading_or_error(_mutated_parts(sample_book, part, bytes(xml)))


@settings(
    max_examples=150, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.tuples(st.integers(0, 100_000), st.integers(0, 255)), min_size=1, max_size=6))
def test_fuzzed_zip_bytes_give_a_reading_or_an_import_file_error(
    sample_book: bytes, edits: list[tuple[int, int]]
) -> None:
    """Bytes changed anywhere in the file (headers, compressed data) give rows or an
    ImportFileError, within the deadline."""
    data = bytearray(sample_book)
    for at, byte in edits:
        data[at % len(data)] = byte
    _reading_or_error(bytes(data))


_RAW = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    _TEXT.filter(lambda s: s.strip() == s and "_x" not in s),
    _TEXT.filter(lambda s: s.strip() == s and "_x" not in s).map(lambda s: ("inlineStr", s, None)),
    st.integers(1600, 2_958_465).map(lambda n: ("n", str(n), 1)),  # a date (format 14)
    st.integers(1600 * 1000, 2_958_465 * 1000).map(lambda n: ("n", str(n / 1000), 2)),
    st.integers(0, 999).map(lambda n: ("n", str(n / 1000), 3)),  # h:mm:ss
    st.integers(0, 99_999).map(lambda n: ("n", str(n / 1000), 4)),  # [h]:mm:ss
    st.integers(-(10**6), 10**6).map(lambda n: ("n", str(n / 8), 5)),  # 0.0E+00
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(_RAW, min_size=1, max_size=5), min_size=1, max_size=5), st.booleans())
def test_readings_agree_with_calamine(rows: list[list[object]], date1904: bool) -> None:
    """Workbooks with shared and inline strings, numbers, booleans, blanks, dates, times,
    durations and scientific formats in both date systems read as python-calamine
    reads them."""
    calamine = pytest.importorskip("python_calamine")
    if date1904:  # the same calendar days: 1904 serials are 1462 days fewer
        rows = [
            [
                (v[0], str(float(v[1]) - 1462), v[2])
                if isinstance(v, tuple) and v[2] in (1, 2)
                else v
                for v in row
            ]
            for row in rows
        ]
    out = io.BytesIO()
    with tempfile.TemporaryDirectory() as tmp:
        path = write_xlsx(
            Path(tmp) / "c.xlsx",
            {"S": rows},
            date1904=date1904,
            formats=["hh:mm:ss", "[h]:mm:ss", "0.0E+00"],
        )
        out.write(path.read_bytes())
        theirs = (
            calamine.CalamineWorkbook.from_path(str(path))
            .get_sheet_by_index(0)
            .to_python(skip_empty_area=False)
        )
    ours = dict(_read(out.getvalue()))
    for r, row in enumerate(theirs, start=1):
        if r not in ours:
            assert all(v == "" for v in row)
            continue
        for at, value in enumerate(row):
            mine = ours[r][at] if at < len(ours[r]) else None
            assert _same(mine, value) or (mine is None and value == ""), (r, at, mine, value)


def _rows_xml(n: int) -> list[bytes]:
    rows = "".join(f"<row><c><v>{i % 1000}</v></c></row>" for i in range(1, n + 1))
    return [
        f'<worksheet xmlns="{MAIN}"><sheetData>'.encode(),
        rows.encode(),
        b"</sheetData></worksheet>",
    ]


def test_the_unpacking_budget_counts_each_part_once(tmp_path: Path) -> None:
    """A sheet unpacking to most of the budget (16 × max_bytes) is read, though preview
    opens it twice (header, then rows); parts together over the budget are refused."""
    path = replace_part(
        write_xlsx(tmp_path / "a.xlsx", {"S": [["x"]]}),
        "xl/worksheets/sheet1.xml",
        _rows_xml(60_000),
    )
    with zipfile.ZipFile(path) as z:
        size = z.getinfo("xl/worksheets/sheet1.xml").file_size
    limit = size // 12  # the sheet unpacks to 12 × the size limit: over half the budget
    assert path.stat().st_size < limit
    assert preview(path, max_bytes=limit).row_count == 59_999
    text = "".join(f"<si><t>{i % 3000}</t></si>" for i in range(size // 40))  # half the sheet
    strings = [f'<sst xmlns="{MAIN}">'.encode(), text.encode(), b"</sst>"]
    both = replace_part(path, "xl/sharedStrings.xml", strings)
    with pytest.raises(ImportFileError, match="in total"):
        preview(both, max_bytes=limit)


def _wide(path: Path, n: int) -> Path:
    rows = "".join(f'<row><c r="XFD{i}"><v>1</v></c></row>' for i in range(1, n + 1))
    return replace_part(
        write_xlsx(path, {"S": [["x"]]}),
        "xl/worksheets/sheet1.xml",
        [f'<worksheet xmlns="{MAIN}"><sheetData>{rows}</sheetData></worksheet>'.encode()],
    )


def test_wide_rows_do_not_pile_up_in_memory(tmp_path: Path) -> None:
    """Rows of one cell at column XFD (16,384 cells each) are handed out a few at a time:
    previewing 3,000 of them stays under 64 MB of Python memory."""
    path = _wide(tmp_path / "w.xlsx", 3000)
    tracemalloc.start()
    try:
        assert preview(path).row_count == 2999
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 << 20


def test_too_many_implied_empty_cells_are_refused(tmp_path: Path) -> None:
    """A small sheet implying more than 64 × 1,048,576 empty cells (5,000 rows with one
    cell at XFD) is refused with the row where it happens, not read for minutes."""
    with pytest.raises(ImportFileError, match="too many empty columns") as info:
        preview(_wide(tmp_path / "w.xlsx", 5000))
    assert (info.value.row, info.value.column) == (4097, "XFD")


def test_a_duration_column_typed_as_a_number(tmp_path: Path) -> None:
    """A [h]:mm:ss column typed float gives Excel's number of days; typed str, its text."""
    rows = [["phone", "spent", "again"], ["0912345678", ("n", "1.5", 3), ("n", "1.5", 3)]]
    path = write_xlsx(tmp_path / "h.xlsx", {"S": rows}, formats=["[h]:mm:ss"])
    mapping = ColumnMapping(phone="phone", types={"spent": "float", "again": "str"})
    (contact,) = list(import_contacts(path, mapping, region="TW"))
    assert contact.attributes == {"spent": 1.5, "again": "36:00:00"}


@given(st.timedeltas(timedelta(days=-5000), timedelta(days=5000)))
def test_duration_text_reads_back(value: timedelta) -> None:
    """A duration's text is [-]hours:mm:ss[.mmm] and reads back to it, to the ms."""
    value = timedelta(milliseconds=round(value.total_seconds() * 1000))
    text = text_of(value)
    sign = -1 if text.startswith("-") else 1
    hours, minutes, seconds = text.lstrip("-").split(":")
    assert len(minutes) == 2
    assert int(minutes) < 60
    assert float(seconds) < 60
    back = timedelta(hours=int(hours), minutes=int(minutes), seconds=float(seconds)) * sign
    assert abs(back - value) < timedelta(microseconds=1)


@given(
    st.one_of(
        st.dates(),
        st.datetimes().map(lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000)),
        st.times().map(lambda t: t.replace(microsecond=t.microsecond // 1000 * 1000)),
    )
)
def test_iso_cells_read_back(value: date | time) -> None:
    """A t="d" cell holding a date, date and time, or time in ISO form reads back as it."""
    text = (
        value.isoformat(timespec="milliseconds")
        if not isinstance(value, date) or isinstance(value, datetime)
        else value.isoformat()
    )
    assert _iso_cell(text) == value
    if ":" in text:  # an offset is kept (issue 14 review: "Z" was dropped)
        assert _iso_cell(text + "Z") == value.replace(tzinfo=timezone.utc)
    if isinstance(value, datetime) and 1 < value.year < 9999:
        india = timezone(timedelta(hours=5, minutes=30))
        moment = _iso_cell(text + "+05:30")
        assert moment == value.replace(tzinfo=india)
        assert moment.utcoffset() == timedelta(0)  # type: ignore[union-attr]


def test_iso_cells_keep_their_offset(tmp_path: Path) -> None:
    """A t="d" cell with "Z" or "+09:00" is that moment, not a time in the import's zone
    (issue 14 review: 09:00Z was read as 09:00 in Taipei, 8 hours off). openpyxl drops
    the offset here (it returns 09:00 naive for both), and calamine returns the text, so
    neither is a reference for this case."""
    rows = [
        ["phone", "z", "tokyo", "naive"],
        [
            "0912345678",
            ("d", "2024-03-01T09:00:00Z", None),
            ("d", "2024-03-01T09:00:00+09:00", None),
            ("d", "2024-03-01T09:00:00", None),
        ],
    ]
    path = write_xlsx(tmp_path / "z.xlsx", {"S": rows})
    types = {"z": "datetime", "tokyo": "datetime", "naive": "datetime"}
    mapping = ColumnMapping(phone="phone", types=types)
    (contact,) = list(import_contacts(path, mapping, region="TW", time_zone="Asia/Taipei"))
    assert contact.attributes == {
        "z": datetime(2024, 3, 1, 9, tzinfo=timezone.utc),
        "tokyo": datetime(2024, 3, 1, 0, tzinfo=timezone.utc),
        "naive": datetime(2024, 3, 1, 1, tzinfo=timezone.utc),  # 09:00 in Taipei
    }


@pytest.mark.parametrize("method", [zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
def test_parts_not_deflated_are_refused_unread(tmp_path: Path, method: int) -> None:
    """A bzip2 or LZMA part is refused before it is read: zipfile unpacks a whole read
    of one in a single call, past any limit (issue 14 review: a 2 KB workbook whose
    sheet is 300 MB of bzip2, declared as 200 KB, took 638 MB). Here a small bzip2
    sheet, which the reader used to read."""
    path = write_xlsx(tmp_path / "b.xlsx", {"S": [["phone"], ["0912345678"]]})
    with zipfile.ZipFile(path) as old:
        parts = {n: old.read(n) for n in old.namelist()}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in parts.items():
            z.writestr(name, data, compress_type=method if "sheet1" in name else None)
    with pytest.raises(ImportFileError, match=r"compressed with .*deflate") as info:
        preview(path)
    assert "save it again" in str(info.value.hint)


def test_a_part_unpacking_past_its_declared_size_is_refused(tmp_path: Path) -> None:
    """The bytes really unpacked are what count: a deflated sheet declaring 200 KB but
    unpacking to 10 MB is refused (never more than the declared size is read)."""
    path = write_xlsx(tmp_path / "d.xlsx", {"S": [["x"]]})
    row = b"<row><c><v>1</v></c></row>"
    replace_part(
        path,
        "xl/worksheets/sheet1.xml",
        [f'<worksheet xmlns="{MAIN}"><sheetData>'.encode(), *[row * 80_000] * 5, b"</sheetData>"],
    )
    _declare(path, "xl/worksheets/sheet1.xml", 200_000)
    tracemalloc.start()
    try:
        with pytest.raises(ImportFileError):
            preview(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20


def _declare(path: Path, name: str, size: int) -> None:
    """Make the central directory declare ``size`` unpacked bytes for the part ``name``."""
    data = bytearray(path.read_bytes())
    entry = data.rfind(b"PK\x01\x02", 0, data.rfind(name.encode()))
    if int.from_bytes(data[entry + 24 : entry + 28], "little") == 0xFFFFFFFF:  # zip64
        extra = data.find(b"\x01\x00", entry + 46 + len(name))
        data[extra + 4 : extra + 12] = size.to_bytes(8, "little")
    else:
        data[entry + 24 : entry + 28] = size.to_bytes(4, "little")
    path.write_bytes(bytes(data))


def test_cells_without_references_stop_at_column_xfd(tmp_path: Path) -> None:
    """Cells without r= count toward Excel's last column (issue 14 review: a 2.5 KB file
    gave a row of 20,000 cells): the 16,385th is refused with its row."""
    cells = "<c><v>1</v></c>" * 16_385
    data = f'<row r="1"><c t="inlineStr"><is><t>x</t></is></c></row><row r="2">{cells}</row>'
    path = write_xlsx(tmp_path / "n.xlsx", {"S": [["x"]]}, sheet_data=data)
    assert path.stat().st_size < 10_000
    with pytest.raises(ImportFileError, match="past column XFD") as info:
        preview(path)
    assert info.value.row == 2
    ok = data.replace("<c><v>1</v></c>", "", 1)
    assert preview(write_xlsx(tmp_path / "ok.xlsx", {"S": [["x"]]}, sheet_data=ok)).row_count == 1


def test_number_formats_of_differential_styles_are_not_cell_formats(tmp_path: Path) -> None:
    """A <numFmt> inside <dxfs> (conditional formatting) reusing a numFmtId does not
    make the cells of that id dates (issue 14 review: a phone column read as a date)."""
    rows = [["phone"], [("n", "912345678", 3)]]
    path = write_xlsx(tmp_path / "f.xlsx", {"S": rows}, formats=["0"])
    with zipfile.ZipFile(path) as old:
        parts = {n: old.read(n) for n in old.namelist()}
    dxf = b'<dxfs count="1"><dxf><numFmt numFmtId="165" formatCode="yyyy-mm-dd"/></dxf></dxfs>'
    parts["xl/styles.xml"] = parts["xl/styles.xml"].replace(
        b"</styleSheet>", dxf + b"</styleSheet>"
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in parts.items():
            z.writestr(name, data)
    assert preview(path).rows == (("912345678",),)


@pytest.mark.parametrize("index", ["-1", "1.0", "0x1", "99999999999999999999"])
def test_shared_text_indexes_that_are_not_there(tmp_path: Path, index: str) -> None:
    """A shared-string index that is negative (it read the last string: another row's
    phone), not a whole number or past the table is refused with its row and column."""
    rows = [["phone", "note"], ["0912345678", "x"], ["0922333444", ("s", index, None)]]
    path = write_xlsx(tmp_path / "s.xlsx", {"S": rows})
    with pytest.raises(ImportFileError, match="shared text") as info:
        preview(path)
    assert (info.value.row, info.value.column) == (3, "B")


@given(
    st.lists(
        st.one_of(st.none(), st.text(max_size=12), st.text("a字😀", min_size=1, max_size=3)),
        max_size=9000,
    )
)
@settings(max_examples=30, deadline=None)
def test_the_compact_shared_string_table_gives_back_what_went_in(
    strings: list[str | None],
) -> None:
    """Every string of the table (None for one over the limit) reads back at its
    index, across blocks and character widths."""
    table = SharedStrings()
    for text in strings:
        table.append(text)
    table.finish()
    assert len(table) == len(strings)
    assert [table[i] for i in range(len(strings))] == strings


def test_one_wide_character_does_not_widen_its_neighbours() -> None:
    """4,095 ASCII strings and one emoji: the ASCII text stays 1 byte a character."""
    table = SharedStrings()
    for i in range(40_000):
        table.append("😀" if i == 5 else "a" * 100)
    table.finish()
    assert table[5] == "😀"
    assert table[39_999] == "a" * 100
    size = sum(sys.getsizeof(block) for block in table._blocks)
    assert size < 40_000 * 100 * 1.1, size


def test_many_short_shared_strings_are_stored_compactly(tmp_path: Path) -> None:
    """200,000 distinct short shared strings cost their characters and a few bytes
    each, not a Python object each (issue 14 review: a 25 MB workbook of 9.8 million
    of them peaked at 728 MB)."""
    path = write_xlsx(tmp_path / "s.xlsx", {"S": [["phone"], ["0912345678"]]})
    text = "".join(f"<si><t>{i}</t></si>" for i in range(200_000))
    replace_part(path, "xl/sharedStrings.xml", [f'<sst xmlns="{MAIN}">{text}</sst>'.encode()])
    source = open_source(path)
    tracemalloc.start()
    try:
        table = XlsxTable(source, sheet=None, max_bytes=1 << 24)
        held = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
        source.close()
    assert table._shared[123_456] == "123456"
    assert held < 4 << 20, held


def test_an_iso_moment_past_year_9999_in_utc_is_refused(tmp_path: Path) -> None:
    """9999-12-31T23:00-05:00 is in the year 10000 in UTC: an ImportFileError naming the
    cell, not a raw OverflowError."""
    rows = [["phone", "at"], ["0912345678", ("d", "9999-12-31T23:00:00-05:00", None)]]
    with pytest.raises(ImportFileError, match="not an ISO date") as info:
        preview(write_xlsx(tmp_path / "y.xlsx", {"S": rows}))
    assert (info.value.row, info.value.column) == (2, "B")
