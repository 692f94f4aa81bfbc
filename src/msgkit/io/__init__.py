"""Recipient files in and out: CSV and XLSX import, preview, rejected rows.

- `preview` reads a file's columns, first rows and exact row count, fast.
- `import_contacts` streams a file into `Contact` s through a `ColumnMapping`,
  reporting every row it cannot use as a `Rejection`.

Files are CSV (UTF-8 with or without BOM, UTF-16/32, GB18030, cp950/Big5, Big5-HKSCS,
cp932/Shift_JIS, cp949/EUC-KR, cp1252; ``,`` ``;`` or tab) or XLSX. Both are refused
over a size limit (25 MiB by default) before any row is read.
"""

from msgkit.io._source import MAX_BYTES
from msgkit.io.importer import (
    MAX_CELL_CHARS,
    BadValue,
    BlankedCell,
    ColumnMapping,
    ContactImport,
    ImportSummary,
    Rejection,
    RejectReason,
    import_contacts,
)
from msgkit.io.preview import Preview, preview

__all__ = [
    "MAX_BYTES",
    "MAX_CELL_CHARS",
    "BadValue",
    "BlankedCell",
    "ColumnMapping",
    "ContactImport",
    "ImportSummary",
    "Preview",
    "RejectReason",
    "Rejection",
    "import_contacts",
    "preview",
]
