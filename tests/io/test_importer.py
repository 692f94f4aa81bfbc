"""Tests of importing contacts: mapping, per-row rejections, dedupe, limits, streaming."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from msgkit import ConfigError, ImportFileError
from msgkit.contacts import PhoneCipher
from msgkit.io import ColumnMapping, RejectReason, import_contacts, preview
from msgkit.io._dedupe import SeenNumbers

LIST = (
    b"Member ID,Name,Mobile,Registration Time,Points\r\n"
    b"m1,Amy,0912-345-678,2024-03-01,10\r\n"  # row 2
    b"m2,Bob,0922 333 444,2024/3/2,20\r\n"  # row 3
    b"m3,Cat,+886 912 345 678,2024-03-05,30\r\n"  # row 4: duplicate of row 2
    b"m4,Dan,12,2024-03-06,40\r\n"  # row 5: too short
    b"m5,Eve,,2024-03-07,50\r\n"  # row 6: empty phone
    b"m6,Fay,0933111222,not a date,60\r\n"  # row 7: bad date
    b"m7,Gus,0944555666,2024-03-08,many\r\n"  # row 8: bad number
    b"\r\n"  # row 9: blank
    b"m8,Hal,0955666777,2024-03-09,80\r\n"  # row 10
)

MAPPING = ColumnMapping(
    phone="Mobile",
    key="Member ID",
    variables={"registration_date": "Registration Time"},
    types={"Registration Time": "date", "Points": "int"},
)


def _run(data: bytes = LIST, mapping: ColumnMapping = MAPPING, **kw: object):  # type: ignore[no-untyped-def]
    run = import_contacts(data, mapping, region="TW", **kw)  # type: ignore[arg-type]
    return run, list(run)


def test_accepted_contacts_carry_mapped_and_kept_columns() -> None:
    """Mapped columns become variables, the rest stay attributes, typed ones converted."""
    _, contacts = _run()
    assert [c.key for c in contacts] == ["m1", "m2", "m8"]
    first = contacts[0]
    assert first.phone is not None
    assert first.phone.e164 == "+886912345678"
    assert dict(first.attributes) == {
        "Name": "Amy",
        "registration_date": date(2024, 3, 1),
        "Points": 10,
    }


def test_variables_are_the_attribute_names_contacts_carry() -> None:
    """variables names what templates may use: mapped columns as their variables, the
    other columns as they are, not the phone or key columns."""
    run, contacts = _run()
    assert run.variables == ("Name", "registration_date", "Points")
    assert all(set(c.attributes) <= set(run.variables) for c in contacts)


def test_each_rejection_has_row_column_and_reason() -> None:
    """Bad rows are reported with their file row, column and reason; the import goes on."""
    run, _ = _run()
    got = [(r.row, r.column, r.reason, r.phone_reason, r.duplicate_of) for r in run.rejections()]
    assert got == [
        (4, "Mobile", RejectReason.DUPLICATE, None, 2),
        (5, "Mobile", RejectReason.INVALID_PHONE, "too_short", None),
        (6, "Mobile", RejectReason.EMPTY_PHONE, None, None),
        (7, "Registration Time", RejectReason.BAD_DATE, None, None),
        (8, "Points", RejectReason.BAD_NUMBER, None, None),
    ]
    assert "duplicate of row 2" in run.rejections()[0].detail
    assert "0912345678" not in run.rejections()[0].detail  # masked


def test_summary_counts_by_reason() -> None:
    """The summary counts rows, accepted, rejected, by reason and by phone reason."""
    run, _ = _run()
    s = run.summary
    assert (s.rows, s.accepted, s.rejected, s.complete) == (8, 3, 5, True)
    assert s.by_reason == {
        "duplicate": 1,
        "invalid_phone": 1,
        "empty_phone": 1,
        "bad_date": 1,
        "bad_number": 1,
    }
    assert s.phone_reasons == {"too_short": 1}
    assert "8 rows: 3 imported, 5 rejected" in str(s)


def test_rejections_csv_hands_the_rows_back() -> None:
    """The rejections CSV has row, column, reason, detail, then the original cells."""
    run, _ = _run()
    rows = list(csv.reader(io.StringIO(run.rejections_csv())))
    assert rows[0][:6] == ["row", "column", "reason", "detail", "phone_reason", "duplicate_of"]
    assert rows[0][6:] == ["Member ID", "Name", "Mobile", "Registration Time", "Points"]
    assert rows[1][:3] == ["4", "Mobile", "duplicate"]
    # A cell starting with + is kept as text by a spreadsheet: written after a '.
    assert rows[1][6:] == ["m3", "Cat", "'+886 912 345 678", "2024-03-05", "30"]
    assert len(rows) == 6


def test_running_summary_while_streaming() -> None:
    """The summary is readable mid-import and says it is not complete."""
    run = import_contacts(LIST, MAPPING, region="TW")
    it = iter(run)
    next(it)
    assert run.summary.accepted == 1
    assert not run.summary.complete
    run.close()


def test_batches() -> None:
    """batches() yields lists of the given size, the last one shorter."""
    data = "phone\n" + "".join(f"+88691234{i:04d}\n" for i in range(25))
    run = import_contacts(data.encode(), ColumnMapping(phone="phone"))
    assert [len(b) for b in run.batches(10)] == [10, 10, 5]


def test_an_import_is_read_once() -> None:
    """Iterating an import a second time is an error pointing at import_contacts."""
    run, _ = _run()
    with pytest.raises(ImportFileError, match="already been read"):
        iter(run)


def test_dedupe_keeps_the_first_and_reports_the_later() -> None:
    """The same number written three ways is one contact; later rows point at the first."""
    data = b"phone\n0912345678\n+886-912-345-678\n00886912345678\n0922333444\n"
    run, contacts = _run(data, ColumnMapping(phone="phone"))
    assert len(contacts) == 2
    assert [(r.row, r.duplicate_of) for r in run.rejections()] == [(3, 2), (4, 2)]


def test_missing_phone_column_names_the_columns() -> None:
    """Mapping a column that does not exist lists the columns that do."""
    with pytest.raises(ImportFileError) as info:
        import_contacts(LIST, ColumnMapping(phone="Phone Number"), region="TW")
    assert info.value.column == "Phone Number"
    assert "'Mobile'" in str(info.value)
    assert "'Member ID'" in str(info.value)


@pytest.mark.parametrize(
    "mapping",
    [
        ColumnMapping(phone="Mobile", variables={"when": "Signup"}),
        ColumnMapping(phone="Mobile", key="ID"),
        ColumnMapping(phone="Mobile", types={"Birthday": "date"}),
    ],
)
def test_every_mapped_column_must_exist(mapping: ColumnMapping) -> None:
    """A variable, key or typed column that is not in the file is an error."""
    with pytest.raises(ImportFileError, match="the columns are"):
        import_contacts(LIST, mapping, region="TW")


def test_column_names_match_ignoring_case() -> None:
    """A mapped name matches a column that differs only in case."""
    _, contacts = _run(LIST, ColumnMapping(phone="mobile"))
    assert len(contacts) == 5


def test_bad_variable_name_and_type() -> None:
    """A variable name templates cannot use, or an unknown type, is a ConfigError."""
    with pytest.raises(ConfigError, match="variable"):
        ColumnMapping(phone="p", variables={"2nd": "x"})
    with pytest.raises(ConfigError, match="column type"):
        import_contacts(LIST, ColumnMapping(phone="Mobile", types={"Points": "money"}))


def test_variable_clashing_with_a_kept_column() -> None:
    """A variable named like another, unmapped column is refused as ambiguous."""
    with pytest.raises(ImportFileError, match="another name"):
        import_contacts(LIST, ColumnMapping(phone="Mobile", variables={"Name": "Member ID"}))


def test_cell_too_long_and_extra_cells() -> None:
    """An overlong cell and a row with more cells than columns are rejected."""
    data = b"phone,note\n0912345678," + b"x" * 50 + b"\n0922333444,a,b\n0933111222,ok,\n"
    run, contacts = _run(data, ColumnMapping(phone="phone"), max_cell_chars=20)
    assert [(r.row, r.reason, r.column) for r in run.rejections()] == [
        (2, RejectReason.CELL_TOO_LONG, "note"),
        (3, RejectReason.EXTRA_CELLS, None),
    ]
    assert len(contacts) == 1


def test_mobile_only() -> None:
    """mobile_only rejects a landline with phone_reason not_mobile."""
    run, contacts = _run(b"phone\n02 2345 6789\n", ColumnMapping(phone="phone"), mobile_only=True)
    assert not contacts
    assert run.rejections()[0].phone_reason == "not_mobile"


def test_encrypted_phone_column() -> None:
    """With a cipher the phone column is decrypted; a wrong key's rows are rejected."""
    cipher = PhoneCipher(PhoneCipher.new_key())
    other = PhoneCipher(PhoneCipher.new_key())
    data = (
        "phone,name\n"
        f"{cipher.encrypt('+886912345678')},a\n"
        f"{cipher.encrypt('+886912345678')},b\n"
        f"{other.encrypt('+886922333444')},c\n"
    ).encode()
    run, contacts = _run(data, ColumnMapping(phone="phone"), cipher=cipher)
    assert [c.phone.e164 for c in contacts if c.phone] == ["+886912345678"]
    assert [(r.row, r.reason, r.phone_reason) for r in run.rejections()] == [
        (3, RejectReason.DUPLICATE, None),
        (4, RejectReason.INVALID_PHONE, "cannot_decrypt"),
    ]


