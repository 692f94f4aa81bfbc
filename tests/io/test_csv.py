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
from msgkit.io._source import open_source

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


# -- issue 14: encodings as Windows writes them ------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "names"),
    [
        ("cp950", ["陳恒之", "林裏美", "王碁"]),  # not strict Big5
        ("cp932", ["髙橋一郎", "①会員", "佐藤花子"]),  # not strict Shift_JIS
        # EUC-KR: 30 rows were imported as mojibake.
        (
            "cp949",
            [s + g for s in "김이박최정" for g in ("민수", "영희", "지성", "서연", "하은", "도윤")],
        ),
        ("big5hkscs", ["陳大文", "李啲嘢", "黃佢哋", "張小明", "何嘅"]),  # Hong Kong
    ],
)
def test_windows_legacy_encodings_are_read_exactly(encoding: str, names: list[str]) -> None:
    """cp950, cp932 and cp949 (EUC-KR) files are detected and read as their real text."""
    text = "name,phone\n" + "".join(f"{n},09{i:08d}\n" for i, n in enumerate(names))
    p = preview(text.encode(encoding))
    assert p.encoding == encoding
    assert p.rows[0][0] == names[0]
    assert p.row_count == len(names)


@pytest.mark.parametrize("name", ["伟员", "王伟员工"])
def test_legacy_bytes_that_happen_to_be_utf8_are_not_taken_for_it(name: str) -> None:
    """GB18030 bytes that are valid UTF-8 by chance (伟员 reads ΰԱ) are read as GB18030."""
    p = preview(f"name,phone\n{name},0900000000\n".encode("gb18030"))
    assert p.rows[0][0] == name


@pytest.mark.parametrize("text", ["2×3 m²", "José Ñúñez", "Привет", "שלום", "Ελένη", "e\u0301"])
def test_utf8_in_any_script_is_utf8(text: str) -> None:
    """UTF-8 Western, Cyrillic, Hebrew, Greek and decomposed text is still read as UTF-8."""
    p = preview(f"name,phone\n{text},0900000000\n".encode())
    assert (p.encoding, p.rows[0][0]) == ("utf-8", text)


def test_given_big5_reads_the_windows_superset() -> None:
    """encoding='big5' reads 恒 裏 碁 (as cp950); a wrong encoding's hint names one that works."""
    data = "name,phone\n陳恒之,0912345678\n".encode("cp950")
    assert preview(data, encoding="big5").rows[0][0] == "陳恒之"
    with pytest.raises(ImportFileError) as info:
        preview(data, encoding="utf-8")
    hint = str(info.value).split("encoding=", 1)[1]
    named = hint.split("'")[1]
    assert preview(data, encoding=named).rows[0][0] == "陳恒之"


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be", "utf-32"])
def test_utf16_without_mark_and_utf32_with_one(codec: str) -> None:
    """UTF-16 without a byte-order mark and UTF-32 with one read as their text."""
    data = "name,phone\n王小明,0912345678\nAmy,0922333444\n".encode(codec)
    p = preview(data)
    assert p.columns == ("name", "phone")
    assert p.rows == (("王小明", "0912345678"), ("Amy", "0922333444"))


_bmp_text = st.text(
    st.characters(
        min_codepoint=0x20,
        max_codepoint=0xFFFD,
        exclude_categories=("Cs", "Cc", "Zl", "Zp"),
        exclude_characters=',;"\t',
    ),
    min_size=1,
    max_size=6,
).filter(str.strip)


