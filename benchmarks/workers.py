"""Many workers on one store: 4 ``msgkit worker`` processes against 1, on a batched
provider, and a send speed shared by 4 workers.

One local provider server in its own process (`_server.py`: uvicorn + httptools)
answers Alibaba's ``SendBatchSms`` (100 numbers a request) and records each recipient
with its arrival time. For each run a campaign is planned into the store (a SQLite file,
or ``--store URL``: a PostgreSQL database once that store is installed), then N
``msgkit worker`` processes -- the command users run, one per machine -- send it. The
figure is the provider's: recipients over the time from the first to the last arrival
(worker start-up is not counted).

- 1 worker, then 4 workers: messages/s and the ratio (the issue's goal: >= 3x on
  PostgreSQL; on SQLite every commit of every worker goes through one file's write
  lock, which caps it -- the run prints what it gets);
- a campaign's send speed of 500/s shared by 4 workers, over 10 s, as the provider saw
  it (the goal: within 10 %).

Afterwards it checks that the provider saw each recipient exactly once and that the
store reports every message sent; it exits non-zero when not (never on a speed figure).

    PYTHONPATH=src python benchmarks/workers.py [--small] [--store URL] [--messages N]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _server import start_server

import msgkit

FAILURES: list[str] = []
RUNS = itertools.count(1)
ENV = {
    **os.environ,
    "PYTHONPATH": os.pathsep.join(sys.path),
    "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "bench-secret",
}


def stats(url: str, *, times: bool = False) -> dict[str, Any]:
    with urllib.request.urlopen(f"{url}/_stats{'?times=1' if times else ''}") as r:
        found: dict[str, Any] = json.loads(r.read()).get("alibaba", {})
        return found or {"requests": 0, "recipients": 0, "distinct": 0, "times": []}


def reset(url: str) -> None:
    urllib.request.urlopen(urllib.request.Request(f"{url}/_reset", method="POST")).close()


def check(what: str, ok: bool, detail: str) -> None:
    if not ok:
        FAILURES.append(f"{what}: {detail}")
        print(f"  FAILED {what}: {detail}")


def write_config(folder: Path, url: str) -> Path:
    path = folder / "msgkit.toml"
    path.write_text(
        "\n".join(
            [
                "[providers.ali]",
                'type = "alibaba"',
                'access_key_id = "key"',
                'sign_name = "msgkit"',
                f'base_url = "{url}"',
                "[engine]",
                "batch_size = 1000",
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    return path


def run(
    store: str, config: Path, url: str, count: int, workers: int, *, speed: int | None = None
) -> tuple[float, list[float]]:
    """Plan a campaign of ``count`` new recipients, send it with ``workers`` processes;
    the provider's messages/s and arrival times."""
    reset(url)
    n = next(RUNS)
    numbers = [f"+86138{n:02d}{i:06d}" for i in range(count)]
    policy = msgkit.SendPolicy(send_speed=msgkit.SendSpeed(messages=speed)) if speed else None
    with msgkit.Client(store=store, config=config, env=ENV) as client:
        contacts = [
            msgkit.Contact(phone=p, attributes={"name": f"m{i}"}) for i, p in enumerate(numbers)
        ]
        members = client.create_list(f"run {n}", contacts)
        template = msgkit.Template(body="Hi ${name}, your code", code="SMS_1", review="approved")
        campaign = client.create_campaign(
            f"run {n}", template, audience=members, provider="ali", policy=policy
        )
        command = [sys.executable, "-m", "msgkit", "--store", store, "--config", str(config)]
        processes = [
            subprocess.Popen(
                [*command, "worker"], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
            )
            for _ in range(workers)
        ]
        try:
            time.sleep(1.5)  # started and idle: the campaign goes to all of them at once
            client.start(campaign)
            deadline = time.monotonic() + 600
            while client.progress(campaign).pending and time.monotonic() < deadline:
                time.sleep(0.2)
            progress = client.progress(campaign)
        finally:
            for process in processes:
                process.send_signal(signal.SIGTERM)
            for process in processes:
                _, err = process.communicate(timeout=60)
                check(f"{workers} workers: exit", process.returncode == 0, err.decode()[-500:])
    seen = stats(url, times=True)
    check(
        f"{workers} workers: provider",
        seen["recipients"] == seen["distinct"] == count,
        f"saw {seen['recipients']} recipients ({seen['distinct']} distinct) of {count}",
    )
    check(f"{workers} workers: store", progress.sent == count, f"{progress.sent} sent of {count}")
    times = sorted(seen["times"])
    took = times[-1] - times[0] if len(times) > 1 else float("nan")
    return count / took, times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="a quick run (CI)")
    parser.add_argument("--store", help="a store URL (default: a new SQLite file)")
    parser.add_argument("--messages", type=int, default=0)
    args = parser.parse_args()
    count = args.messages or (4000 if args.small else 40_000)
    with start_server() as url, tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        store = args.store or f"sqlite:///{folder / 'msgkit.db'}"
        config = write_config(folder, url)
        print(
            f"store {store.split('@')[-1]}, {count:,} messages, SendBatchSms of 100, "
            f"{os.cpu_count()} CPUs for the workers, the server and the database"
        )
        one, _ = run(store, config, url, count, 1)
        print(f"{'1 msgkit worker':<40} {one:10,.0f} msg/s", flush=True)
        four, _ = run(store, config, url, count, 4)
        print(f"{'4 msgkit workers':<40} {four:10,.0f} msg/s", flush=True)
        print(f"4 workers / 1 worker: {four / one:5.2f}x   (target >= 3x on PostgreSQL)")
        if store.startswith("sqlite"):
            print(
                "  (SQLite: one file, one writer at a time -- every worker's claims, marks and "
                "results queue for its write lock and fsync; PostgreSQL writes concurrently)"
            )
        if not args.small:
            rate, seconds = 500, 10
            _, times = run(store, config, url, rate * (seconds + 2), 4, speed=rate)
            window = [t for t in times if t < times[0] + seconds]
            observed = len(window) / seconds
            print(
                f"{f'send speed {rate}/s, 4 workers, first {seconds} s':<40} {observed:10,.1f} "
                f"msg/s  ({(observed / rate - 1) * 100:+.1f} %, target within 10 %)"
            )
    if FAILURES:
        print("\n".join(["", "FAILED:", *FAILURES]))
        sys.exit(1)


if __name__ == "__main__":
    main()
