"""Import speed and peak memory of a 200,000 × 7 recipient list, XLSX and CSV.

Run from the repository root::

    PYTHONPATH=src python benchmarks/import_files.py [--small] [--rows N]

One workbook (written by openpyxl, as Excel lays it out: shared strings, a date
column, numbers) and the same data as CSV are read by:

- msgkit's ``preview`` (header, first rows, exact row count),
- msgkit's ``import_contacts`` (the path ``Client.import_list`` takes: every row parsed,
  the phone number parsed, one `Contact` per row),
- openpyxl in read-only mode, and python-calamine (the baselines), values only.

Then a workbook of many distinct short shared strings (9.8 million, a 25 MB file;
1 million with ``--small``) whose one row uses the last of them: every reader must
hold the whole shared-string table, so its peak memory is the table's cost.

Each reader runs in its own fresh subprocess, so the peak RSS printed is its own (the
interpreter and its imports included; the "python" line is that floor). The run exits
non-zero when a reader's row count is wrong or msgkit's values differ from openpyxl's
on a sample of rows; speed is printed, never judged.
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from _child import run_child

HEADER = ["Name", "Mobile", "Email", "City", "Points", "Joined", "Spend"]
CITIES = ["台北市", "新北市", "Taichung", "高雄市", "Tainan", "桃園市"]

CHILD = r"""
import json, resource, sys, time
path, reader, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
sample_at = {0, 1, n // 2, n - 1}
sample = {}

def keep(i, name, email, city, points, joined, spend):
    if i in sample_at:
        if hasattr(joined, "tzinfo") and joined.tzinfo is not None:
            joined = joined.replace(tzinfo=None)
        sample[i] = [str(name), str(email), str(city), int(points), joined.isoformat(),
                     float(spend)]

start = time.perf_counter()
rows = 0
if reader == "python":
    pass
elif reader.endswith(" sst"):  # the shared-strings workbook: one row, its first cell
    if reader.startswith("msgkit"):
        from msgkit.io import preview
        cells = [r[0] for r in preview(path, max_bytes=1 << 31).rows]
    elif reader.startswith("openpyxl"):
        import openpyxl
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
        cells = [r[0] for r in book.worksheets[0].iter_rows(values_only=True)][1:]
        book.close()
    else:
        from python_calamine import CalamineWorkbook
        sheet = CalamineWorkbook.from_path(path).get_sheet_by_index(0)
        cells = [r[0] for r in sheet.to_python()][1:]
    rows = len(cells)
    sample = {"0": [str(c) for c in cells]}
elif reader.startswith("msgkit preview"):
    from msgkit.io import preview
    rows = preview(path, max_bytes=1 << 31).row_count
elif reader.startswith("msgkit import"):
    from msgkit.io import ColumnMapping, import_contacts
    run = import_contacts(path, ColumnMapping(phone="Mobile", types={"Joined": "datetime"}),
                          region="TW", max_bytes=1 << 31)
    for i, c in enumerate(run):
        a = c.attributes
        keep(i, a["Name"], a["Email"], a["City"], a["Points"], a["Joined"], a["Spend"])
    rows = run.summary.rows
    if run.summary.rejected:
        print("rejected:", run.rejections()[:3], file=sys.stderr)
        sys.exit(1)
elif reader == "openpyxl read-only":
    import openpyxl
    book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    it = book.worksheets[0].iter_rows(values_only=True)
    next(it)
    for i, r in enumerate(it):
        keep(i, r[0], r[2], r[3], r[4], r[5], r[6])
        rows += 1
    book.close()
elif reader == "python-calamine":
    from python_calamine import CalamineWorkbook
    book = CalamineWorkbook.from_path(path)
    it = book.get_sheet_by_index(0).iter_rows()
    next(it)
    for i, r in enumerate(it):
        keep(i, r[0], r[2], r[3], r[4], r[5], r[6])
        rows += 1
elif reader == "csv module":
    import csv
    with open(path, newline="", encoding="utf-8") as f:
        it = csv.reader(f)
        next(it)
        for r in it:
            rows += 1
seconds = time.perf_counter() - start
try:  # this process's own high-water mark (ru_maxrss would count the parent's, forked)
    with open("/proc/self/status") as f:
        peak = next(int(l.split()[1]) for l in f if l.startswith("VmHWM")) / 1024
except OSError:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"rows": rows, "seconds": seconds, "peak_mb": peak,
                  "sample": {str(k): v for k, v in sample.items()}}))