@settings(max_examples=150, deadline=None)
@given(
    names=st.lists(_bmp_text | st.sampled_from(["一", "王一", "Ā"]), min_size=1, max_size=15),
    codec=st.sampled_from(["utf-16-le", "utf-16-be", "utf-16", "utf-32", "utf-8-sig"]),
)
def test_unicode_files_read_back_with_or_without_a_mark(names: list[str], codec: str) -> None:
    """A list in UTF-16 (with or without a mark), UTF-32 or UTF-8 reads back exactly."""
    text = "name,phone\n" + "".join(f"{n},09{i:08d}\n" for i, n in enumerate(names))
    p = preview(text.encode(codec))
    assert p.row_count == len(names)
    assert [row[0] for row in p.rows] == names[:2]


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(st.lists(_cell, min_size=2, max_size=2), max_size=20),
    crlf=st.booleans(),
)
def test_records_read_back_what_a_csv_writer_wrote(rows: list[list[str]], crlf: bool) -> None:
    """Quoted cells (quotes, line breaks) read back exactly: no quote is taken as runaway."""
    if not crlf:  # a writer ending lines with \n alone leaves a \r in a cell unquoted
        rows = [[cell.replace("\r", "") for cell in row] for row in rows]
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator="\r\n" if crlf else "\n").writerows([["phone", "x"], *rows])
    table = csv_module.CsvTable(open_source(out.getvalue().encode()), delimiter=",")
    expected = [r for r in [["phone", "x"], *rows] if any(c.strip() for c in r)]
    assert [cells for _, cells in table.records()] == expected


_POOLS = {
    "gb18030": "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超"
    "北京上海广州深圳会员",
    "cp950": "陳林黃張李王吳劉蔡楊許鄭謝郭洪邱曾廖賴周徐蘇葉莊志明美玲家豪怡君淑芬雅婷俊傑"
    "恒裏碁台北新竹會員",
    "cp932": "佐藤鈴木高橋田中渡辺伊山本村小林加吉一郎花子次太美咲翔大結衣陽菜蓮東京都大阪府"
    "①髙さくらゴールド",
    "cp949": "김이박최정강조윤장임한오서신권황안송류홍민수영희지성연하은도준호빈예서울부산대구"
    "인천광주회원생일",
    "big5hkscs": "陳李黃張何梁林鄭劉大文小明美玲家豪啲嘢佢哋嘅咗香港九龍新界會員",
}


def _names(pool: str) -> st.SearchStrategy[list[str]]:
    # A list: a few different names (one name repeated is not enough text to tell).
    return st.lists(
        st.text(st.sampled_from(pool), min_size=2, max_size=4), min_size=3, max_size=40, unique=True
    )


@settings(max_examples=40, deadline=None)
@given(data=st.data(), encoding=st.sampled_from(sorted(_POOLS)))
def test_detection_never_reads_mojibake(data: st.DataObject, encoding: str) -> None:
    """Text in each legacy encoding is read exactly, or refused with a hint: never garbled."""
    names = data.draw(_names(_POOLS[encoding]))
    text = "name,phone\n" + "".join(f"{n},09{i:08d}\n" for i, n in enumerate(names))
    try:
        p = preview(text.encode(encoding))
    except ImportFileError as exc:
        refused = str(exc)
    else:
        assert [row[0] for row in p.rows] == names[:2]
        return
    assert "encoding=" in refused


@settings(max_examples=25, deadline=None)
@given(data=st.data(), encoding=st.sampled_from(sorted(_POOLS)))
def test_detection_round_trips_a_real_list(data: st.DataObject, encoding: str) -> None:
    """A list of 30+ names in each legacy encoding is detected as that encoding."""
    names = data.draw(
        st.lists(
            st.text(st.sampled_from(_POOLS[encoding]), min_size=2, max_size=4),
            min_size=30,
            max_size=60,
            unique=True,
        )
    )
    text = "name,phone\n" + "".join(f"{n},09{i:08d}\n" for i, n in enumerate(names))
    p = preview(text.encode(encoding))
    assert p.encoding == encoding
    assert p.rows[0][0] == names[0]


_WESTERN = [
    "José", "Zoë", "François", "Müller", "Ångström", "Besançon", "Málaga", "Köln", "Søren",
    "Þór", "Ñúñez", "Dvořák", "Œuvre", "naïve", "Straße", "Renée", "Æsir", "Éloïse",
]  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(
    names=st.lists(
        st.builds(lambda a, b: f"{a} {b}", st.sampled_from(_WESTERN), st.sampled_from(_WESTERN)),
        min_size=3,
        max_size=30,
        unique=True,
    )
)
def test_western_lists_round_trip_in_cp1252(names: list[str]) -> None:
    """Western names written by Excel in cp1252 are read exactly, or refused: never garbled."""
    names = [n for n in names if all(c in n.encode("cp1252", "ignore").decode("cp1252") for c in n)]
    text = "name,phone\n" + "".join(f"{n},06{i:08d}\n" for i, n in enumerate(names))
    try:
        p = preview(text.encode("cp1252"))
    except ImportFileError as exc:
        refused = str(exc)
    else:
        assert [row[0] for row in p.rows] == names[:2]
        return
    assert "cp1252" in refused


