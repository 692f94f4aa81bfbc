"""Peak memory and time of the error for a big CSV file that does not decode.

Run from the repository root::

    PYTHONPATH=src python benchmarks/decode_error.py [--small] [--rows N]

The file is UTF-8 (2,400,000 rows, 88 MB; 200,000 rows with ``--small``) but for one
cp1252 byte on its last row, as when a row is pasted in from another export. Each
reader runs in its own fresh subprocess, so the peak RSS printed is its own (the
interpreter and its imports included; the "python" line is that floor):

- msgkit's ``preview``: reads the file, fails, and finds the row, the byte and the
  encodings that would read it (``CsvTable._decode_error``);
- "whole file": the bytes read at once and decoded once, strictly then with
  ``errors="replace"`` (what finding the row took before: the least any reader holding
  the file in memory needs).

The run exits non-zero when msgkit's error names the wrong row or byte offset; speed
and memory are printed, never judged.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from _child import run_child

CHILD = r"""
import json, resource, sys, time
path, reader = sys.argv[1], sys.argv[2]
start = time.perf_counter()
out = {}
if reader == "msgkit preview":
    from msgkit.exceptions import ImportFileError
    from msgkit.io import preview
    try:
        preview(path, max_bytes=1 << 40)
    except ImportFileError as exc:
        out = {"row": exc.row, "error": str(exc)}
elif reader == "whole file":
    with open(path, "rb") as f:
        data = f.read()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        out = {"offset": exc.start, "chars": len(data[: exc.start].decode("utf-8", "replace"))}
out["seconds"] = time.perf_counter() - start
out["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
"""


def _write(path: Path, rows: int) -> int:
    """Write the file; the offset of its one bad byte."""
    with path.open("wb") as f:
        f.write("phone,name\n+886912345678,王小明\n".encode())
        step = 100_000
        for start in range(0, rows - 2, step):
            f.write(
                b"".join(
                    b"+8869%08d,Wang Xiao Ming %d\n" % (i, i)
                    for i in range(start, min(start + step, rows - 2))
                )
            )
        offset = f.tell() + len(b"+886912345679,M")
        f.write("+886912345679,Müller\n".encode("cp1252"))
    return offset


def _run(path: Path, reader: str) -> dict[str, object]:
    return run_child(CHILD, str(path), reader)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--small", action="store_true", help="200,000 rows (for CI)")
    parser.add_argument("--rows", type=int, default=None)
    args = parser.parse_args()
    rows = args.rows or (200_000 if args.small else 2_400_000)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "big.csv"
        offset = _write(path, rows)
        size = path.stat().st_size
        print(f"{rows:,} rows, {size / 1e6:.1f} MB, one cp1252 byte at offset {offset:,}")
        print(f"{'reader':<16} {'seconds':>8} {'peak RSS MB':>12}")
        wrong = []
        for reader in ("python", "whole file", "msgkit preview"):
            got = _run(path, reader)
            print(f"{reader:<16} {got['seconds']:>8.2f} {got['rss_mb']:>12.0f}")
            if reader == "msgkit preview":
                # The header is row 1, the bad byte is on the last of `rows` data rows.
                if got.get("row") != rows + 1:
                    wrong.append(f"msgkit named row {got.get('row')}, not {rows + 1}")
                if f"at offset {offset:,}" not in str(got.get("error")):
                    wrong.append(f"msgkit's error does not name offset {offset:,}: {got}")
            if reader == "whole file" and got.get("offset") != offset:
                wrong.append(f"the whole-file decode found offset {got.get('offset')}")
    for problem in wrong:
        print("WRONG:", problem)
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