def test_datetime_column_in_a_time_zone() -> None:
    """A datetime column is read in the given zone and kept in UTC."""
    data = b"phone,seen\n0912345678,2024-03-01 09:30\n0922333444,2024-03-01T09:30:00Z\n"
    mapping = ColumnMapping(phone="phone", types={"seen": "datetime"})
    _, contacts = _run(data, mapping, time_zone="Asia/Taipei")
    assert [c.attributes["seen"] for c in contacts] == [
        datetime(2024, 3, 1, 1, 30, tzinfo=timezone.utc),
        datetime(2024, 3, 1, 9, 30, tzinfo=timezone.utc),
    ]


def test_date_with_explicit_format() -> None:
    """'date:%d/%m/%Y' reads day-first dates and rejects others."""
    data = b"phone,born\n0912345678,31/12/1990\n0922333444,1990-12-31\n"
    run, contacts = _run(data, ColumnMapping(phone="phone", types={"born": "date:%d/%m/%Y"}))
    assert contacts[0].attributes["born"] == date(1990, 12, 31)
    assert run.rejections()[0].reason is RejectReason.BAD_DATE


def test_size_limit_before_any_row(tmp_path: Path) -> None:
    """A file over the limit is refused before reading, whatever is inside it."""
    path = tmp_path / "big.csv"
    path.write_bytes(b"\xff" * 2000)
    for call in (preview, lambda p, **kw: import_contacts(p, MAPPING, **kw)):
        with pytest.raises(ImportFileError, match="limit is 1,000 bytes") as info:
            call(path, max_bytes=1000)
        assert info.value.path == str(path)
        assert info.value.row is None


