"""Tests of reading CSV recipient files: encodings, delimiters, quoting, exact row counts."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from msgkit import ConfigError, ImportFileError
from msgkit.io import ColumnMapping, import_contacts, preview
from msgkit.io import _csv as csv_module

TEXTS = {
    "gb18030": (
        "姓名,手机,城市",
        ["王小明,13800138000,北京市朝阳区", "李娜,13912345678,上海市浦东新区"],
    ),
    "cp950": (
        "姓名,手機,城市",
        ["王小明,0912345678,台北市信義區", "陳美玲,0922333444,高雄市前鎮區"],
    ),
    "cp932": (
        "氏名,携帯,住所",
        ["山田太郎,09012345678,東京都新宿区", "佐藤花子,08011112222,大阪府大阪市"],
    ),
    "cp1252": (
        "name,phone,city",
        ["José Müller,+33612345678,Besançon", "Françoise Dupré,+33698765432,Orléans"],
    ),
    "utf-8": ("name,phone,city", ["王小明,+886912345678,臺北 🎉", "José,+33612345678,Orléans"]),
}


def _write(tmp_path: Path, data: bytes, name: str = "list.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("encoding", sorted(TEXTS))
def test_each_encoding_is_detected(tmp_path: Path, encoding: str) -> None:
    """A list in each supported encoding is detected and read as its real text."""
    header, rows = TEXTS[encoding]
    text = "\r\n".join([header, *rows]) + "\r\n"
    path = _write(tmp_path, text.encode(encoding))
    p = preview(path)
    assert p.encoding == encoding
    assert p.header == tuple(header.split(","))
    assert p.rows == tuple(tuple(r.split(",")) for r in rows)
    assert p.row_count == 2


def test_utf8_with_bom(tmp_path: Path) -> None:
    """A UTF-8 byte-order mark is removed: the first column is named without it."""
    path = _write(tmp_path, "\ufeffphone,name\n0912345678,王\n".encode())
    p = preview(path)
    assert p.encoding == "utf-8-sig"
    assert p.columns == ("phone", "name")
    run = import_contacts(path, ColumnMapping(phone="phone"), region="TW")
    assert [c.phone.e164 for c in run if c.phone] == ["+886912345678"]


def test_utf16_with_bom(tmp_path: Path) -> None:
    """Excel's "Unicode text" (UTF-16 with a mark, tab-separated) is read too."""
    path = _write(tmp_path, "phone\tname\r\n0912345678\t王\r\n".encode("utf-16"))
    p = preview(path)
    assert (p.delimiter, p.columns, p.row_count) == ("\t", ("phone", "name"), 1)


@pytest.mark.parametrize("encoding", ["gb18030", "cp950", "cp932", "cp1252"])
def test_given_encoding_is_used(tmp_path: Path, encoding: str) -> None:
    """encoding=... is used as given, even where detection would hesitate."""
    path = _write(tmp_path, b"n,p\n" + TEXTS[encoding][1][0].encode(encoding) + b"\n")
    assert preview(path, encoding=encoding).rows[0][0] == TEXTS[encoding][1][0].split(",")[0]


def test_ambiguous_encoding_asks_for_it(tmp_path: Path) -> None:
    """Two characters that read as Japanese and as Western text: an error, not a guess."""
    path = _write(tmp_path, "name,phone\n山田,1\n".encode("shift_jis"))
    with pytest.raises(ImportFileError) as info:
        preview(path)
    assert "encoding=" in str(info.value)
    assert "cp932" in str(info.value)
    assert preview(path, encoding="shift_jis").rows[0][0] == "山田"


def test_bytes_in_no_encoding_are_refused(tmp_path: Path) -> None:
    """Bytes that no candidate decodes give an error naming the fix."""
    path = _write(tmp_path, b"name,phone\n\x81\xff\x80\x81,1\n")
    with pytest.raises(ImportFileError, match="encoding="):
        preview(path)


def test_a_later_bad_byte_is_an_error_with_the_row(tmp_path: Path) -> None:
    """A file that is UTF-8 at first and not later fails with the row, never mojibake."""
    good = "".join(f"王{i},09{i:08d}\n" for i in range(100_000))
    path = _write(tmp_path, b"name,phone\n" + good.encode() + b"\n\xe9t\xe9,2\n")
    with pytest.raises(ImportFileError) as info:
        preview(path)
    assert info.value.row == 100_003
    assert "encoding=" in str(info.value)
    with pytest.raises(ImportFileError) as info:
        list(import_contacts(path, ColumnMapping(phone="phone"), region="TW"))
    assert info.value.row == 100_003


def test_bom_contradicting_the_given_encoding(tmp_path: Path) -> None:
    """A UTF-8 mark with encoding='big5' is an error saying to drop or fix the argument."""
    path = _write(tmp_path, b"\xef\xbb\xbfphone\n1\n")
    with pytest.raises(ImportFileError, match="utf-8"):
        preview(path, encoding="big5")


