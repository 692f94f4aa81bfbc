"""Dispatch throughput, the path users take, against raw HTTP loops in the same run.

One local provider server in its own process (`_server.py`: uvicorn + httptools)
answers every path measured here, one message per request where the provider takes one:

- raw aiohttp loop and raw httpx.AsyncClient loop (N requests in flight), Twilio-shaped;
- Apprise ``json://`` notifications, sequential;
- msgkit: `msgkit.Client` on a SQLite file (``synchronous=FULL``, the default), the real
  Twilio adapter (and LINE) pointed at the server, a campaign created, started, and
  ``client.run()`` timed -- the path users take;
- msgkit, batched: the Alibaba adapter, SendBatchSms of 100;
- the rate limit: a campaign's send speed of 500/s, measured from the server's arrival
  times;
- ``--long``: the resident memory of a run dispatching 1,000,000 messages;
- ``--store postgresql://...``: the msgkit runs on PostgreSQL instead of SQLite files
  (a PostgreSQL server's DSN; each run makes a fresh database on it and drops it after);
- ``--phone-key``: the Twilio run again with phone numbers encrypted at rest
  (``Client(phone_key=...)``: each claimed number opened before it is sent), and its
  ratio to the plain run.

Afterwards it checks that the server saw each recipient exactly once and that every
message ended submitted; it exits non-zero when not (never on a speed figure). Run:

    PYTHONPATH=src python benchmarks/dispatch.py [--small] [--long [N]] [--concurrency C]
        [--phone-key] [--store postgresql://user@host:5432/postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
import json
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import aiohttp
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _server import start_server

import msgkit
from msgkit.engine.dispatcher import DispatcherSettings
from msgkit.providers.alibaba import AlibabaSms
from msgkit.providers.line import LineNotifications
from msgkit.providers.twilio import TwilioSms

SID = "AC" + "0" * 32
TOKEN = "bench-token"
FAILURES: list[str] = []
RUNS = itertools.count(1)


def tw(i: int) -> str:
    """A distinct Taiwanese mobile number (E.164)."""
    return f"+88691{i // 1_000_000}{i % 1_000_000:06d}"


def cn(i: int) -> str:
    """A distinct mainland-China mobile number (E.164)."""
    return f"+86138{i:08d}"


def stats(url: str, *, times: bool = False) -> dict[str, Any]:
    with urllib.request.urlopen(f"{url}/_stats{'?times=1' if times else ''}") as r:
        found: dict[str, Any] = json.loads(r.read())
        return found


def reset(url: str) -> None:
    urllib.request.urlopen(urllib.request.Request(f"{url}/_reset", method="POST")).close()


def check(what: str, ok: bool, detail: str) -> None:
    if not ok:
        FAILURES.append(f"{what}: {detail}")
        print(f"  FAILED {what}: {detail}")


def check_server(url: str, shape: str, count: int, what: str) -> None:
    """The server saw each of ``count`` recipients exactly once."""
    seen = stats(url).get(shape, {"recipients": 0, "distinct": 0})
    check(
        what,
        seen["recipients"] == count and seen["distinct"] == count,
        f"server saw {seen['recipients']} recipients ({seen['distinct']} distinct), "
        f"expected {count} once each",
    )


# --- baselines ------------------------------------------------------------------------


def twilio_form(i: int) -> tuple[str, bytes]:
    path = f"/2010-04-01/Accounts/{SID}/Messages.json"
    body = urlencode({"To": tw(i), "From": "+15005550006", "Body": f"Hello {i}"}).encode()
    return path, body


AUTH = "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
FORM = {"Authorization": AUTH, "Content-Type": "application/x-www-form-urlencoded"}


async def raw_aiohttp(url: str, count: int, concurrency: int) -> float:
    numbers = iter(range(count))
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(url, connector=connector) as session:

        async def worker() -> None:
            for i in numbers:
                path, body = twilio_form(i)
                async with session.post(path, data=body, headers=FORM) as response:
                    await response.read()
                    assert response.status == 201

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started


async def raw_httpx(url: str, count: int, concurrency: int) -> float:
    numbers = iter(range(count))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits) as client:

        async def worker() -> None:
            for i in numbers:
                path, body = twilio_form(i)
                response = await client.post(path, content=body, headers=FORM)
                assert response.status_code == 201

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started


def apprise_loop(url: str, count: int) -> float:
    import apprise  # noqa: PLC0415 - a baseline only

    notifier = apprise.Apprise()
    notifier.add(url.replace("http://", "json://") + "/apprise")
    started = time.perf_counter()
    for i in range(count):
        if not notifier.notify(body=f"Hello {i}", title="msgkit"):
            raise RuntimeError("apprise could not notify")
    return time.perf_counter() - started


# --- msgkit ---------------------------------------------------------------------------


@contextmanager
def rss_peak() -> Iterator[Callable[[], int]]:
    """Samples this process's resident memory (bytes) while the block runs."""
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            with open("/proc/self/statm") as f:
                pages = int(f.read().split()[1])
            peak[0] = max(peak[0], pages * 4096)
            done.wait(0.1)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield lambda: peak[0]
    finally:
        done.set()
        thread.join()


