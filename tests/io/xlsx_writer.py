"""A tiny XLSX writer for tests: the parts Excel writes, with the knobs readers trip on."""

from __future__ import annotations

import zipfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from xml.sax.saxutils import escape

from msgkit.io._table import column_letter

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG = "http://schemas.openxmlformats.org/package/2006/relationships"

# A cell is a value, or a (kind, text, style) triple written as is.
Cell = object


def _cell(ref: str, value: Cell, strings: list[str]) -> str:
    if value is None:
        return ""
    if isinstance(value, tuple):
        kind, text, style = value
        s = f' s="{style}"' if style is not None else ""
        t = f' t="{kind}"' if kind != "n" else ""
        if kind == "inlineStr":
            return f'<c r="{ref}"{t}{s}><is><t>{escape(text)}</t></is></c>'
        return f'<c r="{ref}"{t}{s}><v>{escape(text)}</v></c>'
    if isinstance(value, bool):
        return f'<c r="{ref}" t="b"><v>{int(value)}</v></c>'
    if isinstance(value, (int, float)):
        return f'<c r="{ref}"><v>{value!r}</v></c>'
    strings.append(str(value))
    return f'<c r="{ref}" t="s"><v>{len(strings) - 1}</v></c>'


def write_xlsx(
    path: Path,
    sheets: dict[str, Sequence[Sequence[Cell] | None]],
    *,
    date1904: bool = False,
    sheet_prolog: str = "",
    row_refs: bool = True,
    formats: Sequence[str | int] = (),
    sheet_data: str | None = None,
    prologs: Mapping[str, str] | None = None,
) -> Path:
    """Write a workbook: sheet name → rows (None for a row left out of the XML).

    Style 1 is a built-in date format (14), style 2 a custom ``yyyy-mm-dd hh:mm``;
    styles 3, 4, ... are ``formats`` in order (a code, or a built-in format's id).
    ``sheet_data`` replaces the first sheet's ``<sheetData>`` content as written;
    ``prologs`` puts text before the root element of the parts named.
    """
    strings: list[str] = []
    parts: dict[str, str] = {}
    for n, (_name, rows) in enumerate(sheets.items(), start=1):
        xml_rows = []
        for r, row in enumerate(rows, start=1):
            if row is None:
                continue
            cells = "".join(_cell(f"{column_letter(c)}{r}", v, strings) for c, v in enumerate(row))
            ref = f' r="{r}"' if row_refs else ""
            xml_rows.append(f"<row{ref}>{cells}</row>")
        if n == 1 and sheet_data is not None:
            xml_rows = [sheet_data]
        parts[f"xl/worksheets/sheet{n}.xml"] = (
            f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>{sheet_prolog}'
            f'<worksheet xmlns="{MAIN}"><sheetData>{"".join(xml_rows)}</sheetData></worksheet>'
        )
    sheet_list = "".join(
        f'<sheet name="{escape(name)}" sheetId="{n}" r:id="rId{n}"/>'
        for n, name in enumerate(sheets, start=1)
    )
    pr = '<workbookPr date1904="1"/>' if date1904 else ""
    parts["xl/workbook.xml"] = (
        f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{MAIN}" xmlns:r="{REL}">'
        f"{pr}<sheets>{sheet_list}</sheets></workbook>"
    )
    rels = "".join(
        f'<Relationship Id="rId{n}" Type="{REL}/worksheet" Target="worksheets/sheet{n}.xml"/>'
        for n in range(1, len(sheets) + 1)
    )
    parts["xl/_rels/workbook.xml.rels"] = f'<Relationships xmlns="{PKG}">{rels}</Relationships>'
    si = "".join(f"<si><t>{escape(s)}</t></si>" for s in strings)
    parts["xl/sharedStrings.xml"] = f'<sst xmlns="{MAIN}" count="{len(strings)}">{si}</sst>'
    codes = {164: "yyyy\\-mm\\-dd hh:mm"}
    ids = [0, 14, 164]
    for f in formats:
        if isinstance(f, int):
            ids.append(f)
        else:
            codes[164 + len(codes)] = f
            ids.append(163 + len(codes))
    num_fmts = "".join(
        f'<numFmt numFmtId="{i}" formatCode="{escape(c, {chr(34): "&quot;"})}"/>'
        for i, c in codes.items()
    )
    xfs = "".join(f'<xf numFmtId="{i}"/>' for i in ids)
    parts["xl/styles.xml"] = (
        f'<styleSheet xmlns="{MAIN}"><numFmts count="{len(codes)}">{num_fmts}</numFmts>'
        f'<cellXfs count="{len(ids)}">{xfs}</cellXfs></styleSheet>'
    )
    ct = "http://schemas.openxmlformats.org/package/2006/content-types"
    sheet_types = "".join(
        f'<Override PartName="/xl/worksheets/sheet{n}.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        for n in range(1, len(sheets) + 1)
    )
    parts["[Content_Types].xml"] = (
        f'<Types xmlns="{ct}"><Default Extension="xml" ContentType="application/xml"/>'
        '<Default Extension="rels" '
        'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        f"{sheet_types}</Types>"
    )
    parts["_rels/.rels"] = (
        f'<Relationships xmlns="{PKG}"><Relationship Id="rId1" '
        f'Type="{REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
    )
    for name, prolog in (prologs or {}).items():
        head, sep, rest = parts[name].partition("?>")
        parts[name] = f"{head}{sep}{prolog}{rest}" if sep else prolog + parts[name]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in parts.items():
            z.writestr(name, text)
    return path


def replace_part(path: Path, name: str, chunks: Iterable[bytes]) -> Path:
    """Rewrite the workbook with the part ``name`` streamed from ``chunks`` (so a huge
    part is compressed without being held in memory)."""
    with zipfile.ZipFile(path) as old:
        kept = {n: old.read(n) for n in old.namelist() if n != name}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for n, data in kept.items():
            z.writestr(n, data)
        with z.open(name, "w", force_zip64=True) as part:
            for chunk in chunks:
                part.write(chunk)
    return path