# -- issue 14: hostile files -------------------------------------------------------------


def test_header_repeating_one_name_is_numbered_in_linear_time() -> None:
    """A header of 16,000 repeats of one name is named x, x (2)...; 100,000 columns refused."""
    data = ("phone," + ",".join(["x"] * 16_000) + "\n0912345678\n").encode()
    p = preview(data)
    assert p.columns[1:3] == ("x", "x (2)")
    assert p.columns[-1] == "x (16000)"
    with pytest.raises(ImportFileError, match="columns") as info:
        preview(("phone," + ",".join(["x"] * 100_000) + "\n").encode())
    assert info.value.row == 1


@given(st.lists(st.sampled_from(["a", "a (2)", "a (3)", "", "b", " a ", "column A"])))
def test_header_names_agree_with_the_plain_rule(header: list[str]) -> None:
    """The linear naming gives what the first-free-number rule gives."""
    from msgkit.io._table import _names
    from msgkit.io._values import column_letter

    expected: list[str] = []
    for i, cell in enumerate(header):
        name = cell.strip() or f"column {column_letter(i)}"
        unique, n = name, 1
        while unique in expected:
            n += 1
            unique = f"{name} ({n})"
        expected.append(unique)
    assert _names(header) == tuple(expected)


@pytest.mark.parametrize("after", [3000, 100])
def test_unclosed_quote_is_refused_naming_its_row(after: int) -> None:
    """A quote left open (swallowing the rows after it) is an error naming its row and fix."""
    rows = ["name,phone,note", "Amy,0912345678,ok", 'Bob,0922333444,"unclosed']
    rows += [f"P{i},09{i:08d},ok" for i in range(after)]
    data = ("\n".join(rows) + "\n").encode()
    for read in (
        lambda: preview(data),
        lambda: list(import_contacts(data, ColumnMapping(phone="phone"))),
    ):
        with pytest.raises(ImportFileError, match="quote") as info:
            read()
        assert info.value.row == 3
        assert "close the quote" in str(info.value)


def test_runaway_quote_closed_later_is_refused() -> None:
    """A quote closed 300 lines later (lines that look like rows) is refused, not one row."""
    rows = ["name,phone,note", 'Amy,0912345678,"opened']
    rows += [f"P{i},09{i:08d},ok" for i in range(300)] + ['x",0933444555,ok', "Cat,0944555666,ok"]
    data = ("\n".join(rows) + "\n").encode()
    with pytest.raises(ImportFileError, match="quote") as info:
        list(import_contacts(data, ColumnMapping(phone="phone"), region="TW"))
    assert info.value.row == 2


def test_short_runaway_quote_is_refused_by_the_import() -> None:
    """A quote swallowing 100 rows (lines that look like rows) fails the import."""
    rows = ["name,phone,note", 'Amy,0912345678,"opened']
    rows += [f"P{i},09{i:08d},ok" for i in range(100)] + ['x",0933444555,ok']
    data = ("\n".join(rows) + "\n").encode()
    with pytest.raises(ImportFileError, match="quote") as info:
        list(import_contacts(data, ColumnMapping(phone="phone"), region="TW"))
    assert (info.value.row, info.value.column) == (2, "C")


def test_quoted_line_breaks_within_limits_still_read() -> None:
    """An address over three lines is one cell, as before."""
    data = b'name,phone,address\nAmy,0912345678,"1 Road\nTaipei\nTW"\nBob,0922333444,x\n'
    p = preview(data)
    assert p.row_count == 2
    assert p.rows[0][2] == "1 Road\nTaipei\nTW"
    assert len(list(import_contacts(data, ColumnMapping(phone="phone"), region="TW"))) == 2


