"""Import -> plan -> outbox: a CSV list through `msgkit.Client`, as users run it.

Run from the repository root::

    PYTHONPATH=src python benchmarks/pipeline.py [--small] [--sizes 10000,1000000]
                                                 [--profile STAGE] [--phone-key]

For each size (default 10,000 and 1,000,000; ``--small``: 10,000 and 50,000) a CSV is
written (national and international numbers, 2 % invalid, 1 % duplicates, a few
attribute columns) and, in a fresh subprocess each (so each has its own peak RSS):

- ``floor``: csv.reader + the same `parse_phone` per row, nothing else (what no
  importer avoids);
- ``bare``: an executemany of the same rows into a bare SQLite table (one index-free
  table, one commit per 500 rows on the same ``synchronous`` setting as the store);
- ``pipeline``: ``Client.import_list`` into a SQLite file, then a campaign with two
  variables, a tracked short link and a frequency cap, ``Client.start`` (planned and
  written to the outbox).

It prints recipients/s and peak RSS for each stage (import, start) against the
baselines, the flatness ratio (per-recipient cost at the largest size over that at the
smallest), and checks the outbox: exactly the valid, deduplicated recipients, each
message's text rendered as expected for a few rows. It exits non-zero when the check
fails (never on a speed figure). ``--profile import`` or ``--profile start`` prints a
cProfile of that stage at the largest size.

``--phone-key`` runs the pipeline a second time with phone numbers encrypted at rest
(``Client(phone_key=...)``), prints its figures and their ratio to the plain run's, and
checks that outbox too (found by blind index; no number of the check in the file).
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import tempfile
from pathlib import Path

from _child import run_child

CHILD = r"""
import json, resource, sys, time
path, db, step, profile, key = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]

def peak():
    # VmHWM: this process's own high-water mark (ru_maxrss would also count the parent's
    # memory, which Linux carries across fork + exec).
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

out = {}
if step == "floor":
    import csv
    from msgkit.contacts import parse_phone
    from msgkit.exceptions import InvalidPhoneError
    started = time.perf_counter()
    rows = ok = 0
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        next(reader)
        for r in reader:
            rows += 1
            try:
                parse_phone(r[1], "TW")
                ok += 1
            except InvalidPhoneError:
                pass
    out = {"rows": rows, "seconds": time.perf_counter() - started, "peak_mb": peak()}
elif step == "bare":
    import csv, itertools, sqlite3
    started = time.perf_counter()
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("CREATE TABLE t (name TEXT, phone TEXT, joined TEXT, points TEXT, city TEXT)")
    rows = 0
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        next(reader)
        while batch := list(itertools.islice(reader, 500)):
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany("INSERT INTO t VALUES (?, ?, ?, ?, ?)", batch)
            conn.execute("COMMIT")
            rows += len(batch)
    conn.close()
    out = {"rows": rows, "seconds": time.perf_counter() - started, "peak_mb": peak()}
else:
    import cProfile, pstats
    from datetime import timedelta
    import msgkit
    client = msgkit.Client(f"sqlite:///{db}", phone_key=None if key == "-" else key)
    prof = cProfile.Profile() if profile == "import" else None
    started = time.perf_counter()
    if prof:
        prof.enable()
    imported = client.import_list(
        path, phone="phone", variables={"name": "name", "points": "points"},
        types={"points": "int"}, region="TW", max_bytes=1 << 31,  # 1M rows: ~47 MB
    )
    if prof:
        prof.disable()
        profiled = prof
    imported_s = time.perf_counter() - started
    import_peak = peak()
    campaign = client.create_campaign(
        "pipeline",
        msgkit.Template(
            body="Hi ${name}, you have ${points} points: ${link:shop}",
            links={"shop": "https://shop.example.com/spring"},
            kind="promotional",
        ),
        audience=imported.id,
        policy=msgkit.SendPolicy(
            links=msgkit.ShortLinks(base_url="https://go.example.com/l", secret="s" * 32),
            caps=[msgkit.FrequencyCap(limit=2, per=timedelta(days=7))],
        ),
    )
    prof = cProfile.Profile() if profile == "start" else None
    started = time.perf_counter()
    if prof:
        prof.enable()
    result = client.start(campaign)
    if prof:
        prof.disable()
        profiled = prof
    start_s = time.perf_counter() - started
    if profile != "-":
        pstats.Stats(profiled, stream=sys.stderr).sort_stats("cumulative").print_stats(45)
        pstats.Stats(profiled, stream=sys.stderr).sort_stats("tottime").print_stats(30)
    client.close()
    s = imported.summary
    out = {
        "rows": s.rows, "accepted": s.accepted, "rejected": s.rejected,
        "duplicates": s.by_reason.get("duplicate", 0), "written": result.written,
        "recipients": result.summary.planned,
        "import_s": imported_s, "start_s": start_s,
        "import_peak_mb": import_peak, "peak_mb": peak(),
    }
