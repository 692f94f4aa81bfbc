"""Receipts per second through the webhook app into SQLite, against baselines.

Run: ``PYTHONPATH=src python benchmarks/receipts.py [--small]``.

The path users take: the app ``msgkit serve`` runs (`msgkit.Client.inbound_app`, a
`msgkit.inbound.StoreSink` over a SQLite file at ``synchronous=FULL``) under uvicorn
(httptools) in a separate process, fed by an aiohttp client with ``IN_FLIGHT`` requests
in flight:

- Alibaba SmsReport pushes, arrays of 100 receipts (``out_id`` echoed);
- LINE ``delivery`` webhooks, one receipt a request, signed (``x-line-signature``);
- Twilio status callbacks, one a request, signed (``X-Twilio-Signature`` over the URL
  and the form, ``msgkit_id`` in the callback URL).

The messages the receipts are for are in the file first, as the engine leaves them
(planned, claimed, sent, accepted: ``submitted``). One in ten receipts says
undelivered; one request in twenty is pushed again (providers re-push what they think
was not taken), mixed in with the others.

Baselines, in the same run: the same requests to a minimal ASGI app (read the body,
``json.loads`` / parse the form, answer) under the same uvicorn; and a bare SQLite
``executemany`` UPDATE of the same rows (one transaction; and one per request's worth).

Afterwards every message must be in the state its receipt says, with exactly one
delivered / undelivered event (replays not applied twice); else it exits non-zero.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

import aiohttp

IN_FLIGHT = 64
PUSH = 100
REPLAY_EVERY = 20
UNDELIVERED_EVERY = 10
ALIBABA_TOKEN = "push-token-0123456789"
LINE_SECRET = "line-channel-secret"
TWILIO_TOKEN = "twilio-auth-token"
OK_ALIBABA = json.dumps({"code": 0, "msg": "成功"}, ensure_ascii=False).encode()


# --- the servers (separate processes) ----------------------------------------------------


def serve_msgkit(db: str, port: int) -> None:
    """The app ``msgkit serve`` runs, over the SQLite file ``db``."""
    from msgkit import Client  # noqa: PLC0415
    from msgkit.inbound import Endpoint  # noqa: PLC0415

    client = Client(store=f"sqlite:///{db}")
    app = client.inbound_app(
        [
            Endpoint(name="ali", kind="alibaba", secret=ALIBABA_TOKEN),
            Endpoint(name="line", kind="line", secret=LINE_SECRET),
            Endpoint(name="tw", kind="twilio", secret=TWILIO_TOKEN, public_url=f"http://x:{port}"),
        ]
    )
    _run(app, port)


async def _minimal(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Read the body, parse it (JSON, or a form), answer 200."""
    if scope["type"] != "http":
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
        return
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    if body[:1] in (b"[", b"{"):
        json.loads(body)
    else:
        parse_qs(body.decode())
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]}
    )
    await send({"type": "http.response.body", "body": b"ok"})


def serve_minimal(port: int) -> None:
    """The baseline app."""
    _run(_minimal, port)


def _run(app: Any, port: int) -> None:
    import uvicorn  # noqa: PLC0415

    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        http="httptools",
        loop="asyncio",
        access_log=False,
        log_level="warning",
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """A server in a child process (this file with ``--serve``)."""

    def __init__(self, *args: str) -> None:
        self.port = _free_port()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        profile = os.environ.get("RECEIPTS_PROFILE")  # a folder: cProfile the servers
        prefix = ["-m", "cProfile", "-o", f"{profile}/{args[0]}.prof"] if profile else []
        self.process = subprocess.Popen(
            [sys.executable, *prefix, __file__, "--serve", *args, str(self.port)], env=env
        )
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Server:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit("the server did not start")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise SystemExit("the server did not start in 30 s")

    def __exit__(self, *exc: object) -> None:
        self.process.send_signal(signal.SIGINT)  # uvicorn stops; a profile is written
        self.process.wait(timeout=30)


# --- the messages, as the engine leaves them -----------------------------------------------


def seed(db: Path, counts: dict[str, int]) -> dict[str, list[str]]:
    """Messages of each provider sent and accepted (``submitted``); their ids."""
    from msgkit.core.delivery import Channel, MessageEvent, MessageState  # noqa: PLC0415
    from msgkit.core.message import Context, MessageStatus, Outcome, Sent, decide  # noqa: PLC0415
    from msgkit.store import SQLiteStore  # noqa: PLC0415
    from msgkit.store.base import Change  # noqa: PLC0415
    from msgkit.testing.contracts import planned_messages, running_campaign  # noqa: PLC0415

    now = datetime.now(timezone.utc)
    store = SQLiteStore(db, synchronous="normal")
    campaign = store.save_campaign(running_campaign(), now=now)
    channels = {"ali": Channel.SMS, "line": Channel.LINE, "tw": Channel.SMS}
    start = 0
    for provider, count in counts.items():
        store.insert_messages(
            planned_messages(
                campaign.id,
                count,
                now=now,
                start=start,
                provider=provider,
                channel=channels[provider],
            ),
            now=now,
        )
        start += count
    ids: dict[str, list[str]] = {p: [] for p in counts}
    while True:
        rows = store.claim(worker="w", now=now, limit=5000, lease_until=now)
        if not rows:
            break
        store.apply([Change(message_id=r.id, event=MessageEvent.SEND) for r in rows], now=now)
        store.apply(
            [
                decide(
                    MessageStatus(id=r.id, state=MessageState.SENDING),
                    Sent(outcome=Outcome.ACCEPTED, provider_message_id=f"P{r.id}"),
                    context=Context(),
                    now=now,
                )
                for r in rows
            ],
            now=now,
        )
        for r in rows:
            ids[r.provider or ""].append(r.id)
    store.close()
    return ids


