"""A tiny XLSX writer for tests: the parts Excel writes, with the knobs readers trip on."""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
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
) -> Path:
    """Write a workbook: sheet name → rows (None for a row left out of the XML).

    Style 1 is a built-in date format (14), style 2 a custom ``yyyy-mm-dd hh:mm``.
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
    parts["xl/styles.xml"] = (
        f'<styleSheet xmlns="{MAIN}"><numFmts count="1">'
        '<numFmt numFmtId="164" formatCode="yyyy\\-mm\\-dd hh:mm"/></numFmts>'
        '<cellXfs count="3"><xf numFmtId="0"/><xf numFmtId="14"/><xf numFmtId="164"/></cellXfs>'
        "</styleSheet>"
    )
    parts["[Content_Types].xml"] = (
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>'
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in parts.items():
            z.writestr(name, text)
    return path