"""


def _row(i: int) -> list[object]:
    joined = datetime(2020, 1, 1, 9, 30) + timedelta(days=i % 1500, minutes=i % 600)  # noqa: DTZ001
    return [
        f"會員 {i}" if i % 3 == 0 else f"Member {i}",
        f"09{10_000_000 + i:08d}",
        f"member{i}@example.com",
        CITIES[i % len(CITIES)],
        i % 5000,
        joined,
        round((i % 10_000) * 1.25, 2),
    ]


def _write(folder: Path, rows: int) -> tuple[Path, Path]:
    import openpyxl  # noqa: PLC0415 - a dev dependency, only needed here

    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("Members")
    sheet.append(HEADER)
    xlsx, csv_path = folder / "members.xlsx", folder / "members.csv"
    with csv_path.open("w", encoding="utf-8", newline="") as f:
        out = csv.writer(f)
        out.writerow(HEADER)
        for i in range(rows):
            row = _row(i)
            sheet.append(row)
            out.writerow([*row[:5], row[5].isoformat(sep=" "), row[6]])  # type: ignore[union-attr]
    book.save(xlsx)
    return xlsx, csv_path


def _write_strings(folder: Path, count: int) -> Path:
    """A workbook of ``count`` distinct short shared strings, one row using the last."""
    import zipfile  # noqa: PLC0415

    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    pkg = "http://schemas.openxmlformats.org/package/2006/relationships"
    path = folder / "strings.xlsx"
    sheet = (
        f'<worksheet xmlns="{main}"><sheetData><row r="1"><c r="A1" t="inlineStr"><is>'
        f'<t>phone</t></is></c></row><row r="2"><c r="A2" t="s"><v>{count - 1}</v></c></row>'
        "</sheetData></worksheet>"
    )
    ct = "http://schemas.openxmlformats.org/package/2006/content-types"
    kind = "application/vnd.openxmlformats-officedocument.spreadsheetml"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(
            "[Content_Types].xml",
            f'<Types xmlns="{ct}"><Default Extension="xml" ContentType="application/xml"/>'
            '<Default Extension="rels" ContentType="application/'
            'vnd.openxmlformats-package.relationships+xml"/>'
            f'<Override PartName="/xl/workbook.xml" ContentType="{kind}.sheet.main+xml"/>'
            f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{kind}.worksheet+xml"/>'
            f'<Override PartName="/xl/sharedStrings.xml" ContentType="{kind}.sharedStrings+xml"/>'
            "</Types>",
        )
        z.writestr(
            "_rels/.rels",
            f'<Relationships xmlns="{pkg}"><Relationship Id="rId1" '
            f'Type="{rel}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        )
        z.writestr(
            "xl/workbook.xml",
            f'<workbook xmlns="{main}" xmlns:r="{rel}"><sheets>'
            '<sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>',
        )
        z.writestr(
            "xl/_rels/workbook.xml.rels",
            f'<Relationships xmlns="{pkg}"><Relationship Id="rId1" Type="{rel}/worksheet" '
            'Target="worksheets/sheet1.xml"/><Relationship Id="rId2" '
            f'Type="{rel}/sharedStrings" Target="sharedStrings.xml"/></Relationships>',
        )
        z.writestr("xl/worksheets/sheet1.xml", sheet)
        with z.open("xl/sharedStrings.xml", "w", force_zip64=True) as part:
            part.write(f'<sst xmlns="{main}" uniqueCount="{count}">'.encode())
            for start in range(0, count, 100_000):
                end = min(count, start + 100_000)
                part.write("".join(f"<si><t>{i}</t></si>" for i in range(start, end)).encode())
            part.write(b"</sst>")
    return path


def _run(path: Path, reader: str, rows: int) -> dict[str, object]:
    return run_child(CHILD, str(path), reader, str(rows))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--small", action="store_true", help="20,000 rows (for CI)")
    parser.add_argument("--rows", type=int, default=None)
    args = parser.parse_args()
    rows = args.rows or (20_000 if args.small else 200_000)
    with tempfile.TemporaryDirectory() as tmp:
        began = time.perf_counter()
        xlsx, csv_path = _write(Path(tmp), rows)
        print(
            f"{rows:,} rows x {len(HEADER)} columns: XLSX {xlsx.stat().st_size / 1e6:.1f} MB, "
            f"CSV {csv_path.stat().st_size / 1e6:.1f} MB (written in "
            f"{time.perf_counter() - began:.1f} s)"
        )
        steps = [
            (xlsx, "python"),
            (xlsx, "msgkit preview xlsx"),
            (xlsx, "msgkit import xlsx"),
            (xlsx, "openpyxl read-only"),
            (xlsx, "python-calamine"),
            (csv_path, "msgkit preview csv"),
            (csv_path, "msgkit import csv"),
            (csv_path, "csv module"),
        ]
        print(f"{'reader':<22} {'seconds':>8} {'rows/s':>11} {'peak RSS':>9}")
        results: dict[str, dict[str, object]] = {}
        wrong: list[str] = []
        for path, reader in steps:
            r = results[reader] = _run(path, reader, rows)
            seconds = float(r["seconds"])  # type: ignore[arg-type]
            rate = f"{rows / seconds:,.0f}" if reader != "python" and seconds else "-"
            print(f"{reader:<22} {seconds:>8.2f} {rate:>11} {float(r['peak_mb']):>6.0f} MB")  # type: ignore[arg-type]
            if reader != "python" and r["rows"] != rows:
                wrong.append(f"{reader} read {r['rows']} rows, not {rows}")
        expected = results["openpyxl read-only"]["sample"]
        for reader in ("msgkit import xlsx", "python-calamine"):
            if results[reader]["sample"] != expected:
                wrong.append(f"{reader} read {results[reader]['sample']}, openpyxl {expected}")
        ratio = float(results["openpyxl read-only"]["seconds"]) / float(  # type: ignore[arg-type]
            results["msgkit preview xlsx"]["seconds"]  # type: ignore[arg-type]
        )
        print(f"msgkit preview xlsx is {ratio:.1f}x openpyxl read-only")
        count = 1_000_000 if args.small else 9_800_000
        strings = _write_strings(Path(tmp), count)
        print(
            f"\n{count:,} distinct short shared strings, one row: "
            f"XLSX {strings.stat().st_size / 2**20:.1f} MiB"
        )
        for reader in ("msgkit preview sst", "openpyxl read-only sst", "python-calamine sst"):
            r = _run(strings, reader, 1)
            print(
                f"{reader:<22} {float(r['seconds']):>8.2f} {'':>11} {float(r['peak_mb']):>6.0f} MB"
            )  # type: ignore[arg-type]
            if r["sample"] != {"0": [str(count - 1)]}:
                wrong.append(f"{reader} read {r['sample']}, not [{count - 1}]")
    for line in wrong:
        print("WRONG:", line, file=sys.stderr)
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
