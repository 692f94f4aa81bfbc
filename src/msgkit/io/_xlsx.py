"""A small streaming reader of XLSX worksheets (values only).

Only what an import needs: the sheets' names, and each row's cell values with numbers,
text, booleans and dates told apart (a number is a date when its cell's number format
is a date format). The sheet is parsed incrementally and each row is dropped as soon as
it is read, so memory holds one row plus the shared-string table, whatever the sheet's
length. Formulas give their cached value.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Generator
from datetime import date, datetime, time, timedelta
from posixpath import join, normpath
from typing import IO
from xml.etree.ElementTree import Element, iterparse

from msgkit.exceptions import ImportFileError
from msgkit.io._source import SourceFile

__all__ = ["Cell", "XlsxTable", "blank"]

Cell = str | int | float | bool | date | datetime | time | None

_MAIN = (
    "http://schemas.openxmlformats.org/spreadsheetml/2006/main",
    "http://purl.oclc.org/ooxml/spreadsheetml/main",  # "strict" OOXML
)
_REL = (
    "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
    "http://purl.oclc.org/ooxml/officeDocument/relationships",
)
_PKG_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}Relationship"
# The built-in number formats that show dates or times (ids 27-36 and 50-58 are the
# East Asian date formats).
_DATE_FORMATS = frozenset([*range(14, 23), *range(27, 37), *range(45, 48), *range(50, 59)])
_TIME_ONLY = frozenset([18, 19, 20, 21, 45, 46, 47])
_QUOTED = re.compile(r'"[^"]*"|\\.|\[[^\]]*\]')
_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")
_COLUMN = re.compile(r"[A-Z]+")
# A part of the package over this many times the file's size limit is refused unread
# (a "zip bomb"); real sheets compress about ten to one.
_INFLATION = 100
_PROLOG = 1 << 16
_ROOT = re.compile(rb"<[A-Za-z_]")


def blank(cells: list[Cell]) -> bool:
    """Whether a row has no value: every cell empty or only spaces."""
    return all(v is None or (isinstance(v, str) and not v.strip()) for v in cells)


def _unescape(text: str) -> str:
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text) if "_x" in text else text


def _column_index(ref: str) -> int:
    letters = _COLUMN.match(ref)
    index = 0
    for ch in letters.group(0) if letters else "":
        index = index * 26 + ord(ch) - 64
    return index - 1


def _format_kind(code: str) -> str | None:
    """``"date"``, ``"datetime"``, ``"time"`` for a date format code, else None."""
    bare = _QUOTED.sub("", code.split(";", maxsplit=1)[0]).lower()
    if not re.search(r"[dmyhse]", bare) or bare in ("general", "@"):
        return None
    dated = bool(re.search(r"[dy]", bare)) or ("m" in bare and not re.search(r"[hs]", bare))
    timed = bool(re.search(r"[hs]", bare))
    if dated and timed:
        return "datetime"
    return "date" if dated else "time"


class XlsxTable:
    """One worksheet of an XLSX workbook, opened for streaming."""

    def __init__(self, source: SourceFile, *, sheet: str | None, max_bytes: int) -> None:
        self.source = source
        self._limit = max_bytes * _INFLATION
        try:
            self._zip = zipfile.ZipFile(source.handle)
            self._open_workbook(sheet)
        except (zipfile.BadZipFile, KeyError, SyntaxError, ValueError) as exc:
            if isinstance(exc, ImportFileError):
                raise
            raise ImportFileError(
                f"this is not a readable XLSX workbook ({exc})",
                path=source.name,
                hint="open it in Excel or LibreOffice and save it again as .xlsx, or as CSV",
            ) from None

    def _part(self, name: str) -> IO[bytes]:
        """A part of the package, refused if it is a zip bomb or declares a DTD.

        Workbook parts never have a DTD; refusing one rules out entity-expansion
        attacks whatever the XML parser's own protections.
        """
        info = self._zip.getinfo(name)
        if info.file_size > self._limit:
            raise ImportFileError(
                f"the workbook part {name} unpacks to {info.file_size:,} bytes",
                path=self.source.name,
                hint="this is not a normal spreadsheet; export the list as CSV",
            )
        part = self._zip.open(info)
        head = part.read(_PROLOG)
        root = _ROOT.search(head)
        if root is None or b"<!DOCTYPE" in head[: root.start()]:
            part.close()
            raise ImportFileError(
                f"the workbook part {name} is not plain spreadsheet XML",
                path=self.source.name,
                hint="open it in Excel or LibreOffice and save it again as .xlsx, or as CSV",
            )
        part.seek(0)
        return part

    def _root(self, name: str) -> Element:
        with self._part(name) as part:
            parser = iterparse(part, events=("end",))  # noqa: S314 - guarded by _part
            for _ in parser:
                pass
            root: Element = parser.root  # type: ignore[attr-defined]
            return root

    def _open_workbook(self, wanted: str | None) -> None:
        names = set(self._zip.namelist())
        workbook = "xl/workbook.xml"
        if workbook not in names:
            raise KeyError("no xl/workbook.xml")
        root = self._root(workbook)
        ns = root.tag[1:].split("}")[0]
        if ns not in _MAIN:
            raise ValueError(f"unknown workbook namespace {ns}")
        self._ns = "{" + ns + "}"
        rel_ns = "{" + _REL[_MAIN.index(ns)] + "}"
        pr = root.find(f"{self._ns}workbookPr")
        self._epoch = (
            datetime(1904, 1, 1)  # noqa: DTZ001 - spreadsheet dates have no zone
            if pr is not None and pr.get("date1904") in ("1", "true")
            else datetime(1899, 12, 30)  # noqa: DTZ001
        )
        sheets = [
            (s.get("name", ""), s.get(f"{rel_ns}id", "")) for s in root.iter(f"{self._ns}sheet")
        ]
        self.sheet_names = tuple(name for name, _ in sheets)
        if not sheets:
            raise ValueError("the workbook has no sheet")
        if wanted is None:
            chosen = sheets[0]
        else:
            found = [s for s in sheets if s[0] == wanted] or [
                s for s in sheets if s[0].casefold() == wanted.strip().casefold()
            ]
            if not found:
                raise ImportFileError(
                    f"the workbook has no sheet named {wanted!r}",
                    path=self.source.name,
                    hint="its sheets are: " + ", ".join(repr(n) for n in self.sheet_names),
                )
            chosen = found[0]
        self.sheet = chosen[0]
        targets = {
            r.get("Id"): r.get("Target", "")
            for r in self._root("xl/_rels/workbook.xml.rels").iter(_PKG_REL)
        }
        target = targets[chosen[1]]
        self._sheet_part = (
            target.lstrip("/") if target.startswith("/") else normpath(join("xl", target))
        )
        self._shared = self._shared_strings(names)
        self._styles = self._date_styles(names)

    def _shared_strings(self, names: set[str]) -> list[str]:
        part = "xl/sharedStrings.xml"
        if part not in names:
            return []
        strings: list[str] = []
        si, t, r = f"{self._ns}si", f"{self._ns}t", f"{self._ns}r"
        with self._part(part) as handle:
            for _, elem in iterparse(handle, events=("end",)):  # noqa: S314 - see _part
                if elem.tag == si:
                    strings.append(self._rich_text(elem, t, r))
                    elem.clear()
        return strings

    @staticmethod
    def _rich_text(elem: Element, t: str, r: str) -> str:
        # Plain text is a <t>; rich text is runs <r><t>; phonetic hints <rPh> are left out.
        parts = []
        for child in elem:
            if child.tag == t:
                parts.append(child.text or "")
            elif child.tag == r:
                parts.extend(x.text or "" for x in child.iter(t))
        return _unescape("".join(parts))

    def _date_styles(self, names: set[str]) -> list[str | None]:
        part = "xl/styles.xml"
        if part not in names:
            return []
        root = self._root(part)
        custom = {
            int(f.get("numFmtId", "-1")): f.get("formatCode", "")
            for f in root.iter(f"{self._ns}numFmt")
        }
        xfs = root.find(f"{self._ns}cellXfs")
        kinds: list[str | None] = []
        for xf in xfs if xfs is not None else ():
            fmt = int(xf.get("numFmtId", "0"))
            if fmt in custom:
                kinds.append(_format_kind(custom[fmt]))
            elif fmt in _DATE_FORMATS:
                kinds.append("time" if fmt in _TIME_ONLY else "date")
            else:
                kinds.append(None)
        return kinds

    def _number(self, text: str, style: str | None) -> Cell:
        value = float(text)
        kind = self._styles[int(style)] if style and int(style) < len(self._styles) else None
        if kind is not None:
            if value < 61 and self._epoch.year == 1899:
                value += 1  # Excel counts a 29 February 1900 that never was
            moment = self._epoch + timedelta(milliseconds=round(value * 86_400_000))
            if kind == "time" and value < 1:
                return moment.time()
            if kind == "date" and moment.time() == time(0):
                return moment.date()
            return moment
        if value.is_integer() and abs(value) < 2**53:
            return int(value)
        return value

    def rows(self) -> Generator[tuple[int, list[Cell]], None, None]:
        """Each row that has a value, with its row number, in sheet order."""
        ns = self._ns
        row_tag, c_tag, v_tag, is_tag = f"{ns}row", f"{ns}c", f"{ns}v", f"{ns}is"
        t_tag, r_tag, data_tag = f"{ns}t", f"{ns}r", f"{ns}sheetData"
        shared = self._shared
        number = 0
        parent: Element | None = None
        try:
            with self._part(self._sheet_part) as handle:
                events = iterparse(handle, events=("start", "end"))  # noqa: S314 - see _part
                for event, elem in events:
                    if event == "start":
                        if elem.tag == data_tag:
                            parent = elem
                        continue
                    if elem.tag != row_tag:
                        continue
                    r = elem.get("r")
                    number = int(r) if r else number + 1
                    cells: list[Cell] = []
                    for c in elem:
                        if c.tag != c_tag:
                            continue
                        ref = c.get("r")
                        if ref:
                            at = _column_index(ref)
                            if at > len(cells):
                                cells.extend([None] * (at - len(cells)))
                        kind = c.get("t", "n")
                        value: Cell = None
                        if kind == "inlineStr":
                            inline = c.find(is_tag)
                            value = (
                                None if inline is None else self._rich_text(inline, t_tag, r_tag)
                            )
                        else:
                            v = c.find(v_tag)
                            text = v.text if v is not None else None
                            if text is not None:
                                if kind == "s":
                                    value = shared[int(text)]
                                elif kind == "n":
                                    value = self._number(text, c.get("s"))
                                elif kind == "b":
                                    value = text.strip() in ("1", "true")
                                elif kind == "d":
                                    value = datetime.fromisoformat(text.rstrip("Z"))
                                else:  # "str" (a formula's text), "e" (an error such as #N/A)
                                    value = _unescape(text)
                        cells.append(value)
                    if parent is not None:
                        parent.clear()
                    else:
                        elem.clear()
                    if not blank(cells):
                        yield number, cells
        except (KeyError, SyntaxError, ValueError, IndexError, zipfile.BadZipFile) as exc:
            if isinstance(exc, ImportFileError):
                raise
            raise ImportFileError(
                f"the sheet cannot be read ({type(exc).__name__}: {exc})",
                path=self.source.name,
                row=number + 1,
                hint="open it in Excel or LibreOffice and save it again as .xlsx, or as CSV",
            ) from None