def test_size_limit_on_streams() -> None:
    """Bytes and non-seekable streams are held to the limit too."""

    class Stream(io.RawIOBase):
        def __init__(self) -> None:
            self.left = 5000

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
            n = min(len(buffer), self.left, 100)
            buffer[:n] = b"a" * n
            self.left -= n
            return n

    with pytest.raises(ImportFileError, match="limit"):
        preview(Stream(), max_bytes=1000)  # type: ignore[arg-type]
    with pytest.raises(ImportFileError, match="limit"):
        preview(b"x" * 1001, max_bytes=1000)
    assert preview(io.BytesIO(b"phone\n1\n")).row_count == 1


def test_old_xls_is_refused() -> None:
    """A binary .xls is refused with the fix (save as .xlsx or CSV)."""
    with pytest.raises(ImportFileError, match="xlsx"):
        preview(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100)


def test_duplicate_and_blank_headers_get_names() -> None:
    """Blank headers are named by letter and repeated ones numbered."""
    p = preview(b"phone,,phone,name\n1,2,3,4\n")
    assert p.columns == ("phone", "column B", "phone (2)", "name")


@given(st.lists(st.integers(min_value=1, max_value=10**15 - 1), max_size=300))
def test_seen_numbers_agree_with_a_dict(numbers: list[int]) -> None:
    """The compact table answers exactly as a dict of first rows does."""
    seen = SeenNumbers(capacity_bits=2)
    reference: dict[int, int] = {}
    for row, n in enumerate(numbers, start=2):
        assert seen.first_row(n, row) == reference.get(n)
        reference.setdefault(n, row)
    assert len(seen) == len(reference)


