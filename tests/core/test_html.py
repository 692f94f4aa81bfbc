"""The notebook HTML helpers escape everything they are given."""

from __future__ import annotations

import html as std

from hypothesis import given
from hypothesis import strategies as st

from msgkit.core import html


@given(st.text())
def test_text_round_trips_and_holds_no_markup(value: str) -> None:
    """Escaped text unescapes to itself and holds no <, > or quote."""
    escaped = html.text(value)
    assert std.unescape(escaped) == value
    assert not set("<>\"'") & set(escaped)


@given(st.lists(st.tuples(st.text(), st.text()), max_size=5))
def test_table_cells_hold_no_raw_markup(rows: list[tuple[str, str]]) -> None:
    """A table holds only its own tags: every cell is escaped."""
    page = html.table(rows, title="<t>")
    stripped = page
    for tag in (
        '<table class="msgkit">',
        "</table>",
        "<caption>",
        "</caption>",
        "<tr>",
        "</tr>",
        "<th>",
        "</th>",
        "<td>",
        "</td>",
    ):
        stripped = stripped.replace(tag, "")
    assert "<" not in stripped


@given(st.integers(0, 10**6), st.integers(0, 10**6))
def test_progress_never_divides_by_zero_and_shows_the_count(done: int, total: int) -> None:
    """The bar shows done/total, and 100% for nothing to do."""
    page = html.progress(done, total)
    assert f"{done:,}/{total:,}" in page
    if total == 0:
        assert "100.0%" in page