def test_unknown_encoding_name() -> None:
    """An encoding Python does not know is a ConfigError."""
    with pytest.raises(ConfigError, match="encoding"):
        preview(b"a\n1\n", encoding="klingon")


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_delimiters_are_sniffed(delimiter: str) -> None:
    """Comma, semicolon and tab are told apart from the first rows."""
    rows = [["name", "phone", "note"], ["Amy", "0912345678", "a, b; c"], ["Bob", "0922333444", ""]]
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter).writerows(rows)
    p = preview(out.getvalue().encode())
    assert p.delimiter == delimiter
    assert p.columns == ("name", "phone", "note")
    assert p.rows[0] == ("Amy", "0912345678", "a, b; c")


def test_excel_sep_line() -> None:
    """An Excel "sep=;" first line sets the delimiter and is not a row."""
    p = preview(b"sep=;\r\nname;phone\r\nAmy;0912345678\r\n")
    assert (p.delimiter, p.columns, p.row_numbers, p.row_count) == (";", ("name", "phone"), (2,), 1)


def test_given_delimiter_wins() -> None:
    """delimiter=... is used as given."""
    assert preview(b"a;b,c\n1;2,3\n", delimiter=",").columns == ("a;b", "c")


def test_a_single_column_file() -> None:
    """A list of numbers alone is one column."""
    p = preview(b"phone\n0912345678\n0922333444\n")
    assert (p.columns, p.row_count) == (("phone",), 2)


@pytest.mark.parametrize(
    ("data", "count"),
    [
        (b"phone\n1\n2\n3", 3),
        (b"phone\n1\n2\n3\n", 3),
        (b"phone\n1\n2\n3\n\n\n\n", 3),
        (b"phone\r\n1\r\n2\r\n3\r\n\r\n\r\n", 3),
        (b"\xef\xbb\xbfphone\r\n1\r\n2\r\n3\r\n", 3),
        (b"phone,name\n1,a\n,\n2,b\n  ,  \n3,c\n,,,\n", 3),
        (b'phone,name\n1,"two\nlines"\n2,"three\r\nmore\r\nlines"\n3,x\n\n', 3),
        (b'phone,name\r\n1,"a ""quoted"" word"\r\n2,"\r\n"\r\n3,"\n\n"\r\n', 3),
        (b"phone\r1\r2\r3\r", 3),
        (b"\n\nphone\n1\n", 1),
        (b"phone\n", 0),
    ],
)
def test_exact_row_count(data: bytes, count: int) -> None:
    """Preview counts the data rows exactly: no blank lines, no final newline, no header."""
    p = preview(data)
    assert p.row_count == count
    run = import_contacts(data, ColumnMapping(phone="phone"))
    list(run)
    assert run.summary.rows == count


def test_row_numbers_count_blank_and_multiline_records() -> None:
    """Row numbers are a spreadsheet's: blank rows count, a quoted line break does not."""
    data = b'phone,note\n+886912345678,"a\nb"\n\n+886922333444,c\n'
    p = preview(data)
    assert p.row_numbers == (2, 4)
    assert p.rows[0] == ("+886912345678", "a\nb")


_cell = st.text(alphabet=st.sampled_from('ab ,;"\t\r\n王'), max_size=6)
_rows = st.lists(st.lists(_cell, min_size=1, max_size=4), max_size=25)


@settings(max_examples=300, deadline=None)
@given(rows=_rows, crlf=st.booleans(), chunk=st.integers(min_value=1, max_value=40))
def test_count_agrees_with_parsing_everything(
    rows: list[list[str]], crlf: bool, chunk: int
) -> None:
    """The fast count equals parsing every record, whatever the quoting and chunking."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(csv_module, "_CHUNK", chunk)
        _check_count(rows, crlf)


def _check_count(rows: list[list[str]], crlf: bool) -> None:
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator="\r\n" if crlf else "\n").writerows([["phone", "x"], *rows])
    text = out.getvalue()
    expected = sum(
        1 for r in csv.reader(io.StringIO(text, newline="")) if any(c.strip() for c in r)
    )
    p = preview(text.encode(), delimiter=",")
    assert p.row_count == expected - 1
    run = import_contacts(text.encode(), ColumnMapping(phone="phone"), delimiter=",")
    list(run)
    assert run.summary.rows == p.row_count


def test_broken_quoting_reports_the_row() -> None:
    """A cell too long for the CSV reader is an error with its row."""
    data = b'phone\n1\n"' + b"x" * 200_000 + b'"\n'
    with pytest.raises(ImportFileError) as info:
        list(import_contacts(data, ColumnMapping(phone="phone")))
    assert info.value.row == 3


def test_empty_file_has_no_header() -> None:
    """An empty file is an error asking for a header row."""
    with pytest.raises(ImportFileError, match="header"):
        preview(b"\n\n")


def test_preview_prints_a_table() -> None:
    """str(preview) shows the source, the count and columns with their first values."""
    p = preview("name,phone\n王小明,0912345678\nBob,0922333444\n".encode())
    text = str(p)
    assert "2 rows" in text
    assert "row 2" in text
    assert "row 3" in text
    assert "王小明" in text
    assert "0922333444" in text
    assert "0912345678" not in repr(p)
