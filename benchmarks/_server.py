"""A fast local provider for the benchmarks, run in its own process (uvicorn + httptools).

It answers the shapes the benchmarks send, counting every recipient it is given:

- Twilio: ``POST /2010-04-01/Accounts/{sid}/Messages.json`` (form ``To``) -> 201 and a
  Twilio message JSON;
- LINE: ``POST /bot/pnp/push`` (JSON ``to``) -> 200 with ``x-line-request-id``;
- Alibaba: ``POST /`` (form ``Action`` = ``SendSms`` with ``PhoneNumbers``, or
  ``SendBatchSms`` with ``PhoneNumberJson``) -> ``{"Code": "OK", "BizId": ...}``;
  ``QuerySendDetails`` -> no records;
- anything else POSTed (Apprise's ``json://``): one recipient, the JSON ``message``.

``GET /_stats`` answers what it saw per shape: requests, recipients, distinct
recipients, and (when asked with ``?times=1``) the arrival time (``time.time()``) of
each recipient. ``POST /_reset`` forgets everything. Signatures are not verified.

Run it with `start_server` (a context manager that yields the base URL) or as a script:
``python benchmarks/_server.py`` prints the port on its first line.
"""

from __future__ import annotations

import itertools
import json
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class Counts:
    """What one shape of request carried."""

    def __init__(self) -> None:
        self.requests = 0
        self.recipients: Counter[str] = Counter()
        self.times: list[float] = []

    def saw(self, recipients: list[str]) -> None:
        self.requests += 1
        now = time.time()
        for recipient in recipients:
            self.recipients[recipient] += 1
            self.times.append(now)

    def summary(self, times: bool) -> dict[str, Any]:
        found: dict[str, Any] = {
            "requests": self.requests,
            "recipients": sum(self.recipients.values()),
            "distinct": len(self.recipients),
        }
        if times:
            found["times"] = self.times
        return found


class ProviderApp:
    """The ASGI application (see the module docstring)."""

    def __init__(self) -> None:
        self.counts: dict[str, Counts] = {}
        self._ids = itertools.count(1)

    def _count(self, shape: str, recipients: list[str]) -> None:
        self.counts.setdefault(shape, Counts()).saw(recipients)

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            event = await receive()
            body += event.get("body", b"")
            if not event.get("more_body"):
                break
        path: str = scope["path"]
        method: str = scope["method"]
        status, headers, answer = self.answer(method, path, scope["query_string"], body)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(answer)).encode()),
                    *headers,
                ],
            }
        )
        await send({"type": "http.response.body", "body": answer})

    def answer(
        self, method: str, path: str, query: bytes, body: bytes
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        n = next(self._ids)
        if method == "GET" and path == "/_stats":
            times = b"times=1" in query
            stats = {shape: c.summary(times) for shape, c in self.counts.items()}
            return 200, [], json.dumps(stats).encode()
        if method == "POST" and path == "/_reset":
            self.counts.clear()
            return 200, [], b"{}"
        if method != "POST":
            return 404, [], b'{"message": "not found"}'
        if path.endswith("/Messages.json"):
            form = parse_qs(body.decode())
            self._count("twilio", form["To"])
            sid = f"SM{n:032x}"
            reply = {
                "sid": sid,
                "status": "queued",
                "to": form["To"][0],
                "from": form.get("From", [""])[0],
                "num_segments": "1",
                "error_code": None,
            }
            return 201, [], json.dumps(reply).encode()
        if path == "/bot/pnp/push":
            self._count("line", [json.loads(body)["to"]])
            return 200, [(b"x-line-request-id", f"req-{n}".encode())], b"{}"
        if path == "/":
            form = parse_qs(body.decode())
            action = form["Action"][0]
            if action == "QuerySendDetails":  # nothing found (reconciliation)
                reply = {"Code": "OK", "SmsSendDetailDTOs": {"SmsSendDetailDTO": []}}
                return 200, [], json.dumps(reply).encode()
            if action == "SendBatchSms":
                numbers = json.loads(form["PhoneNumberJson"][0])
            else:
                numbers = form["PhoneNumbers"][0].split(",")
            self._count("alibaba", numbers)
            reply = {"Code": "OK", "Message": "OK", "BizId": f"{n}^0", "RequestId": f"r{n}"}
            return 200, [], json.dumps(reply).encode()
        self._count("other", [str(json.loads(body).get("message"))])
        return 200, [], b"{}"


def main() -> None:
    import uvicorn  # noqa: PLC0415 - the server process only

    # IPPROTO_TCP given, so that asyncio sets TCP_NODELAY on accepted connections (with
    # proto 0 it does not, and every answer waits for a delayed ACK: 40 ms)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    print(sock.getsockname()[1], flush=True)
    config = uvicorn.Config(
        ProviderApp(),
        http="httptools",
        loop="asyncio",
        log_level="warning",
        access_log=False,
        lifespan="off",
        backlog=4096,
    )
    uvicorn.Server(config).run(sockets=[sock])


@contextmanager
def start_server() -> Iterator[str]:
    """Run the server in another process; yields its base URL."""
    process = subprocess.Popen([sys.executable, __file__], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the benchmark server did not start") from None
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


if __name__ == "__main__":
    main()
