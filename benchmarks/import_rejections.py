"""Peak memory of `Client.import_list` on a file whose rows are all rejected.

Run from the repository root::

    PYTHONPATH=src python benchmarks/import_rejections.py [--small] [--mb 24]

A CSV of ``--mb`` MB whose every row is rejected (a phone number that is too short) is
imported into a fresh SQLite store. Each step runs in a fresh subprocess, so the peak RSS
printed is that step's own (the interpreter and imports included, the file generation
not):

- ``import_list``: msgkit's path: the rejections stream from the importer's spool into
  the store, one chunk at a time, and stay in the spool until asked for.
- ``handed_back``: the same, then ``write_rejections_csv`` copies them to a file.
- ``materialised``: the baseline, measured in the same run: import_list as it was
  before issue 14: the spool read as one string, parsed into a list of every
  `Rejection` before any is stored, and the CSV text kept on the result.

``--small`` (a 2 MB file) finishes in seconds and exits non-zero if a count is wrong
(never on speed or memory).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from _child import run_child

CHILD = r"""
import csv, io, json, resource, sys, time
from msgkit import Client
from msgkit.io import ContactImport, Rejection, RejectReason

path, db, step = sys.argv[1:]


def materialised(self):  # import_list before issue 14: the whole text, then a list
    rows = csv.reader(io.StringIO(self.rejections_csv(), newline=""))
    next(rows)
    return iter([
        Rejection(row=int(r[0]), column=r[1] or None, reason=RejectReason(r[2]), detail=r[3],
                  phone_reason=r[4] or None, duplicate_of=int(r[5]) if r[5] else None)
        for r in rows
    ])


if step == "materialised":
    ContactImport.iter_rejections = materialised
start = time.perf_counter()
client = Client(store=f"sqlite:///{db}")
imported = client.import_list(path, phone="Mobile", region="TW")
if step == "materialised":
    kept = imported.rejections_csv  # ImportedList held it as a string
elif step == "handed_back":
    with open(db + ".rejected.csv", "w", encoding="utf-8", newline="") as out:
        imported.write_rejections_csv(out)
stored = client.lists()[0]["rejected"]
client.close()
peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"rows": imported.summary.rows, "rejected": imported.summary.rejected,
                  "stored": stored, "seconds": time.perf_counter() - start,
                  "peak_mb": peak_kb / 1024}))
"""


def _write(path: Path, megabytes: float) -> int:
    rows = 0
    target = int(megabytes * 1_000_000)
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write("Mobile,Name,City,Note\n")
        written = 0
        while written < target:
            line = f"{rows % 1000},Member {rows},Taipei,rejected because the number is short\n"
            handle.write(line)
            written += len(line)
            rows += 1
    return rows


def _measure(path: Path, db: Path, step: str) -> dict[str, float]:
    return run_child(CHILD, str(path), str(db), step)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="a 2 MB file; checks counts")
    parser.add_argument("--mb", type=float, default=24.0, help="file size in MB")
    args = parser.parse_args()
    megabytes = 2.0 if args.small else args.mb
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "rejected.csv"
        rows = _write(path, megabytes)
        print(f"{path.stat().st_size / 1e6:.1f} MB, {rows:,} rows, every one rejected")
        results = {}
        for step in ("import_list", "handed_back", "materialised"):
            results[step] = got = _measure(path, Path(folder) / f"{step}.db", step)
            print(f"  {step:<13} peak RSS {got['peak_mb']:8.1f} MB   {got['seconds']:6.1f} s")
            if (got["rows"], got["rejected"], got["stored"]) != (rows, rows, rows):
                print(f"wrong counts: {got} (expected {rows} rows, all rejected)")
                sys.exit(1)
        ratio = results["materialised"]["peak_mb"] / results["import_list"]["peak_mb"]
        print(f"  import_list peaks at 1/{ratio:.1f} of the materialised baseline")


if __name__ == "__main__":
    main()