# -- issue 14 ----------------------------------------------------------------------------

HOSTILE = ["=cmd|' /C calc'!A0", "+SUM(1)", "-2+3", "@SUM(1)", "\tx", "'=already", "''"]


def test_rejections_csv_neutralises_formulas() -> None:
    """Cells a spreadsheet would run as formulas are written after a ', read back exactly."""
    rows = "".join(f'{"x" if i % 2 else ""},"{cell}"\n' for i, cell in enumerate(HOSTILE))
    data = ("phone,note\n" + rows).encode()
    run, _ = _run(data, ColumnMapping(phone="phone"))
    read = list(csv.reader(io.StringIO(run.rejections_csv())))[1:]
    assert [r[-1] for r in read] == ["'" + c for c in HOSTILE]
    assert all(not cell.startswith(("=", "+", "-", "@", "\t", "\r")) for r in read for cell in r)


def test_a_handed_back_rejections_file_imports_the_original_values() -> None:
    """Importing the rejections CSV again reads '+886... as +886..., ''=x as '=x."""
    run, _ = _run(
        b"phone,note\n+886912345678,=1+2\n+886912345678,'=x\n", ColumnMapping(phone="phone")
    )
    [contact] = list(import_contacts(run.rejections_csv().encode(), ColumnMapping(phone="phone")))
    assert contact.phone is not None
    assert contact.phone.e164 == "+886912345678"
    assert contact.attributes["note"] == "'=x"


@given(st.text(max_size=20))
def test_spreadsheet_escape_round_trips(text: str) -> None:
    """unescape(escape(x)) == x, and an escaped cell never starts a formula."""
    from msgkit.io._values import spreadsheet_safe, unescape_spreadsheet

    safe = spreadsheet_safe(text)
    assert unescape_spreadsheet(safe) == text
    assert not safe.startswith(("=", "+", "-", "@", "\t", "\r"))


@pytest.mark.parametrize(
    ("cell", "spec", "zone"),
    [
        ("9999-12-31 23:00", "datetime", "America/New_York"),
        ("9999-12-31T23:59:59-05:00", "datetime", "UTC"),
        ("0001-01-01 00:00", "datetime", "Asia/Taipei"),
        ("1" + "0" * 400, "float", "UTC"),
        ("2024-01-01 10:00+99:00", "datetime", "UTC"),
    ],
)
def test_out_of_range_dates_and_numbers_reject_the_row(cell: str, spec: str, zone: str) -> None:
    """A moment outside datetime's range, a number past float's: a rejection, not a crash."""
    data = f"phone,when\n0912345678,{cell}\n0922333444,\n".encode()
    run, contacts = _run(data, ColumnMapping(phone="phone", types={"when": spec}), time_zone=zone)
    assert len(contacts) == 1
    [rejection] = run.rejections()
    assert (rejection.row, rejection.column) == (2, "when")
    assert rejection.reason in (RejectReason.BAD_DATE, RejectReason.BAD_NUMBER)


@given(
    st.datetimes(
        min_value=datetime(9999, 12, 31),  # noqa: DTZ001 - naive, as read from a cell
        max_value=datetime(9999, 12, 31, 23, 59),  # noqa: DTZ001
    ),
    st.integers(min_value=-23, max_value=23),
)
def test_to_utc_is_a_value_or_a_value_error(moment: datetime, hours: int) -> None:
    """to_utc gives the moment in UTC, or a ValueError when it leaves datetime's range."""
    from datetime import timedelta

    from msgkit.io._values import to_utc

    zone = timezone(timedelta(hours=hours))
    try:
        got = to_utc(moment, zone)
    except ValueError:
        assert hours < 0
    else:
        assert got == moment.replace(tzinfo=zone)