_CSV_BYTES = st.one_of(
    st.binary(max_size=3000),
    st.lists(
        st.one_of(
            st.sampled_from([b",", b";", b"\t", b'"', b"\n", b"\r\n", b"\r", b"'", b"=", b"\x00"]),
            st.text(max_size=30).map(lambda t: t.encode("utf-8")),
            st.text(max_size=10).map(lambda t: t.encode("utf-16")),
            st.sampled_from(["王", "恒", "髙", "김", "é"]).flatmap(
                lambda c: st.sampled_from(
                    ["gb18030", "cp950", "cp932", "cp949", "cp1252", "utf-8"]
                ).map(lambda e, c=c: c.encode(e, errors="replace"))
            ),
            st.integers(1, 5000).map(lambda n: b"x" * n),
        ),
        max_size=200,
    ).map(b"".join),
)


@settings(max_examples=300, deadline=None)
@given(
    data=_CSV_BYTES,
    encoding=st.sampled_from([None, None, "utf-8", "cp950", "cp932", "utf-16"]),
    delimiter=st.sampled_from([None, None, ",", ";", "\t"]),
    on_bad_value=st.sampled_from(["reject_row", "blank_cell"]),
)
def test_fuzzed_csv_reads_or_raises_import_file_error(
    data: bytes, encoding: str | None, delimiter: str | None, on_bad_value: str
) -> None:
    """Any bytes: a reading, or an ImportFileError — never another error (nor a hang)."""
    options = {"encoding": encoding, "delimiter": delimiter}
    try:
        shown = preview(data, **options)  # type: ignore[arg-type]
        mapping = ColumnMapping(phone=shown.columns[0], types={shown.columns[-1]: "date"})
        with import_contacts(data, mapping, on_bad_value=on_bad_value, **options) as run:  # type: ignore[arg-type]
            for _ in run:
                pass
            run.rejections()
            run.blanked_cells()
            run.rejections_csv()
    except ImportFileError:
        pass


def _notes_file(note: str, blob: str = "x") -> bytes:
    return f'phone,note,blob\n+886912345678,"{note}",{blob}\n+886912345679,ok,y\n'.encode()


_NOTES = ColumnMapping(phone="phone", variables={"note": "note", "blob": "blob"})


@pytest.mark.parametrize("read", ["preview", "import"])
def test_stray_quote_closed_by_a_later_quote_is_refused(read: str) -> None:
    """Review case C: a quote never closed on row 2, closed by `say "hi"` 31 lines on, is
    refused naming row 2 and column B, never imported as 1 row (failed before: 1 row)."""
    rows = ["phone,note,blob", '+886912345601,"oops,x']
    rows += [f"+8869123456{i:02d},n{i},x" for i in range(10, 40)] + ['+886912345699,say "hi",x']
    data = ("\n".join(rows) + "\n").encode()
    attempt = {
        "preview": lambda: preview(data),
        "import": lambda: list(import_contacts(data, _NOTES, format="csv")),
    }[read]
    with pytest.raises(ImportFileError, match="30 of which look like rows") as info:
        attempt()
    assert (info.value.row, info.value.column) == (2, "B")
    assert "close the quote" in str(info.value)
    assert "912345610" not in str(info.value)  # no phone number in the error


def test_a_note_of_300_lines_is_a_cell_not_a_runaway() -> None:
    """Review case A: 300 line breaks in a real notes cell (CRM exports write more than
    Excel's 253) is one cell, subject to max_cell_chars (failed before: file refused)."""
    note = "\n".join(f"line {i}, called back" for i in range(300))
    data = _notes_file(note)
    assert preview(data).row_count == 2
    run = import_contacts(data, _NOTES, format="csv", max_cell_chars=100_000)
    assert [c.attributes["note"] for c in run] == [note, "ok"]
    short = import_contacts(data, _NOTES, format="csv")  # over max_cell_chars: a rejection
    assert len(list(short)) == 1
    assert [(r.row, r.column) for r in short.rejections()] == [(2, "note")]


def test_a_long_one_line_cell_beside_a_two_line_cell_is_read() -> None:
    """Review case B: a 40,000-character cell on one line next to a 2-line cell is left to
    max_cell_chars, not taken for a runaway quote (failed before: file refused)."""
    data = _notes_file("a\nb", "z" * 40_000)
    run = import_contacts(data, _NOTES, format="csv", max_cell_chars=100_000)
    assert [len(c.attributes["blob"]) for c in run] == [40_000, 1]  # type: ignore[arg-type]
    blanked = import_contacts(data, _NOTES, format="csv", on_bad_value="blank_cell")
    assert ["blob" in c.attributes for c in blanked] == [False, True]
    assert [b.row for b in blanked.blanked_cells()] == [2]


