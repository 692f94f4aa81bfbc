"""Preview and import a 1,000,000-row CSV: time, rows/s and the importer's peak memory.

Run from the repository root::

    PYTHONPATH=src python benchmarks/import_1m.py [--rows N] [--distinct N]

Each measurement runs in a fresh subprocess, so the peak RSS printed is that step's own
(the interpreter and msgkit's imports included, the file generation not). Three files
are previewed: a plain one (no quotes, the common export), one with every name quoted,
and one with every field quoted (preview's slowest, fully parsed path); the plain one is
imported too. The import's phone numbers repeat over
``--distinct`` values (by default all differ, as in a real list; the dedupe table then
holds a million numbers). Parsing a number with phonenumbers costs ~40 µs, which
dominates: the "floor" step measures, in the same run, the work no importer avoids
(csv parsing, parse_phone, one Contact per row), and the import's figure is printed
against it.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from _child import run_child

CHILD = r"""
import json, resource, sys, time
from msgkit.io import ColumnMapping, import_contacts, preview
path, step = sys.argv[1], sys.argv[2]
limit = 1 << 31
start = time.perf_counter()
if step == "preview":
    p = preview(path, max_bytes=limit)
    rows = p.row_count
    extra = {}
elif step == "baseline":
    rows = 0
    extra = {}
elif step == "floor":
    # The work no importer can avoid: parse each record, each number, build a Contact.
    import csv
    from msgkit.contacts import Contact, parse_phone
    rows = 0
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        next(reader)
        for r in reader:
            if r:
                rows += 1
                Contact(phone=parse_phone(r[1], "TW"), key=r[1],
                        attributes={"name": r[0], "joined": r[2], "points": r[3], "city": r[4]})
    extra = {}
else:
    mapping = ColumnMapping(phone="phone", variables={"joined_on": "joined"},
                            types={"joined": "date", "points": "int"})
    run = import_contacts(path, mapping, region="TW", max_bytes=limit)
    for batch in run.batches(5000):
        pass
    s = run.summary
    rows = s.rows
    extra = {"accepted": s.accepted, "rejected": s.rejected, "dedupe_bytes": run._seen.nbytes}
seconds = time.perf_counter() - start
peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"rows": rows, "seconds": seconds, "peak_mb": peak_kb / 1024, **extra}))
"""


def _write(path: Path, rows: int, distinct: int, quoting: str) -> None:
    q = '"' if quoting == "all" else ""
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write(",".join(f"{q}{c}{q}" for c in ("name", "phone", "joined", "points", "city")))
        f.write("\r\n")
        for i in range(rows):
            name = f'"Member, No. {i}"' if quoting != "none" else f"Member {i}"
            f.write(
                f"{name},{q}09{10_000_000 + i % distinct:08d}{q},{q}2024-{i % 12 + 1:02d}-"
                f"{i % 28 + 1:02d}{q},{q}{i % 1000}{q},{q}Taipei{q}\r\n"
            )
        f.write("\r\n\r\n")  # trailing blank lines: not rows


def _measure(path: Path, step: str) -> dict[str, float]:
    return run_child(CHILD, str(path), step)


def main() -> None:
    """Generate the files, measure each step, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--distinct", type=int, default=None, help="default: --rows")
    args = parser.parse_args()
    args.distinct = args.distinct or args.rows
    with tempfile.TemporaryDirectory() as tmp:
        for quoting in ("none", "name", "all"):
            path = Path(tmp) / f"quoted-{quoting}.csv"
            started = time.perf_counter()
            _write(path, args.rows, args.distinct, quoting)
            size = path.stat().st_size
            print(
                f"\n{path.name}: {args.rows:,} rows, {size / 1e6:.1f} MB, "
                f"{args.distinct:,} distinct numbers (written in "
                f"{time.perf_counter() - started:.1f} s)"
            )
            base = _measure(path, "baseline")
            print(f"  interpreter + imports      peak RSS {base['peak_mb']:6.1f} MB")
            steps = ("preview", "floor", "import") if quoting == "none" else ("preview",)
            for step in steps:
                m = _measure(path, step)
                assert m["rows"] == args.rows, m
                rate = m["rows"] / m["seconds"]
                line = (
                    f"  {step:<9} {m['seconds']:7.2f} s  {rate:>12,.0f} rows/s  "
                    f"peak RSS {m['peak_mb']:6.1f} MB (+{m['peak_mb'] - base['peak_mb']:.1f})"
                )
                if step == "floor":
                    floor = m["seconds"]
                if step == "import":
                    line += f"  = {m['seconds'] / floor:.2f} x floor"
                    print(line)
                    line = (
                        "            "
                        f"  accepted {m['accepted']:,.0f}, rejected {m['rejected']:,.0f}, "
                        f"dedupe table {m['dedupe_bytes'] / 1e6:.1f} MB"
                    )
                print(line)


if __name__ == "__main__":
    main()