# --- the requests ------------------------------------------------------------------------


def undelivered(index: int) -> bool:
    return index % UNDELIVERED_EVERY == UNDELIVERED_EVERY - 1


Request = tuple[str, bytes, dict[str, str], int]  # path, body, headers, receipts


def alibaba_requests(ids: Sequence[str]) -> list[Request]:
    requests = []
    for start in range(0, len(ids), PUSH):
        items = []
        for i in range(start, min(start + PUSH, len(ids))):
            bad = undelivered(i)
            items.append(
                {
                    "phone_number": f"139{i:08d}",
                    "send_time": "2026-03-01 12:00:00",
                    "report_time": "2026-03-01 12:00:05",
                    "success": not bad,
                    "err_code": "MK:0001" if bad else "DELIVERED",
                    "err_msg": "用户关机" if bad else "用户接收成功",
                    "sms_size": "1",
                    "biz_id": f"{900000 + i}^0",
                    "out_id": ids[i],
                }
            )
        body = json.dumps(items, ensure_ascii=False).encode()
        headers = {"content-type": "application/json"}
        requests.append((f"/hooks/ali/{ALIBABA_TOKEN}/report", body, headers, len(items)))
    return requests


def line_requests(ids: Sequence[str]) -> list[Request]:
    requests = []
    for i, mid in enumerate(ids):
        event = {
            "type": "delivery",
            "delivery": {"data": mid},
            "timestamp": 1_772_366_400_000 + i,
            "mode": "active",
            "webhookEventId": f"01H{i:023d}",
            "deliveryContext": {"isRedelivery": False},
        }
        body = json.dumps({"destination": "U" + "0" * 32, "events": [event]}).encode()
        digest = hmac.new(LINE_SECRET.encode(), body, hashlib.sha256).digest()
        headers = {
            "content-type": "application/json",
            "x-line-signature": base64.b64encode(digest).decode(),
        }
        requests.append(("/hooks/line", body, headers, 1))
    return requests


def twilio_requests(ids: Sequence[str], port: int) -> list[Request]:
    from msgkit.inbound import twilio_signature  # noqa: PLC0415

    requests = []
    for i, mid in enumerate(ids):
        bad = undelivered(i)
        form = {
            "AccountSid": "AC" + "0" * 32,
            "ApiVersion": "2010-04-01",
            "From": "+14155550100",
            "MessageSid": f"P{mid}",
            "MessageStatus": "undelivered" if bad else "delivered",
            "SmsSid": f"P{mid}",
            "SmsStatus": "undelivered" if bad else "delivered",
            "To": f"+1415555{i % 10000:04d}",
            **({"ErrorCode": "30003"} if bad else {}),
        }
        path = f"/hooks/tw/status?msgkit_id={mid}"
        headers = {
            "content-type": "application/x-www-form-urlencoded",
            "x-twilio-signature": twilio_signature(f"http://x:{port}{path}", form, TWILIO_TOKEN),
        }
        requests.append((path, urlencode(form).encode(), headers, 1))
    return requests


def with_replays(requests: list[Request], seed_: int) -> list[Request]:
    """The requests, with one in ``REPLAY_EVERY`` pushed again, mixed in."""
    rng = random.Random(seed_)
    out = list(requests)
    for request in requests[::REPLAY_EVERY]:
        out.insert(rng.randrange(len(out) + 1), request)
    return out


# --- the client --------------------------------------------------------------------------


async def drive(url: str, requests: Sequence[Request], *, check: bool) -> float:
    """Post every request, ``IN_FLIGHT`` at a time; seconds taken."""
    connector = aiohttp.TCPConnector(limit=IN_FLIGHT)
    failures: list[str] = []
    async with aiohttp.ClientSession(connector=connector) as session:
        pending = iter(requests)

        async def worker() -> None:
            for path, body, headers, _ in pending:
                async with session.post(url + path, data=body, headers=headers) as response:
                    answer = await response.read()
                    if response.status != 200 and len(failures) < 5:
                        route = path.split("?")[0].replace(ALIBABA_TOKEN, "***")
                        failures.append(f"{route}: {response.status} {answer!r}")
                    if check and "/report" in path and answer != OK_ALIBABA:
                        failures.append(f"unexpected answer {answer!r}")

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
        elapsed = time.perf_counter() - started
    if failures:
        raise SystemExit("requests failed: " + "; ".join(failures[:5]))
    return elapsed


