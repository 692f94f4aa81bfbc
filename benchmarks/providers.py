"""How fast the adapters build and parse, and the inbound app takes webhooks, in process.

Run by hand: ``PYTHONPATH=src python benchmarks/providers.py``. Each figure is printed
with a baseline measured in the same run, so the ratio means something on any machine:

- Alibaba ``build_send`` of 1000 messages (one SendSms; and ten SendBatchSms) against
  building 1000 bare ``httpx.Request`` objects;
- reading an Alibaba SmsReport push of 1000 receipts against ``json.loads`` of it;
- the ASGI app taking signed LINE webhooks (verify, parse, hand to a sink) against
  computing the HMAC alone.

Receipts over real HTTP into the store, the path users take, are measured by
``benchmarks/receipts.py``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any

import httpx

from msgkit.inbound import Click, DeliveryReceipt, Endpoint, InboundApp, Reply
from msgkit.inbound.parsers import parse_alibaba_reports
from msgkit.providers.alibaba import AlibabaSms
from msgkit.providers.base import OutboundMessage

NOW = datetime(2026, 3, 1, tzinfo=timezone.utc)


def best(fn: Callable[[], Any], repeat: int = 5) -> float:
    """The best of ``repeat`` timings of ``fn``, in seconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def report(label: str, seconds: float, baseline: float, unit: int) -> None:
    """Print one figure and its ratio to the baseline."""
    per = seconds / unit * 1e6
    print(f"{label:<52} {per:8.2f} µs/item   {seconds / baseline:6.1f}x baseline")


def alibaba_build() -> None:
    """Build 1000 messages as SendSms and as SendBatchSms."""
    provider = AlibabaSms(access_key_id="id", access_key_secret="secret", sign_name="阿里云")
    same = [
        OutboundMessage(
            id=f"m-{i:016d}",
            channel="sms",
            to=f"+86139{i:08d}",
            text="x",
            template_code="SMS_1",
            params={"code": "1"},
        )
        for i in range(1000)
    ]
    personal = [
        OutboundMessage(
            id=f"m-{i:016d}",
            channel="sms",
            to=f"+86139{i:08d}",
            text="x",
            template_code="SMS_1",
            params={"code": str(i)},
        )
        for i in range(1000)
    ]
    baseline = best(
        lambda: [
            httpx.Request("POST", "https://x.example/", data={"a": str(i)}) for i in range(1000)
        ]
    )
    print(f"{'baseline: 1000 bare httpx.Request':<52} {baseline / 1000 * 1e6:8.2f} µs/item")
    report(
        "Alibaba build_send, 1000 same (1 SendSms)",
        best(lambda: provider.build_send(same)),
        baseline,
        1000,
    )
    report(
        "Alibaba build_send, 1000 personal (10 SendBatchSms)",
        best(lambda: provider.build_send(personal)),
        baseline,
        1000,
    )


def alibaba_receipts() -> None:
    """Read a push of 1000 receipts."""
    items = [
        {
            "phone_number": f"139{i:08d}",
            "send_time": "2026-03-01 12:00:00",
            "report_time": "2026-03-01 12:00:05",
            "success": True,
            "err_code": "DELIVERED",
            "err_msg": "用户接收成功",
            "sms_size": "1",
            "biz_id": f"{900000 + i}^0",
            "out_id": f"m-{i:016d}",
        }
        for i in range(1000)
    ]
    body = json.dumps(items, ensure_ascii=False).encode()
    baseline = best(lambda: json.loads(body))
    print(f"{'baseline: json.loads of the push':<52} {baseline / 1000 * 1e6:8.2f} µs/item")
    report(
        "parse_alibaba_reports, 1000 receipts",
        best(lambda: parse_alibaba_reports(body, provider="ali")),
        baseline,
        1000,
    )


class NullSink:
    """Takes everything, keeps nothing."""

    async def receipts(self, events: Sequence[DeliveryReceipt]) -> None:
        """Drop."""

    async def replies(self, events: Sequence[Reply]) -> None:
        """Drop."""

    async def resolve_link(self, code: str, param: str | None) -> str | None:
        """Every code goes to one place."""
        return "https://example.com/"

    async def click(self, event: Click) -> None:
        """Drop."""


def inbound_app(requests: int = 2000) -> None:
    """Serve signed LINE webhooks straight through ASGI (no sockets)."""
    secret = "line-secret"
    app = InboundApp(
        NullSink(), [Endpoint(name="line", kind="line", secret=secret)], clock=lambda: NOW
    )
    body = json.dumps(
        {
            "destination": "U",
            "events": [
                {"type": "delivery", "delivery": {"data": f"line-{i:016d}"}, "timestamp": 1}
                for i in range(5)
            ],
        }
    ).encode()
    signature = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest())
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/hooks/line",
        "query_string": b"",
        "headers": [(b"x-line-signature", signature)],
    }

    async def one() -> None:
        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: Any) -> None:
            if message["type"] == "http.response.start":
                assert message["status"] == 200

        await app(dict(scope), receive, send)

    async def many() -> None:
        for _ in range(requests):
            await one()

    baseline = best(
        lambda: [hmac.new(secret.encode(), body, hashlib.sha256).digest() for _ in range(requests)]
    )
    print(f"{'baseline: HMAC-SHA256 of each body':<52} {baseline / requests * 1e6:8.2f} µs/item")
    seconds = best(lambda: asyncio.run(many()), repeat=3)
    report(f"InboundApp, {requests} LINE webhooks of 5 events", seconds, baseline, requests)
    print(f"{'':<52} {requests / seconds:8.0f} webhooks/s in process")


if __name__ == "__main__":
    alibaba_build()
    alibaba_receipts()
    inbound_app()
