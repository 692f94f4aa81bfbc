"""Tests of reading XLSX recipient files: sheets, shared and inline text, dates, limits."""

from __future__ import annotations

import zipfile
from datetime import date, datetime, timezone
from pathlib import Path

import pytest

from msgkit import ImportFileError
from msgkit.io import ColumnMapping, import_contacts, preview
from tests.io.xlsx_writer import write_xlsx

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
