"""The simulator's fake gateway: `SimulatorServer`, an ASGI application with its own state.

It accepts batches of messages, fails some (by rate or by rule), throttles and errors at
configurable rates, reports delivery after a delay, answers status queries by our message
id, and produces replies (some of them opt-outs) and clicks. It records every message it
receives, so a test can prove each recipient got exactly one. Run it in-process
(``httpx.ASGITransport(app=server)``, no network: `SimulatorProvider` does this) or behind
any ASGI server for real HTTP. Its small JSON protocol::

    POST /v1/messages        {"messages": [{"id", "to", "text", "sender", "channel",
                                             "media"?, "links"?, "param"?}]}
      200 {"results": [{"id", "status": "accepted", "sid"} |
                       {"id", "status": "rejected", "code", "message"}]}
      429 Retry-After: n     402 {"code": "NO_BALANCE"}     500
    GET  /v1/messages/{id}   200 {"id", "sid", "status", "code"} | 404
    GET  /v1/stats           counts
    GET  /v1/balance         200 {"balance": "12.34", "currency": "USD"} | 404 (none reported)
    GET  /v1/inbound?after=n {"events": [{"seq", "type": "reply", "from", "to", "text",
                                          "at", "message_id"} |
                                         {"seq", "type": "click", "message_id", "code",
                                          "param", "at"}]}

Rules pick behaviour by the end of the number (``{"13": "invalid"}``, or
``{"line:13": "invalid"}`` for one channel only): ``invalid``
(rejected, permanent), ``opted_out`` (rejected, suppress), ``undelivered`` (accepted,
never delivered), ``failed`` and ``canceled`` (accepted, then the status query answers
``failed`` or ``canceled``, as Twilio's does), ``slow`` (answers after ``slow_seconds``,
so clients time out after the message was recorded: the outcome is unknown until
reconciled).

A message may carry media URLs (``"media": [...]``); the simulator records them. It may
carry the short codes of its links (``"links": [...]``) and the recipient's tracking
parameter (``"param"``): a simulated click opens the first of them.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Literal
from urllib.parse import parse_qs

import attrs

__all__ = ["Behaviour", "Received", "SimulatorServer"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
#: What a rule makes of the numbers it matches.
Behaviour = Literal["invalid", "opted_out", "undelivered", "failed", "canceled", "slow"]
#: Behaviours of messages that are accepted and never delivered, and what a status query
#: then answers for them.
_NOT_DELIVERED: dict[str | None, str] = {
    "undelivered": "undelivered",
    "failed": "failed",
    "canceled": "canceled",
}


@attrs.define
class Received:
    """A message the simulator accepted or rejected.

    Attributes:
        id: Our message id.
        to: The address it was sent to.
        text: Its text.
        sender: The sender it named.
        channel: The channel it was sent on.
        at: When the simulator received it.
        sid: The simulator's id for it.
        status: ``accepted`` or ``rejected``.
        code: The rejection code.
        deliver_at: When it is delivered (None: never).
        media: The media URLs it carried.
        links: The short codes of its links.
        param: The recipient's tracking parameter of those links.
        ends: What a status query answers once it is due and was not delivered:
            ``undelivered``, ``failed`` or ``canceled``.
    """

    id: str
    to: str
    text: str
    sender: str | None
    channel: str
    at: datetime
    sid: str
    status: str
    code: str | None = None
    deliver_at: datetime | None = None
    media: tuple[str, ...] = ()
    ends: str = "undelivered"
    links: tuple[str, ...] = ()
    param: str | None = None


def _decimal(value: object) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


@attrs.define(kw_only=True)
class SimulatorServer:
    """The fake gateway.

    Attributes:
        failure_rate: Share of messages rejected for good (code ``INVALID_NUMBER``).
        undelivered_rate: Share of accepted messages that are never delivered.
        error_rate: Share of requests answered with HTTP 500 (nothing recorded).
        throttle_rate: Share of requests answered with HTTP 429 and ``Retry-After``.
        retry_after: The ``Retry-After`` of throttled requests, in seconds.
        latency: Seconds each request takes, drawn uniformly between the two values.
        delivery_delay: Seconds from acceptance to delivery.
        reply_rate: Share of delivered messages that get a reply.
        opt_out_rate: Share of replies that are ``STOP``.
        click_rate: Share of delivered messages with a link whose (first) link is
            clicked.
        account_error: Refuse everything with HTTP 402 (no balance).
        balance: The account's balance it reports (``GET /v1/balance``), or None to
            report none. Sending does not draw it down.
        currency: The currency of ``balance``.
        rules: Behaviour by the end of the number.
        slow_seconds: How long ``slow`` numbers take to answer.
        seed: Makes every draw reproducible.
        clock: The simulator's clock (a `FakeClock` ``now`` in tests).
    """

    failure_rate: float = 0.0
    undelivered_rate: float = 0.0
    error_rate: float = 0.0
    throttle_rate: float = 0.0
    retry_after: float = 1.0
    latency: tuple[float, float] = (0.0, 0.0)
    delivery_delay: float = 1.0
    reply_rate: float = 0.0
    opt_out_rate: float = 0.0
    click_rate: float = 0.0
    account_error: bool = False
    balance: Decimal | None = attrs.field(
        default=None, converter=attrs.converters.optional(_decimal)
    )
    currency: str = "USD"
    rules: Mapping[str, Behaviour] = attrs.field(factory=dict)
    slow_seconds: float = 5.0
    seed: int = 0
    clock: Callable[[], datetime] = _utcnow
    messages: dict[str, Received] = attrs.field(factory=dict, init=False)
    received: Counter[str] = attrs.field(factory=Counter, init=False)
    recipients: Counter[str] = attrs.field(factory=Counter, init=False)
    requests: int = attrs.field(default=0, init=False)
    _rng: random.Random = attrs.field(init=False)
    _inbound: list[dict[str, Any]] = attrs.field(factory=list, init=False)
    _inbound_done: set[str] = attrs.field(factory=set, init=False)

    def __attrs_post_init__(self) -> None:
        self._rng = random.Random(self.seed)  # noqa: S311 - simulation

    # --- behaviour --------------------------------------------------------------

    def _draw(self, message_id: str, what: str) -> float:
        digest = hashlib.sha256(f"{self.seed}:{what}:{message_id}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64

    def _rule(self, to: str, channel: str = "") -> Behaviour | None:
        for key, behaviour in self.rules.items():
            only, _, suffix = key.rpartition(":")
            if to.endswith(suffix) and only in ("", channel):
                return behaviour
        return None

    def accept(self, item: Mapping[str, Any]) -> dict[str, Any]:
        """Process one message of a send request; returns its result entry."""
        message_id = str(item.get("id", ""))
        to = str(item.get("to", ""))
        now = self.clock()
        self.received[message_id] += 1
        self.recipients[to] += 1
        sid = (
            "SM"
            + hashlib.sha256(f"{message_id}:{self.received[message_id]}".encode()).hexdigest()[:24]
        )
        rule = self._rule(to, str(item.get("channel", "sms")))
        if rule == "opted_out":
            status, code = "rejected", "OPTED_OUT"
        elif rule == "invalid" or self._draw(message_id, "fail") < self.failure_rate:
            status, code = "rejected", "INVALID_NUMBER"
        else:
            status, code = "accepted", None
        deliver_at = None
        delivers = self._draw(message_id, "undelivered") >= self.undelivered_rate
        if status == "accepted" and rule not in _NOT_DELIVERED and delivers:
            deliver_at = now + timedelta(seconds=self.delivery_delay)
        media = item.get("media") or ()
        self.messages[message_id] = Received(
            id=message_id,
            to=to,
            text=str(item.get("text", "")),
            sender=item.get("sender"),
            channel=str(item.get("channel", "sms")),
            at=now,
            sid=sid,
            status=status,
            code=code,
            deliver_at=deliver_at,
            media=tuple(str(m) for m in media),
            ends=_NOT_DELIVERED.get(rule, "undelivered"),
            links=tuple(str(code) for code in item.get("links") or ()),
            param=None if item.get("param") is None else str(item["param"]),
        )
        if code is None:
            return {"id": message_id, "status": "accepted", "sid": sid}
        return {"id": message_id, "status": "rejected", "code": code, "message": code.lower()}

    def status_of(self, message_id: str) -> dict[str, Any] | None:
        """What a status query answers for a message id (None: never received)."""
        message = self.messages.get(message_id)
        if message is None:
            return None
        status = message.status
        if status == "accepted":
            now = self.clock()
            if message.deliver_at is not None and now >= message.deliver_at:
                status = "delivered"
                self._inbound_for(message)
            elif message.deliver_at is None and now >= message.at + timedelta(
                seconds=self.delivery_delay
            ):
                status = message.ends
        code = message.code or (None if status in ("accepted", "delivered") else "UNDELIVERABLE")
        return {"id": message.id, "sid": message.sid, "status": status, "code": code}

    def _inbound_for(self, message: Received) -> None:
        if message.id in self._inbound_done:
            return
        self._inbound_done.add(message.id)
        assert message.deliver_at is not None
        if self._draw(message.id, "reply") < self.reply_rate:
            stop = self._draw(message.id, "stop") < self.opt_out_rate
            self._inbound.append(
                {
                    "type": "reply",
                    "from": message.to,
                    "to": message.sender,
                    "text": "STOP" if stop else "Thanks!",
                    "at": (message.deliver_at + timedelta(seconds=30)).isoformat(),
                    "message_id": message.id,
                }
            )
        if message.links and self._draw(message.id, "click") < self.click_rate:
            self._inbound.append(
                {
                    "type": "click",
                    "message_id": message.id,
                    "code": message.links[0],
                    "param": message.param,
                    "at": (message.deliver_at + timedelta(seconds=60)).isoformat(),
                }
            )

    def inbound(self, after: int = 0) -> list[dict[str, Any]]:
        """Replies and clicks produced so far, after sequence number ``after``."""
        for message_id in list(self.messages):
            self.status_of(message_id)
        return [{"seq": i + 1, **e} for i, e in enumerate(self._inbound) if i + 1 > after]

    def stats(self) -> dict[str, Any]:
        """Counts of what the simulator saw."""
        duplicates = sum(c - 1 for c in self.recipients.values() if c > 1)
        return {
            "requests": self.requests,
            "messages": sum(self.received.values()),
            "distinct_ids": len(self.received),
            "recipients": len(self.recipients),
            "duplicate_recipients": duplicates,
            "accepted": sum(1 for m in self.messages.values() if m.status == "accepted"),
            "rejected": sum(1 for m in self.messages.values() if m.status == "rejected"),
        }

    # --- ASGI -----------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI application."""
        if scope["type"] == "lifespan":
            while True:
                event = await receive()
                if event["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif event["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        body = b""
        while True:
            event = await receive()
            body += event.get("body", b"")
            if not event.get("more_body"):
                break
        status, headers, payload = await self._handle(
            scope["method"], scope["path"], scope.get("query_string", b""), body
        )
        data = json.dumps(payload).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(data)).encode()),
                    *headers,
                ],
            }
        )
        await send({"type": "http.response.body", "body": data})

    async def _handle(
        self, method: str, path: str, query: bytes, body: bytes
    ) -> tuple[int, list[tuple[bytes, bytes]], Any]:
        self.requests += 1
        low, high = self.latency
        if high > 0:
            await asyncio.sleep(self._rng.uniform(low, high))
        if method == "POST" and path == "/v1/messages":
            return await self._send(body)
        if method == "GET" and path.startswith("/v1/messages/"):
            found = self.status_of(path.removeprefix("/v1/messages/"))
            return (404, [], {"error": "not found"}) if found is None else (200, [], found)
        if method == "GET" and path == "/v1/stats":
            return 200, [], self.stats()
        if method == "GET" and path == "/v1/balance":
            if self.balance is None:
                return 404, [], {"error": "this account reports no balance"}
            return 200, [], {"balance": str(self.balance), "currency": self.currency}
        if method == "GET" and path == "/v1/inbound":
            after = int(parse_qs(query.decode()).get("after", ["0"])[0])
            return 200, [], {"events": self.inbound(after)}
        return 404, [], {"error": f"no route {method} {path}"}

    async def _send(self, body: bytes) -> tuple[int, list[tuple[bytes, bytes]], Any]:
        if self.account_error:
            return 402, [], {"code": "NO_BALANCE", "message": "the account has no balance"}
        if self._rng.random() < self.throttle_rate:
            return 429, [(b"retry-after", str(self.retry_after).encode())], {"code": "THROTTLED"}
        if self._rng.random() < self.error_rate:
            return 500, [], {"code": "INTERNAL"}
        try:
            items = json.loads(body)["messages"]
        except (ValueError, KeyError, TypeError):
            return 400, [], {"code": "BAD_REQUEST", "message": "expected {'messages': [...]}"}
        results = [self.accept(item) for item in items]
        if any(self._rule(str(i.get("to", "")), str(i.get("channel"))) == "slow" for i in items):
            await asyncio.sleep(self.slow_seconds)
        return 200, [], {"results": results}