def test_blank_cell_keeps_the_contact_and_reports_the_cell() -> None:
    """on_bad_value='blank_cell': the contact is imported without the bad cell, reported apart."""
    data = (
        b"phone,birthday,points\n0912345678,1990-02-31,7\n0922333444,1990-01-02,x\n,1990-01-01,1\n"
    )
    mapping = ColumnMapping(phone="phone", types={"birthday": "date", "points": "int"})
    run, contacts = _run(data, mapping, on_bad_value="blank_cell")
    assert [c.attributes for c in contacts] == [{"points": 7}, {"birthday": date(1990, 1, 2)}]
    assert [(b.row, b.column, b.reason) for b in run.blanked_cells()] == [
        (2, "birthday", RejectReason.BAD_DATE),
        (3, "points", RejectReason.BAD_NUMBER),
    ]
    assert [(r.row, r.reason) for r in run.rejections()] == [(4, RejectReason.EMPTY_PHONE)]
    assert (run.summary.blanked, run.summary.rejected) == (2, 1)
    assert "2 cells left empty" in str(run.summary)
    with pytest.raises(ConfigError, match="on_bad_value"):
        _run(data, mapping, on_bad_value="skip")


def test_rejections_stream_from_the_spool() -> None:
    """iter_rejections yields the rejected rows one at a time, the same as rejections()."""
    data = b"phone\n" + b"12\n" * 5000
    run, _ = _run(data, ColumnMapping(phone="phone"))
    stream = run.iter_rejections()
    assert next(stream).row == 2
    assert sum(1 for _ in stream) == 4999
    assert len(run.rejections()) == 5000


def test_a_handed_back_rejections_file_gives_back_the_key() -> None:
    """Review: a key +42 is written '+42 to the rejections file and comes back +42 when the
    file is imported again (failed before: the key came back '+42)."""
    data = b"member,phone,name\n-007,+886912345678,Ann\n+42,bad,Carl\n"
    mapping = ColumnMapping(phone="phone", key="member", variables={"name": "name"})
    run, contacts = _run(data, mapping)
    assert [c.key for c in contacts] == ["-007"]
    handed_back = run.rejections_csv()
    assert "'+42" in handed_back
    fixed = handed_back.replace(",bad,", ",+886912345670,")
    [contact] = list(import_contacts(fixed.encode(), mapping))
    assert (contact.key, contact.attributes["name"]) == ("+42", "Carl")


def test_a_leading_quote_in_an_ordinary_file_is_data() -> None:
    """Review: only a rejections file loses the ' msgkit wrote; in any other file '-) smile
    and ''quoted'' are read as written, in every column (failed before: the ' was cut)."""
    data = b"member,phone,note\n'-1,+886912345678,'-) smile\n'=2,+886912345679,''quoted''\n"
    mapping = ColumnMapping(phone="phone", key="member", variables={"note": "note"})
    _, contacts = _run(data, mapping)
    assert [(c.key, c.attributes["note"]) for c in contacts] == [
        ("'-1", "'-) smile"),
        ("'=2", "''quoted''"),
    ]
    _, contacts = _run(b"phone\n'+886912345678\n", ColumnMapping(phone="phone"))
    assert contacts == []  # a phone written '+886... is not a number outside that file


_CELL = st.text(alphabet=st.sampled_from("ab '=+-@\t\"\n,"), max_size=8)


@given(_CELL, _CELL)
def test_the_rejections_file_round_trips_every_column(key: str, note: str) -> None:
    """Whatever the cells, a duplicate row re-imported from the rejections file gives the
    key and note its first import read; an ordinary file is read as it is written."""
    out = io.StringIO()
    csv.writer(out).writerows(
        [["member", "phone", "note"], ["k", "+886912345678", "n"], [key, "+886912345678", note]]
    )
    mapping = ColumnMapping(phone="phone", key="member", variables={"note": "note"})
    run, _ = _run(out.getvalue().encode(), mapping)
    [rejected] = run.rejections()
    assert rejected.reason is RejectReason.DUPLICATE
    [again] = list(import_contacts(run.rejections_csv().encode(), mapping))
    assert again.key == (key.strip() or "+886912345678")
    assert again.attributes.get("note", "") == note.strip()
    out = io.StringIO()
    csv.writer(out).writerows([["member", "phone", "note"], [key, "+886912345678", note]])
    [first] = list(import_contacts(out.getvalue().encode(), mapping))
    assert (first.key, first.attributes.get("note", "")) == (again.key, note.strip())