def msgkit_run(
    folder: Path,
    name: str,
    provider: Any,
    contacts: Iterator[msgkit.Contact],
    count: int,
    *,
    settings: DispatcherSettings,
    channel: str = "sms",
    template: msgkit.Template | str = "Hello from msgkit",
    policy: msgkit.SendPolicy | None = None,
    phone_key: str | None = None,
) -> tuple[float, int]:
    """Create, start and run a campaign on a fresh database: (seconds of run(), peak RSS)."""
    with (
        fresh_store(folder, name) as store,
        msgkit.Client(
            store=store, providers={name: provider}, settings=settings, phone_key=phone_key
        ) as client,
    ):
        members = client.create_list(name, contacts)
        campaign = client.create_campaign(
            name, template, audience=members, channel=channel, policy=policy
        )
        client.start(campaign)
        with rss_peak() as peak:
            started = time.perf_counter()
            stats = client.run(progress=False)
            elapsed = time.perf_counter() - started
        progress = client.progress(campaign)
        submitted = progress.count(msgkit.MessageState.SUBMITTED)
        check(
            f"msgkit {name}",
            submitted == count and stats.sent == count,
            f"{submitted} of {count} messages submitted ({stats.sent} sent by the run)",
        )
        return elapsed, peak()


#: A PostgreSQL server's DSN (``--store``): the msgkit runs use a fresh database on it.
POSTGRES: list[str] = []