# --- the baselines and the check ---------------------------------------------------------


def bare_updates(db: Path, ids: Sequence[str], per: int) -> float:
    """A bare executemany UPDATE of the rows, ``per`` rows a transaction (FULL)."""
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    stamp = int(time.time() * 1000)
    started = time.perf_counter()
    for start in range(0, len(ids), per):
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "UPDATE messages SET state = ?, updated_at = ? WHERE id = ?",
            [
                ("undelivered" if undelivered(i) else "delivered", stamp, ids[i])
                for i in range(start, min(start + per, len(ids)))
            ],
        )
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


def verify(db: Path, ids: dict[str, list[str]]) -> list[str]:
    """What is wrong: a message not in its receipt's state, or with != 1 final event."""
    conn = sqlite3.connect(db)
    states = dict(conn.execute("SELECT id, state FROM messages").fetchall())
    finals = dict(
        conn.execute(
            "SELECT message_id, COUNT(*) FROM events "
            "WHERE to_state IN ('delivered', 'undelivered') GROUP BY message_id"
        ).fetchall()
    )
    conn.close()
    problems = []
    for provider, found in ids.items():
        wrong = twice = 0
        for i, mid in enumerate(found):
            expected = "undelivered" if undelivered(i) and provider != "line" else "delivered"
            wrong += states.get(mid) != expected
            twice += finals.get(mid, 0) != 1
        if wrong or twice:
            problems.append(
                f"{provider}: {wrong} of {len(found)} messages not in their receipt's state, "
                f"{twice} without exactly one final event"
            )
    return problems


# --- main --------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--small", action="store_true", help="a CI-sized run (< 30 s)")
    parser.add_argument("--serve", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        if args.serve[0] == "msgkit":
            serve_msgkit(args.serve[1], int(args.serve[2]))
        else:
            serve_minimal(int(args.serve[1]))
        return 0
    counts = (
        {"ali": 10_000, "line": 1_000, "tw": 1_000}
        if args.small
        else {"ali": 100_000, "line": 10_000, "tw": 10_000}
    )
    folder = Path(tempfile.mkdtemp(prefix="msgkit-receipts-"))
    try:
        db = folder / "msgkit.db"
        ids = seed(db, counts)
        pristine = folder / "pristine.db"
        with sqlite3.connect(db) as conn:  # one file to copy: the WAL checkpointed
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        shutil.copy(db, pristine)
        with Server("msgkit", str(db)) as msgkit_server, Server("minimal") as minimal:
            kinds = {
                "ali": with_replays(alibaba_requests(ids["ali"]), 1),
                "line": with_replays(line_requests(ids["line"]), 2),
                "tw": with_replays(twilio_requests(ids["tw"], msgkit_server.port), 3),
            }
            figures = {}
            for name, requests in kinds.items():
                base = asyncio.run(drive(minimal.url, requests, check=False))
                took = asyncio.run(drive(msgkit_server.url, requests, check=True))
                figures[name] = (base, took, len(requests))
        problems = verify(db, ids)
        print(
            f"{IN_FLIGHT} requests in flight; uvicorn (httptools) in another process; "
            "SQLite synchronous=FULL; 1 in 20 requests replayed (not counted)"
        )
        labels = {
            "ali": f"Alibaba SmsReport, pushes of {PUSH}",
            "line": "LINE delivery webhooks, 1 a request",
            "tw": "Twilio status callbacks, 1 a request",
        }
        for name, (base, took, requests) in figures.items():
            n = counts[name]
            print(f"{labels[name]} ({n} receipts, {requests} requests)")
            print(f"  msgkit StoreSink app      {n / took:10.0f} receipts/s")
            print(
                f"  baseline: minimal ASGI    {n / base:10.0f} receipts/s"
                f"   msgkit = {base / took:5.2f}x"
            )
        every = [m for found in ids.values() for m in found]
        one = bare_updates(shutil.copy(pristine, folder / "bare1.db"), every, len(every))
        per = bare_updates(shutil.copy(pristine, folder / "bare2.db"), every, PUSH)
        print(f"baseline: bare executemany UPDATE of the {len(every)} rows, FULL")
        print(f"  one transaction           {len(every) / one:10.0f} rows/s")
        print(f"  a transaction per {PUSH:<5}   {len(every) / per:10.0f} rows/s")
        ali_rate = counts["ali"] / figures["ali"][1]
        print(f"msgkit's Alibaba receipts/s = {ali_rate / (len(every) / one):.2f}x the bare rows/s")
        if problems:
            print("FAILED: " + "; ".join(problems))
            return 1
        print(f"checked: all {len(every)} messages in their receipt's state, one final event each")
        return 0
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
