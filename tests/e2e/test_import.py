"""Recipient files in: CSV and XLSX import, preview, rejected rows, encodings, lists.

Driven as docs/audiences.md and docs/sending.md teach it: `msgkit.io.preview` to look,
`client.import_list` to import, `client.lists()` / `client.delete_list` to manage.
"""

from __future__ import annotations

import csv
import io
import os
import signal
import subprocess
import sys
import textwrap
from datetime import date
from pathlib import Path

import openpyxl
import pytest

import msgkit
from msgkit.io import preview
from msgkit.testing import Simulator
from tests.e2e.conftest import WriteCsv, tw_e164, tw_numbers


def _send(client: msgkit.Client, list_id: str, body: str = "Hi ${name}") -> dict[str, str]:
    """Start a campaign on ``list_id``, run it, and return who got which text."""
    campaign = client.create_campaign(f"to {list_id}", body, audience=list_id)
    client.start(campaign)
    client.run(progress=False)
    return {
        m.recipient: m.text
        for m in client.messages(campaign)
        if m.state is not msgkit.MessageState.SKIPPED
    }


def _write_xlsx(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Members"
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def test_csv_mapped_columns_become_template_variables(
    client: msgkit.Client, sim: Simulator, write_csv: WriteCsv
) -> None:
    """A CSV import maps columns to variables; each member's text carries their values."""
    numbers = tw_numbers(3)
    path = write_csv(
        [(n, f"Member {i}", f"Store {i}") for i, n in enumerate(numbers)],
        header=("Mobile", "Full Name", "Shop"),
    )
    members = client.import_list(path, phone="Mobile", variables={"name": "Full Name"}, region="TW")
    assert (members.summary.rows, members.summary.accepted, members.summary.rejected) == (3, 3, 0)
    got = _send(client, members.id, "Hi ${name}, see you at ${Shop}")
    assert got == {
        tw_e164(n): f"Hi Member {i}, see you at Store {i}" for i, n in enumerate(numbers)
    }
    assert sim.recipients.most_common(1)[0][1] == 1


def test_xlsx_import_reaches_every_row(
    client: msgkit.Client, sim: Simulator, tmp_path: Path
) -> None:
    """An XLSX sheet imports like a CSV: mapped variables, date cells as dates, counts."""
    numbers = tw_numbers(4)
    path = _write_xlsx(
        tmp_path / "members.xlsx",
        ["Mobile", "Name", "Joined"],
        [[n, f"Member {i}", date(2024, 3, i + 1)] for i, n in enumerate(numbers)],
    )
    members = client.import_list(
        path,
        phone="Mobile",
        variables={"name": "Name", "joined": "Joined"},
        types={"Joined": "date"},
        region="TW",
    )
    assert members.summary.accepted == 4
    got = _send(client, members.id, "Hi ${name}, member since ${joined}")
    assert got == {
        tw_e164(n): f"Hi Member {i}, member since 2024-03-0{i + 1}" for i, n in enumerate(numbers)
    }
    assert len(sim.messages) == 4


def test_preview_shows_columns_first_rows_and_exact_count(
    write_csv: WriteCsv, tmp_path: Path
) -> None:
    """preview gives the columns, the first two rows and the exact row count, CSV and XLSX."""
    numbers = tw_numbers(5)
    rows = [(n, f"Member {i}") for i, n in enumerate(numbers)]
    p = preview(write_csv(rows))
    assert p.format == "csv"
    assert p.columns == ("Mobile", "Name")
    assert p.row_count == 5
    assert p.rows == (tuple(rows[0]), tuple(rows[1]))
    assert p.row_numbers == (2, 3)
    assert "5 rows" in str(p)
    x = preview(_write_xlsx(tmp_path / "m.xlsx", ["Mobile", "Name"], [list(r) for r in rows]))
    assert (x.format, x.sheet, x.columns, x.row_count) == ("xlsx", "Members", ("Mobile", "Name"), 5)
    assert x.rows[0] == tuple(rows[0])


def test_rejected_rows_are_reported_and_never_messaged(
    client: msgkit.Client, sim: Simulator, write_csv: WriteCsv
) -> None:
    """Bad rows are reported with row, column and reason (and as CSV), and get nothing."""
    good = tw_numbers(2)
    path = write_csv(
        [
            (good[0], "Amy", "2024-03-01"),
            ("12", "Bob", "2024-03-02"),
            ("", "Cat", "2024-03-03"),
            (good[1], "Dan", "not a date"),
            (good[1], "Dan", "2024-03-04"),
            (good[0].replace("-", " "), "Amy again", "2024-03-05"),
        ],
        header=("Mobile", "Name", "Joined"),
    )
    members = client.import_list(
        path, phone="Mobile", variables={"name": "Name"}, types={"Joined": "date"}, region="TW"
    )
    summary = members.summary
    assert (summary.rows, summary.accepted, summary.rejected) == (6, 2, 4)
    assert dict(summary.by_reason) == {
        "invalid_phone": 1,
        "empty_phone": 1,
        "bad_date": 1,
        "duplicate": 1,
    }
    rejected = list(csv.DictReader(io.StringIO(members.rejections_csv)))
    assert [(r["row"], r["column"], r["reason"]) for r in rejected] == [
        ("3", "Mobile", "invalid_phone"),
        ("4", "Mobile", "empty_phone"),
        ("5", "Joined", "bad_date"),
        ("7", "Mobile", "duplicate"),
    ]
    assert rejected[0]["Name"] == "Bob"  # the original cells, ready to fix and upload again
    assert rejected[3]["duplicate_of"] == "2"
    assert "+8869" not in members.rejections_csv.split("Mobile", 1)[0]
    [stored] = client.lists()
    assert (stored["rows"], stored["rejected"]) == (2, 4)
    got = _send(client, members.id)
    assert got == {tw_e164(good[0]): "Hi Amy", tw_e164(good[1]): "Hi Dan"}
    assert sim.recipients.most_common(1)[0][1] == 1


@pytest.mark.parametrize(
    ("encoding", "names"),
    [
        ("utf-8-sig", ["王小明", "Zoë Adams", "山田太郎"]),
        ("big5", ["陳小明", "林美麗", "張志豪"]),
        ("shift_jis", ["山田太郎", "さくらさん", "たなかはなこ"]),
        ("gb18030", ["张伟国", "王秀英", "李晓东"]),
    ],
)
def test_legacy_encodings_are_detected_and_read_exactly(
    client: msgkit.Client, write_csv: WriteCsv, encoding: str, names: list[str]
) -> None:
    """UTF-8 with BOM, Big5, Shift_JIS and GB18030 files import without mojibake."""
    numbers = tw_numbers(len(names))
    path = write_csv(list(zip(numbers, names, strict=True)), encoding=encoding)
    assert preview(path).columns == ("Mobile", "Name")  # the BOM is not part of a name
    members = client.import_list(path, phone="Mobile", variables={"name": "Name"}, region="TW")
    assert members.summary.accepted == len(names)
    got = _send(client, members.id)
    assert got == {tw_e164(n): f"Hi {name}" for n, name in zip(numbers, names, strict=True)}


def test_same_number_in_two_formats_is_one_recipient(
    client: msgkit.Client, sim: Simulator, write_csv: WriteCsv
) -> None:
    """National, spaced and international spellings of one number dedupe to one message."""
    n = tw_numbers(1)[0]
    e164 = tw_e164(n)
    path = write_csv([(n, "Amy"), (n.replace("-", " "), "Amy 2"), (e164, "Amy 3")])
    members = client.import_list(path, phone="Mobile", variables={"name": "Name"}, region="TW")
    assert (members.summary.accepted, dict(members.summary.by_reason)) == (1, {"duplicate": 2})
    assert _send(client, members.id) == {e164: "Hi Amy"}
    assert sim.recipients == {e164: 1}


def test_lists_and_delete_list(client: msgkit.Client, write_csv: WriteCsv) -> None:
    """lists() shows every import with its counts; delete_list removes one, not the others."""
    a = client.import_list(
        write_csv([(n, "A") for n in tw_numbers(3)], name="a.csv"), phone="Mobile", region="TW"
    )
    b = client.import_list(
        write_csv([(n, "B") for n in tw_numbers(2, start=10)], name="b.csv"),
        phone="Mobile",
        region="TW",
        name="second batch",
    )
    assert sorted((x["id"], x["name"], x["rows"]) for x in client.lists()) == sorted(
        [(a.id, "a.csv", 3), (b.id, "second batch", 2)]
    )
    client.delete_list(a.id)
    assert [x["id"] for x in client.lists()] == [b.id]
    with pytest.raises(msgkit.NotFoundError):
        client.delete_list(a.id)
    assert len(_send(client, b.id, "Hi")) == 2


def _bad_byte_file(tmp_path: Path, rows: int, bad_row: int) -> Path:
    """A UTF-8 CSV (names in Chinese) with an invalid byte on file row ``bad_row``."""
    lines = [f"{n},會員 {i}\n".encode() for i, n in enumerate(tw_numbers(rows))]
    lines[bad_row - 2] = lines[bad_row - 2].replace("會員".encode(), b"\xff\xfe")
    path = tmp_path / "broken.csv"
    path.write_bytes(b"Mobile,Name\n" + b"".join(lines))
    return path


def test_failed_import_leaves_no_list(
    client: msgkit.Client, sim: Simulator, write_csv: WriteCsv, tmp_path: Path
) -> None:
    """An import that raises at row 5,002 leaves no list, and the lists before it intact."""
    before = client.import_list(
        write_csv([(n, "Old") for n in tw_numbers(3, start=9000)]), phone="Mobile", region="TW"
    )
    with pytest.raises(msgkit.ImportFileError, match="row 5002"):
        client.import_list(_bad_byte_file(tmp_path, 6000, 5002), phone="Mobile", region="TW")
    assert [(x["id"], x["rows"]) for x in client.lists()] == [(before.id, 3)]
    got = _send(client, before.id, "Hi")
    assert sorted(got) == sorted(tw_e164(n) for n in tw_numbers(3, start=9000))
    assert len(sim.messages) == 3


def test_failed_create_list_leaves_no_list(client: msgkit.Client) -> None:
    """A list given in code whose contacts raise halfway is not stored at all."""

    def contacts() -> object:
        for i in range(2500):
            if i == 2000:
                raise ValueError("the member system went away")
            yield msgkit.Contact(phone=f"+8869120{i:05d}")

    with pytest.raises(ValueError, match="went away"):
        client.create_list("from code", contacts())  # type: ignore[arg-type]
    assert client.lists() == []


class _Killer:
    script = textwrap.dedent(
        """
        import io, os, signal, sys
        import msgkit

        class KillHalfway(io.BytesIO):
            # A file that kills its process once the import has read far into it.
            def read(self, size=-1):
                if self.tell() >= {at}:
                    os.kill(os.getpid(), signal.SIGKILL)
                return super().read(size)

            def read1(self, size=-1):
                if self.tell() >= {at}:
                    os.kill(os.getpid(), signal.SIGKILL)
                return super().read1(size)

            def readinto(self, buffer):
                if self.tell() >= {at}:
                    os.kill(os.getpid(), signal.SIGKILL)
                return super().readinto(buffer)

        data = open(sys.argv[2], "rb").read()
        client = msgkit.Client(store=sys.argv[1])
        client.import_list(KillHalfway(data), phone="Mobile", region="TW", name="killed")
        """
    )


def test_import_killed_midway_leaves_no_list(db: str, tmp_path: Path, write_csv: WriteCsv) -> None:
    """After a process is killed (SIGKILL) mid-import, the next open shows no half list."""
    first = msgkit.Client(store=db)
    kept = first.import_list(
        write_csv([(n, "Old") for n in tw_numbers(2, start=90000)]), phone="Mobile", region="TW"
    )
    first.close()
    lines = [f"{n},會員 {i}\n".encode() for i, n in enumerate(tw_numbers(60000))]
    path = tmp_path / "big.csv"
    path.write_bytes(b"Mobile,Name\n" + b"".join(lines))
    script = tmp_path / "kill.py"
    script.write_text(_Killer.script.format(at=path.stat().st_size * 2 // 3))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, str(script), db, str(path)],
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()
    again = msgkit.Client(store=db)
    try:
        assert [(x["id"], x["rows"]) for x in again.lists()] == [(kept.id, 2)]
    finally:
        again.close()


# -- issue 14: recipient files as they really are, and hostile ones refused --------------


@pytest.mark.parametrize(
    ("encoding", "names"),
    [
        ("cp950", ["陳恒之", "林裏美", "王碁"]),
        ("cp932", ["髙橋一郎", "佐藤①", "鈴木花子"]),
        (
            "cp949",
            [s + g for s in "김이박최정" for g in ("민수", "영희", "지성", "유진", "하늘", "도윤")],
        ),
        ("utf-16-le", ["王小明", "Zoë", "김민수"]),
    ],
)
def test_windows_exports_import_their_real_names(
    client: msgkit.Client, write_csv: WriteCsv, encoding: str, names: list[str]
) -> None:
    """cp950 (恒 裏 碁), cp932 (髙 ①), EUC-KR and BOM-less UTF-16 lists send the real names."""
    numbers = tw_numbers(len(names))
    path = write_csv(list(zip(numbers, names, strict=True)), encoding=encoding)
    assert preview(path).encoding == encoding
    members = client.import_list(path, phone="Mobile", variables={"name": "Name"}, region="TW")
    assert members.summary.accepted == len(names)
    got = _send(client, members.id)
    assert got == {tw_e164(n): f"Hi {name}" for n, name in zip(numbers, names, strict=True)}


def test_rejections_csv_opens_safely_in_a_spreadsheet(
    client: msgkit.Client, write_csv: WriteCsv
) -> None:
    """A rejected row's formula cells come back after a ', and the file imports again."""
    good = tw_numbers(1)
    hostile = ["=cmd|' /C calc'!A0", "+SUM(A1)", "-1+1", "@SUM(A1)"]
    rows = [(good[0], "Amy")] + [(good[0], cell) for cell in hostile]
    members = client.import_list(write_csv(rows), phone="Mobile", region="TW")
    rejected = list(csv.DictReader(io.StringIO(members.rejections_csv)))
    assert [r["Name"] for r in rejected] == ["'" + cell for cell in hostile]
    for row in rejected:
        assert not any(v.startswith(("=", "+", "-", "@")) for v in row.values())
    again = client.import_list(members.rejections_csv.encode(), phone="Mobile", region="TW")
    assert again.summary.accepted == 1
    assert again.preview[0].attributes["Name"] == hostile[0]


def test_only_a_rejections_file_loses_its_quotes(client: msgkit.Client, tmp_path: Path) -> None:
    """A member id +42 comes back +42 from the rejections file; in a file of the user's
    own, '-) smile is kept as written."""
    good, other = tw_numbers(2)
    path = tmp_path / "members.csv"
    path.write_text(f"Member,Mobile,Note\n+42,bad,x\nm2,{good},'-) smile\n", encoding="utf-8")
    members = client.import_list(path, phone="Mobile", key="Member", region="TW")
    assert members.preview[0].attributes["Note"] == "'-) smile"
    fixed = members.rejections_csv.replace(",bad,", f",{other},")
    again = client.import_list(fixed.encode(), phone="Mobile", key="Member", region="TW")
    assert again.summary.accepted == 1
    assert again.preview[0].key == "+42"


def test_unclosed_quote_fails_the_import_naming_the_row(
    client: msgkit.Client, tmp_path: Path
) -> None:
    """A quote left open swallows no rows silently: an error naming its row, and no list."""
    numbers = tw_numbers(3000)
    lines = ["Mobile,Name", f'{numbers[0]},"Amy'] + [f"{n},Member" for n in numbers[1:]]
    path = tmp_path / "members.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    for attempt in (lambda: preview(path), lambda: client.import_list(path, phone="Mobile")):
        with pytest.raises(msgkit.ImportFileError, match="quote") as info:
            attempt()
        assert info.value.row == 2
    assert client.lists() == []


def test_stray_quote_closed_later_fails_the_import(client: msgkit.Client, tmp_path: Path) -> None:
    """A stray quote closed 31 lines on by a `say "hi"` note swallows no rows silently; a
    300-line note and a 40,000-character cell on one line are read, not refused."""
    numbers = tw_numbers(33)
    lines = ["Mobile,Note,Blob", f'{numbers[0]},"oops,x']
    lines += [f"{n},n{i},x" for i, n in enumerate(numbers[1:31])]
    lines += [f'{numbers[31]},say "hi",x']
    path = tmp_path / "members.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    for attempt in (lambda: preview(path), lambda: client.import_list(path, phone="Mobile")):
        with pytest.raises(msgkit.ImportFileError, match="look like rows") as info:
            attempt()
        assert (info.value.row, info.value.column) == (2, "B")
    assert client.lists() == []
    note = "\n".join(f"call {i}" for i in range(300))
    path.write_text(
        f'Mobile,Note,Blob\n{numbers[0]},"{note}",{"z" * 40_000}\n{numbers[1]},ok,y\n',
        encoding="utf-8",
    )
    members = client.import_list(path, phone="Mobile", region="TW", max_cell_chars=50_000)
    assert members.summary.accepted == 2
    assert members.preview[0].attributes["Note"] == note


def test_hostile_headers_and_dates_are_answered(client: msgkit.Client, tmp_path: Path) -> None:
    """A header of 100,000 repeats is refused at once; 9999-12-31 at -05:00 is a rejection."""
    path = tmp_path / "wide.csv"
    path.write_text("Mobile," + ",".join(["x"] * 100_000) + "\n", encoding="utf-8")
    with pytest.raises(msgkit.ImportFileError, match="columns"):
        client.import_list(path, phone="Mobile")
    path = tmp_path / "dates.csv"
    numbers = tw_numbers(2)
    path.write_text(
        f"Mobile,Seen\n{numbers[0]},9999-12-31 23:00\n{numbers[1]},2024-01-01 10:00\n",
        encoding="utf-8",
    )
    members = client.import_list(
        path, phone="Mobile", region="TW", types={"Seen": "datetime"}, time_zone="America/New_York"
    )
    assert (members.summary.accepted, members.summary.by_reason) == (1, {"bad_date": 1})


def test_blank_cell_keeps_the_member_and_reports_the_cell(
    client: msgkit.Client, sim: Simulator, write_csv: WriteCsv
) -> None:
    """on_bad_value='blank_cell': a bad birthday leaves the cell empty; the member is sent."""
    numbers = tw_numbers(2)
    path = write_csv(
        [(numbers[0], "Amy", "1990-02-31"), (numbers[1], "Bob", "1990-01-02")],
        header=("Mobile", "Name", "Birthday"),
    )
    members = client.import_list(
        path,
        phone="Mobile",
        variables={"name": "Name"},
        types={"Birthday": "date"},
        region="TW",
        on_bad_value="blank_cell",
    )
    assert (members.summary.accepted, members.summary.rejected) == (2, 0)
    assert members.summary.blanked == 1
    [blanked] = list(csv.DictReader(io.StringIO(members.blanked_cells_csv)))
    assert (blanked["row"], blanked["column"], blanked["reason"]) == ("2", "Birthday", "bad_date")
    assert _send(client, members.id) == {
        tw_e164(numbers[0]): "Hi Amy",
        tw_e164(numbers[1]): "Hi Bob",
    }


def test_cli_import_on_bad_value(tmp_path: Path) -> None:
    """`msgkit import --on-bad-value blank_cell` keeps the member and lists the blanked cell."""
    numbers = tw_numbers(2)
    (tmp_path / "members.csv").write_text(
        f"Mobile,Note\n{numbers[0]},{'x' * 2000}\n{numbers[1]},ok\n", encoding="utf-8"
    )
    src = str(Path(msgkit.__file__).parents[1])
    env = {**os.environ, "PYTHONPATH": src, "COLUMNS": "200", "NO_COLOR": "1"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "msgkit",
            "import",
            "members.csv",
            "--phone",
            "Mobile",
            "--region",
            "TW",
            "--on-bad-value",
            "blank_cell",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "2 imported, 0 rejected" in done.stdout
    assert "row 2, Note: cell_too_long (left empty)" in done.stdout


def test_rejections_are_streamed_and_written_back(client: msgkit.Client, tmp_path: Path) -> None:
    """20,000 rejected rows are stored, and written back to a file a chunk at a time."""
    path = tmp_path / "bad.csv"
    path.write_text("Mobile,Name\n" + "".join(f"{i % 100},n{i}\n" for i in range(20_000)))
    members = client.import_list(path, phone="Mobile", region="TW")
    assert members.summary.rejected == 20_000
    assert client.lists()[0]["rejected"] == 20_000
    out = tmp_path / "rejected.csv"
    with out.open("w", encoding="utf-8", newline="") as handle:
        members.write_rejections_csv(handle)
    with out.open(encoding="utf-8", newline="") as handle:
        assert handle.read() == members.rejections_csv
    assert len(list(csv.DictReader(io.StringIO(members.rejections_csv)))) == 20_000
