"""Small HTML for notebooks: the ``_repr_html_`` of the objects a notebook user looks at.

Pure string building, no I/O. Everything shown is escaped (`text`): a recipient's name
or a reply may hold markup, and it must show as text, never run.

Example:
    >>> text("<b>Amy & co</b>")
    '&lt;b&gt;Amy &amp; co&lt;/b&gt;'
    >>> table([("planned", 3)], title="Plan")
    '<table class="msgkit"><caption>Plan</caption><tr><th>planned</th><td>3</td></tr></table>'
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence

__all__ = ["grid", "progress", "table", "text"]


def text(value: object) -> str:
    """``value`` as escaped HTML text (quotes included); None shows as empty."""
    return "" if value is None else html.escape(str(value), quote=True)


def table(rows: Iterable[tuple[object, object]], *, title: str | None = None) -> str:
    """A two-column table of ``(label, value)`` rows, under an optional caption."""
    caption = f"<caption>{text(title)}</caption>" if title else ""
    body = "".join(f"<tr><th>{text(k)}</th><td>{text(v)}</td></tr>" for k, v in rows)
    return f'<table class="msgkit">{caption}{body}</table>'


def grid(
    header: Sequence[object], rows: Iterable[Sequence[object]], *, title: str | None = None
) -> str:
    """A table with a header row and one row per item, under an optional caption."""
    caption = f"<caption>{text(title)}</caption>" if title else ""
    head = "".join(f"<th>{text(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{text(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f'<table class="msgkit">{caption}<tr>{head}</tr>{body}</table>'


def progress(done: int, total: int, detail: str = "") -> str:
    """A progress bar: ``done`` of ``total``, then an optional detail line."""
    percent = 100.0 if total == 0 else 100.0 * done / total
    return (
        f'<div class="msgkit-progress"><progress value="{done}" max="{max(total, 1)}" '
        f'style="width:20em"></progress> {percent:.1f}% {done:,}/{total:,} '
        f"{text(detail)}</div>"
    )