@given(
    st.lists(
        st.text(alphabet="abc 12,;\n'-", max_size=40).filter(lambda t: '"' not in t),
        min_size=1,
        max_size=30,
    )
)
@settings(max_examples=200, deadline=None)
def test_swallowed_counts_only_lines_like_rows(lines: list[str]) -> None:
    """_swallowed counts exactly the lines after the first with the header's width or more
    and a phone-like cell; lines without a phone number never count."""
    from msgkit.io._csv import _phone_like, _swallowed

    cell = "\n".join(["opened", *lines])
    expected = sum(
        1
        for line in cell.splitlines()[1:]
        if len(line.split(",")) >= 3 and any(_phone_like(p) for p in line.split(","))
    )
    assert _swallowed(cell, ",", 3) == expected
    with_rows = cell + "\n+886912345678,a,b\n0912 345 678,x,y"
    assert _swallowed(with_rows, ",", 3) == expected + 2
    assert _swallowed(with_rows, ",", 4) == sum(
        1
        for line in with_rows.splitlines()[1:]
        if len(line.split(",")) >= 4 and any(_phone_like(p) for p in line.split(","))
    )


@given(st.text(alphabet="0123456789+ -()", max_size=25))
def test_phone_like_is_7_to_15_digits(text: str) -> None:
    """A phone-like cell has 7 to 15 digits and nothing but + ( ) - . and spaces."""
    from msgkit.io._csv import _phone_like

    digits = sum(map(str.isdigit, text))
    if _phone_like(text):
        assert 7 <= digits <= 15
    assert not _phone_like(text + "x")


def _reference_decode_error(data: bytes) -> tuple[int, int]:
    """The offset of the first bad UTF-8 byte and its row, the whole file at once."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = exc.start
    before = data[:bad].decode("utf-8", errors="replace") + "x"
    return bad, sum(1 for _ in csv.reader(io.StringIO(before, newline=""), strict=False))


@given(
    lines=st.lists(
        st.text(alphabet=st.sampled_from('ab王,"\r\n'), max_size=12), min_size=1, max_size=30
    ),
    bad_at=st.integers(0, 400),
    bad=st.sampled_from([b"\xff", b"\xe7\x8e", b"\xfc", b"\xe7\x8ex"]),
    chunk=st.integers(1, 9),
)
@settings(max_examples=300, deadline=None)
def test_decode_error_in_chunks_names_the_whole_file_answer(
    lines: list[str], bad_at: int, bad: bytes, chunk: int
) -> None:
    """Decoded a few bytes at a time (chunks split characters and line ends), the error
    names the byte offset and row that decoding the whole file at once finds."""
    from unittest import mock

    good = ("phone,note\n" + "\n".join(lines) + "\n").encode()
    cut = min(bad_at, len(good))
    while cut and (good[cut] & 0xC0) == 0x80 if cut < len(good) else False:
        cut -= 1  # not inside a character
    data = good[:cut] + bad + good[cut:]
    offset, row = _reference_decode_error(data)
    with (
        mock.patch.object(csv_module, "_CHUNK", chunk),
        pytest.raises(ImportFileError, match="not valid utf-8") as info,
    ):
        preview(data, encoding="utf-8", delimiter=",")
    assert info.value.row == row
    assert f"at offset {offset:,})" in str(info.value)


def test_decode_error_hint_judges_the_lines_near_the_bad_byte(tmp_path: Path) -> None:
    """A UTF-8 file of Chinese names with a cp1252 row far on: the hint does not offer
    cp1252 (the file's Chinese would be mojibake), and the error names that row."""
    rows = "".join(f"王小明{i},09{i:08d}\n" for i in range(200_000))
    path = _write(tmp_path, b"name,phone\n" + rows.encode() + "Müller,1\n".encode("cp1252"))
    with pytest.raises(ImportFileError) as info:
        preview(path)
    assert info.value.row == 200_002
    assert "cp1252" not in str(info.value)