@contextmanager
def fresh_store(folder: Path, name: str) -> Iterator[str]:
    """The URL of a fresh store: a SQLite file in ``folder``, or a new PostgreSQL
    database on the ``--store`` server (dropped afterwards)."""
    run = f"{name}-{next(RUNS)}"
    if not POSTGRES:
        yield str(folder / f"{run}.db")
        return
    import psycopg  # noqa: PLC0415 - only with --store (the bench extra has no psycopg)

    database = f"msgkit_bench_{run.replace('-', '_')}"
    parts = urlsplit(POSTGRES[0])
    with psycopg.connect(POSTGRES[0], autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {database}")
        admin.execute(f"CREATE DATABASE {database}")
        try:
            yield urlunsplit(parts._replace(path=f"/{database}"))
        finally:
            admin.execute(f"DROP DATABASE {database} WITH (FORCE)")


def twilio(url: str) -> TwilioSms:
    return TwilioSms(
        "twilio", account_sid=SID, auth_token=TOKEN, sender="+15005550006", base_url=url
    )


def measure_twilio(
    url: str,
    folder: Path,
    count: int,
    settings: DispatcherSettings,
    phone_key: str | None = None,
) -> float:
    reset(url)
    contacts = (msgkit.Contact(phone=tw(i)) for i in range(count))
    took, _ = msgkit_run(
        folder, "twilio", twilio(url), contacts, count, settings=settings, phone_key=phone_key
    )
    check_server(url, "twilio", count, "msgkit twilio")
    return count / took


def measure_line(url: str, folder: Path, count: int, settings: DispatcherSettings) -> float:
    reset(url)
    provider = LineNotifications("line", channel_access_token=TOKEN, base_url=url)
    contacts = (msgkit.Contact(phone=tw(i)) for i in range(count))
    took, _ = msgkit_run(
        folder, "line", provider, contacts, count, settings=settings, channel="line"
    )
    check_server(url, "line", count, "msgkit line")
    return count / took


def measure_alibaba(url: str, folder: Path, count: int, settings: DispatcherSettings) -> float:
    reset(url)
    provider = AlibabaSms(
        "alibaba", access_key_id="key", access_key_secret=TOKEN, sign_name="msgkit", base_url=url
    )
    contacts = (msgkit.Contact(phone=cn(i), attributes={"name": f"m{i}"}) for i in range(count))
    template = msgkit.Template(body="Hi ${name}, your code", code="SMS_1", review="approved")
    took, _ = msgkit_run(
        folder, "alibaba", provider, contacts, count, settings=settings, template=template
    )
    check_server(url, "alibaba", count, "msgkit alibaba")
    seen = stats(url)["alibaba"]
    check(
        "alibaba batches",
        seen["requests"] <= -(-count // 100) + 5,
        f"{seen['requests']} requests for {count} messages (SendBatchSms of 100 expected)",
    )
    return count / took


def measure_rate(url: str, folder: Path, seconds: float, rate: int) -> tuple[float, float]:
    """A campaign's send speed of ``rate``/s: the rate the server saw over the whole run,
    and the worst one-second window's distance from the rate."""
    reset(url)
    count = int(rate * seconds)
    contacts = (msgkit.Contact(phone=tw(i)) for i in range(count))
    policy = msgkit.SendPolicy(send_speed=msgkit.SendSpeed(messages=rate))
    msgkit_run(
        folder,
        "twilio",
        twilio(url),
        contacts,
        count,
        settings=DispatcherSettings(),
        policy=policy,
    )
    check_server(url, "twilio", count, "rate-limited run")
    times = sorted(stats(url, times=True)["twilio"]["times"])
    # The whole run, its start included (a burst at the start counts against the rate).
    measured = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else float("nan")
    worst = 0.0
    start = times[0]
    while start + 1.0 <= times[-1]:
        in_window = sum(1 for t in times if start <= t < start + 1.0)
        worst = max(worst, abs(in_window - rate) / rate)
        start += 1.0
    return measured, worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="a quick run (CI)")
    parser.add_argument("--long", nargs="?", type=int, const=1_000_000, default=0)
    parser.add_argument("--concurrency", type=int, default=DispatcherSettings().concurrency)
    parser.add_argument("--messages", type=int, default=0)
    parser.add_argument(
        "--phone-key", action="store_true", help="also run Twilio with numbers encrypted"
    )
    parser.add_argument("--store", help="a PostgreSQL server's DSN: run msgkit on PostgreSQL")
    args = parser.parse_args()
    if args.store:
        POSTGRES.append(args.store)
    db = "PostgreSQL" if args.store else "SQLite FULL"
    n = args.messages or (300 if args.small else 5000)
    c = args.concurrency
    settings = DispatcherSettings(concurrency=c)
    rows: list[tuple[str, float]] = []
    with start_server() as url, tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)

        def figure(label: str, per_second: float) -> float:
            rows.append((label, per_second))
            print(f"{label:<58} {per_second:10,.0f} msg/s", flush=True)
            return per_second

        reset(url)
        aio = figure(f"raw aiohttp loop, {c} in flight", n / asyncio.run(raw_aiohttp(url, n, c)))
        check_server(url, "twilio", n, "raw aiohttp")
        nx = max(100, n // 10)
        reset(url)
        figure(
            f"raw httpx.AsyncClient loop, {c} in flight ({nx})",
            nx / asyncio.run(raw_httpx(url, nx, c)),
        )
        check_server(url, "twilio", nx, "raw httpx")
        na = max(100, n // 5)
        reset(url)
        app = figure(f"Apprise json://, sequential ({na})", na / apprise_loop(url, na))
        check_server(url, "other", na, "apprise")
        mk = figure(
            f"msgkit Client.run(), Twilio, {db}, {c} in flight",
            measure_twilio(url, folder, n, settings),
        )
        sealed = 0.0
        if args.phone_key:
            sealed = figure(
                f"msgkit Client.run(), Twilio, numbers encrypted, {c} in flight",
                measure_twilio(url, folder, n, settings, msgkit.contacts.PhoneCipher.new_key()),
            )
        figure(
            f"msgkit Client.run(), LINE, {db}, {c} in flight",
            measure_line(url, folder, n, settings),
        )
        nb = n * 4
        figure(
            f"msgkit Client.run(), Alibaba SendBatchSms 100, {db} ({nb})",
            measure_alibaba(url, folder, nb, settings),
        )
        seconds = 2.0 if args.small else 10.0
        measured, worst = measure_rate(url, folder, seconds, 500)
        print(
            f"{f'send speed 500/s over {seconds} s: measured':<58} {measured:10,.1f} msg/s"
            f"  ({(measured / 500 - 1) * 100:+.2f} %, worst 1 s window {worst * 100:.1f} %)"
        )
        print()
        print(f"msgkit / raw aiohttp: {mk / aio:5.2f}x   (target >= 0.8x)")
        print(f"msgkit / Apprise:     {mk / app:5.2f}x   (target >= 5x)")
        if args.phone_key:
            print(f"msgkit encrypted / plain: {sealed / mk:5.2f}x")
        if args.long:
            reset(url)
            contacts = (msgkit.Contact(phone=tw(i)) for i in range(args.long))
            took, peak = msgkit_run(
                folder, "twilio", twilio(url), contacts, args.long, settings=settings
            )
            print(
                f"long run: {args.long:,} messages in {took:,.0f} s "
                f"({args.long / took:,.0f} msg/s), peak RSS during run() {peak / 2**20:,.0f} MB"
                "  (target < 300 MB)"
            )
    if FAILURES:
        print("\n".join(["", "FAILED:", *FAILURES]))
        sys.exit(1)


if __name__ == "__main__":
    main()