print(json.dumps(out))
"""

NAMES = ("Chen", "Lin", "Huang", "Chang", "Lee", "Wang", "Wu", "Liu", "Tsai", "Yang")


def _number(i: int) -> tuple[str, str | None]:
    """The file's phone text of row ``i`` and its E.164 number (None: invalid)."""
    n = 10_000_000 + (i * 7_919) % 80_000_000  # 0910-0989: mobile; distinct, unordered
    if i % 50 == 7:  # 2 % invalid
        return f"0912-34{i % 10}", None
    if i % 3 == 0:
        return f"+886 9{n:08d}", f"+8869{n:08d}"
    return f"09{n:08d}", f"+8869{n:08d}"


def write_csv(path: Path, rows: int) -> dict[str, str]:
    """Write the list; returns the expected text of a few E.164 numbers."""
    expected: dict[str, str] = {}
    seen: set[str] = set()
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write("name,phone,joined,points,city\r\n")
        for i in range(rows):
            source = i - 1 if i % 100 == 99 else i  # 1 % duplicates (the row before)
            raw, e164 = _number(source)
            name = f"{NAMES[i % 10]} {i}"
            f.write(f"{name},{raw},2024-{i % 12 + 1:02d}-{i % 28 + 1:02d},{i % 1000},Taipei\r\n")
            if e164 is not None and e164 not in seen:
                seen.add(e164)
                if i % (rows // 5) == 3:
                    expected[e164] = f"Hi {name}, you have {i % 1000} points: "
    expected["_count"] = str(len(seen))
    return expected


def _child(path: Path, db: Path, step: str, profile: str = "-", key: str = "-") -> dict[str, float]:
    return run_child(CHILD, str(path), str(db), step, profile, key)


def check(db: Path, expected: dict[str, str], key: str | None = None) -> list[str]:
    """What is wrong with the outbox (nothing: an empty list). With the ``key`` the
    outbox was encrypted with, messages are found by the blind index of their number,
    and no checked number may be in the file."""
    from msgkit.contacts import PhoneCipher  # noqa: PLC0415

    cipher = None if key is None else PhoneCipher(key)
    problems = []
    conn = sqlite3.connect(db)
    count = conn.execute("SELECT COUNT(*) FROM messages WHERE state = 'planned'").fetchone()[0]
    distinct = conn.execute("SELECT COUNT(DISTINCT recipient) FROM messages").fetchone()[0]
    want = int(expected["_count"])
    if count != want or distinct != want:
        problems.append(f"outbox holds {count} planned ({distinct} recipients), want {want}")
    for e164, prefix in expected.items():
        if e164 == "_count":
            continue
        stored = e164 if cipher is None else cipher.blind_index(e164)
        rows = conn.execute("SELECT text FROM messages WHERE recipient = ?", (stored,)).fetchall()
        if (
            len(rows) != 1
            or not rows[0][0].startswith(prefix)
            or "go.example.com/l/" not in rows[0][0]
        ):
            problems.append(f"{e164}: {rows!r}, want one text starting {prefix!r} + a short link")
    conn.close()
    if cipher is not None:
        data = b"".join(f.read_bytes() for f in db.parent.glob(db.name + "*"))
        problems += [
            f"{e164} is in the encrypted database"
            for e164 in expected
            if e164 != "_count" and e164.encode() in data
        ]
    return problems


def main() -> None:
    """Write the lists, run each stage in its own process, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="10,000 and 50,000 rows")
    parser.add_argument("--sizes", default=None, help="comma-separated row counts")
    parser.add_argument("--profile", choices=("import", "start"), default="-")
    parser.add_argument(
        "--phone-key", action="store_true", help="also run with phone numbers encrypted"
    )
    args = parser.parse_args()
    sizes = [
        int(s)
        for s in (args.sizes or ("10000,50000" if args.small else "10000,1000000")).split(",")
    ]
    per: dict[int, float] = {}
    own: dict[int, float] = {}
    failed = False
    print(f"import -> plan -> outbox (Python {sys.version.split()[0]}, {os.cpu_count()} cpus)")
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            path = Path(tmp) / f"list-{size}.csv"
            expected = write_csv(path, size)
            floor = _child(path, Path(tmp) / "floor.db", "floor")
            bare = _child(path, Path(tmp) / f"bare-{size}.db", "bare")
            db = Path(tmp) / f"msgkit-{size}.db"
            profile = args.profile if size == sizes[-1] else "-"
            m = _child(path, db, "pipeline", profile)
            total = m["import_s"] + m["start_s"]
            per[size] = total / size
            # Without the csv + phone parsing the floor measured (parse_phone is being made
            # much cheaper elsewhere): what msgkit itself adds per recipient.
            own[size] = (total - floor["seconds"]) / size
            print(
                f"\n{size:,} rows ({m['accepted']:,} accepted, {m['rejected']:,} rejected, "
                f"{m['duplicates']:,} duplicates; {m['recipients']:,} planned)"
            )
            print(
                f"  baseline csv + parse_phone  {size / floor['seconds']:>10,.0f} rows/s   "
                f"peak {floor['peak_mb']:6.1f} MB"
            )
            print(
                f"  baseline bare executemany   {size / bare['seconds']:>10,.0f} rows/s   "
                f"peak {bare['peak_mb']:6.1f} MB"
            )
            print(
                f"  import_list                 {size / m['import_s']:>10,.0f} rows/s   "
                f"peak {m['import_peak_mb']:6.1f} MB   "
                f"{m['import_s'] / (floor['seconds'] + bare['seconds']):.2f}x (floor + bare)"
            )
            print(
                f"  start (plan + outbox)       {size / m['start_s']:>10,.0f} rows/s   "
                f"peak {m['peak_mb']:6.1f} MB"
            )
            print(
                f"  end to end                  {size / total:>10,.0f} recipients/s "
                f"({total:.1f} s; {1e6 * own[size]:.1f} µs each beyond csv + parse_phone)"
            )
            problems = check(db, expected)
            if m["written"] != int(expected["_count"]):
                problems.append(f"start wrote {m['written']}, want {expected['_count']}")
            if args.phone_key:
                from msgkit.contacts import PhoneCipher  # noqa: PLC0415

                key = PhoneCipher.new_key()
                sealed_db = Path(tmp) / f"sealed-{size}.db"
                k = _child(path, sealed_db, "pipeline", "-", key)
                print(
                    f"  import_list, encrypted      {size / k['import_s']:>10,.0f} rows/s   "
                    f"peak {k['import_peak_mb']:6.1f} MB   "
                    f"{k['import_s'] / m['import_s']:.2f}x the plain import"
                )
                print(
                    f"  start, encrypted            {size / k['start_s']:>10,.0f} rows/s   "
                    f"peak {k['peak_mb']:6.1f} MB   "
                    f"{k['start_s'] / m['start_s']:.2f}x the plain start"
                )
                problems += [f"encrypted: {p}" for p in check(sealed_db, expected, key)]
                if k["written"] != m["written"]:
                    problems.append(f"encrypted: start wrote {k['written']}, plain {m['written']}")
            for p in problems:
                print(f"  FAILED: {p}")
            failed = failed or bool(problems)
            for f in Path(tmp).glob("*.db*"):
                f.unlink()
            path.unlink()
    small, large = sizes[0], sizes[-1]
    print(
        f"\nflatness: per-recipient cost at {large:,} / at {small:,} = "
        f"{per[large] / per[small]:.2f} (target <= 1.20); beyond csv + parse_phone "
        f"{own[large] / own[small]:.2f}"
    )
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
