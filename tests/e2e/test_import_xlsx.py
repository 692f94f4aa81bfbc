"""Workbooks as Excel and other tools really write them, and hostile ones, end to end.

Driven as docs/audiences.md teaches it: `msgkit.io.preview` to look, `client.import_list`
to import, a campaign to send. The workbooks are written by openpyxl (a real writer) or,
for the hostile ones, by hand in the test; all are small on disk.
"""

from __future__ import annotations

import zipfile
from datetime import date, time, timedelta
from pathlib import Path

import openpyxl
import pytest
from openpyxl.utils.datetime import CALENDAR_MAC_1904

import msgkit
from msgkit.io import preview
from tests.e2e.conftest import tw_e164, tw_numbers


def _send(client: msgkit.Client, list_id: str, body: str) -> dict[str, str]:
    campaign = client.create_campaign(f"to {list_id}", body, audience=list_id)
    client.start(campaign)
    client.run(progress=False)
    return {
        m.recipient: m.text
        for m in client.messages(campaign)
        if m.state is not msgkit.MessageState.SKIPPED
    }


def _book(
    path: Path, rows: list[list[object]], formats: dict[int, str], *, mac: bool = False
) -> Path:
    book = openpyxl.Workbook()
    if mac:
        book.epoch = CALENDAR_MAC_1904
    sheet = book.active
    assert sheet is not None
    for r, row in enumerate(rows, start=1):
        for c, value in enumerate(row, start=1):
            cell = sheet.cell(row=r, column=c, value=value)
            if r > 1 and c in formats:
                cell.number_format = formats[c]
    book.save(path)
    return path


@pytest.mark.parametrize("mac", [False, True])
def test_number_formats_times_and_durations_read_as_excel_shows_them(
    client: msgkit.Client, tmp_path: Path, mac: bool
) -> None:
    """Phones in a scientific format, times of day, [h]:mm durations and dates read as
    Excel shows them, in 1900 and 1904 workbooks, and reach the messages (issue 14)."""
    numbers = tw_numbers(2)
    rows: list[list[object]] = [["Mobile", "Slot", "Spent", "Ratio", "Joined"]]
    for i, n in enumerate(numbers):
        rows.append(
            [
                int(n.replace("-", "")),  # Excel drops the leading 0 of 09...
                time(8, 15 + i),
                timedelta(days=1, hours=12 + i),
                1.5 + i,
                date(2024, 3, 1 + i),
            ]
        )
    path = _book(tmp_path / "members.xlsx", rows, {1: "0.0E+00", 4: "0.0E+00"}, mac=mac)
    p = preview(path)
    assert p.rows[0] == (
        str(int(numbers[0].replace("-", ""))),
        "08:15:00",
        "36:00:00",
        "1.5",
        "2024-03-01",
    )
    members = client.import_list(path, phone="Mobile", types={"Joined": "date"}, region="TW")
    assert (members.summary.accepted, members.summary.rejected) == (2, 0)
    got = _send(client, members.id, "Slot ${Slot}, ratio ${Ratio}, since ${Joined}")
    assert got == {
        tw_e164(n): f"Slot 08:{15 + i}:00, ratio {1.5 + i}, since 2024-03-0{i + 1}"
        for i, n in enumerate(numbers)
    }


def _hostile(
    path: Path, sheet_xml: str, *, shared: bytes | None = None, method: int | None = None
) -> Path:
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    pkg = "http://schemas.openxmlformats.org/package/2006/relationships"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(
            "xl/workbook.xml",
            f'<workbook xmlns="{main}" xmlns:r="{rel}"><sheets>'
            '<sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>',
        )
        z.writestr(
            "xl/_rels/workbook.xml.rels",
            f'<Relationships xmlns="{pkg}"><Relationship Id="rId1" Type="{rel}/worksheet" '
            'Target="worksheets/sheet1.xml"/></Relationships>',
        )
        z.writestr("xl/worksheets/sheet1.xml", sheet_xml.replace("MAIN", main), method)
        if shared is not None:
            with z.open("xl/sharedStrings.xml", "w") as part:
                part.write(f'<sst xmlns="{main}"><si><t>'.encode())
                for _ in range(40):
                    part.write(shared)
                part.write(b"</t></si></sst>")
    return path


_HEADER = '<row r="1"><c r="A1" t="inlineStr"><is><t>Mobile</t></is></c></row>'
_ROWS = _HEADER + '<row r="2"><c r="A2" t="inlineStr"><is><t>0912345678</t></is></c></row>'


@pytest.mark.parametrize(
    ("name", "sheet", "shared", "match"),
    [
        (
            "bomb",
            f'<worksheet xmlns="MAIN"><sheetData>{_ROWS}</sheetData></worksheet>',
            b"a" * (1 << 20),
            "unpacks to",
        ),
        (
            "dtd",
            '<!--<x--><!DOCTYPE w [<!ENTITY a "aaaa">]>'
            f'<worksheet xmlns="MAIN"><sheetData>{_ROWS}</sheetData></worksheet>',
            None,
            "DTD",
        ),
        (
            "column",
            f'<worksheet xmlns="MAIN"><sheetData>{_ROWS}'
            '<row r="3"><c r="ZZZZZZZ3"><v>1</v></c></row></sheetData></worksheet>',
            None,
            "row 3, column 'ZZZZZZZ'",
        ),
        (
            "long",
            f'<worksheet xmlns="MAIN"><sheetData>{_ROWS}<row r="3"><c r="A3" '
            f't="inlineStr"><is><t>{"0" * 40_000}</t></is></c></row></sheetData></worksheet>',
            None,
            "row 3, column 'A'.*32,767",
        ),
        (
            "date",
            f'<worksheet xmlns="MAIN"><sheetData>{_ROWS}'
            '<row r="3"><c r="A3" t="d"><v>someday</v></c></row></sheetData></worksheet>',
            None,
            "row 3, column 'A'",
        ),
        (
            "bzip2",
            f'<worksheet xmlns="MAIN"><sheetData>{_ROWS}</sheetData></worksheet>',
            None,
            "compressed with bzip2",
        ),
        (
            "unreferenced",
            f'<worksheet xmlns="MAIN"><sheetData>{_ROWS}'
            f'<row r="3">{"<c><v>1</v></c>" * 16_385}</row></sheetData></worksheet>',
            None,
            "row 3.*past column XFD",
        ),
        (
            "negative",
            f'<worksheet xmlns="MAIN"><sheetData>{_ROWS}'
            '<row r="3"><c r="A3" t="s"><v>-1</v></c></row></sheetData></worksheet>',
            b"0922333444",
            "row 3, column 'A'.*shared text",
        ),
    ],
)
def test_hostile_workbooks_are_refused_and_leave_no_list(
    client: msgkit.Client, tmp_path: Path, name: str, sheet: str, shared: bytes | None, match: str
) -> None:
    """Zip bombs, a DTD behind a comment, a column past XFD (named, or the 16,385th cell
    without a reference), a 40,000-character cell, a broken date, a bzip2 sheet and a
    shared-text index of -1 are an ImportFileError from preview and import_list, saying what to
    do; no list is left behind (issue 14)."""
    method = zipfile.ZIP_BZIP2 if name == "bzip2" else None
    path = _hostile(tmp_path / f"{name}.xlsx", sheet, shared=shared, method=method)
    assert path.stat().st_size < 200_000
    with pytest.raises(msgkit.ImportFileError, match=match) as info:
        preview(path)
    assert info.value.hint
    with pytest.raises(msgkit.ImportFileError, match=match):
        client.import_list(path, phone="Mobile", region="TW")
    assert client.lists() == []
