"""A local provider with realistic behaviour, for demos, tests and benchmarks.

Two halves:

- `SimulatorServer` is the fake gateway: an ASGI application with its own state. It
  accepts batches of messages, fails some (by rate or by rule), throttles and errors
  at configurable rates, reports delivery after a delay, answers status queries by
  our message id, and produces replies (some of them opt-outs) and clicks. It records
  every message it receives, so a test can prove each recipient got exactly one.
  Run it in-process (``httpx.ASGITransport(app=server)``, no network) or behind any
  ASGI server for real HTTP.
- `SimulatorProvider` is its adapter, sans-IO like every other: it builds the
  requests and parses the responses of the simulator's small JSON protocol::

      POST /v1/messages        {"messages": [{"id", "to", "text", "sender", "channel",
                                               "media"?}]}
        200 {"results": [{"id", "status": "accepted", "sid"} |
                         {"id", "status": "rejected", "code", "message"}]}
        429 Retry-After: n     402 {"code": "NO_BALANCE"}     500
      GET  /v1/messages/{id}   200 {"id", "sid", "status", "code"} | 404
      GET  /v1/stats           counts
      GET  /v1/inbound?after=n {"events": [{"seq", "type": "reply"|"click", ...}]}

Rules pick behaviour by the end of the number (``{"13": "invalid"}``, or
``{"line:13": "invalid"}`` for one channel only): ``invalid``
(rejected, permanent), ``opted_out`` (rejected, suppress), ``undelivered`` (accepted,
never delivered), ``failed`` and ``canceled`` (accepted, then the status query answers
``failed`` or ``canceled``, as Twilio's does), ``slow`` (answers after ``slow_seconds``,
so clients time out after the message was recorded: the outcome is unknown until
reconciled).

A message may carry media URLs (``"media": [...]``); the simulator records them.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, Literal
from urllib.parse import parse_qs

import attrs
import httpx

from msgkit.core.delivery import Channel, MessageState
from msgkit.core.templates import ContentRules
from msgkit.exceptions import (
    AccountError,
    ProviderError,
    RateLimitedError,
    RejectedError,
    UnavailableError,
)
from msgkit.providers.base import (
    Capabilities,
    OutboundMessage,
    Outcome,
    SendRequest,
    SendResult,
    StatusResult,
)
from msgkit.providers.common import dig, json_body, results, retry_after, text_or_none

__all__ = ["IN_PROCESS_URL", "Received", "SimulatorProvider", "SimulatorServer"]

#: The base URL of a simulator that runs in the same process (no network).
IN_PROCESS_URL = "http://simulator.invalid"

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
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
        click_rate: Share of delivered messages whose link is clicked.
        account_error: Refuse everything with HTTP 402 (no balance).
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
        if self._draw(message.id, "click") < self.click_rate:
            self._inbound.append(
                {
                    "type": "click",
                    "message_id": message.id,
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


class SimulatorProvider:
    """The adapter of the simulator (sans-IO).

    Args:
        name: The configured name.
        base_url: Where the simulator answers.
        channel: The channel it pretends to be.
        max_batch: Messages per request.
        scheme: SMS counting scheme.
        rate_per_second: Requests per second it allows, or None.
        idempotent: Pretend the gateway de-duplicates by message id (then unknown
            outcomes are simply retried instead of reconciled).
        server: The in-process simulator this adapter talks to when ``base_url`` is
            `IN_PROCESS_URL` (one is made if not given).
        content: What templates it accepts, to rehearse a platform's rules (say
            ``msgkit.providers.content.alibaba()``: kinds, review); default everything.
        sender: The default sender (a from-number, say) of messages that name none,
            as a real provider has one; replies come back to it.
    """

    def __init__(
        self,
        name: str = "simulator",
        *,
        base_url: str = IN_PROCESS_URL,
        channel: Channel | str = Channel.SMS,
        max_batch: int = 100,
        scheme: Literal["gsm", "cn"] = "gsm",
        rate_per_second: float | None = None,
        idempotent: bool = False,
        server: SimulatorServer | None = None,
        content: ContentRules | None = None,
        sender: str | None = None,
    ) -> None:
        self.name = name
        self.sender = sender
        self.base_url = base_url.rstrip("/")
        self.server = server
        if self.server is None and self.base_url == IN_PROCESS_URL:
            self.server = SimulatorServer()
        self.capabilities = Capabilities(
            channel=Channel(channel),
            max_batch=max_batch,
            scheme=scheme,
            rate_per_second=rate_per_second,
            idempotent=idempotent,
            status_query=True,
            delivery_receipts=True,
            content=content if content is not None else ContentRules(),
            default_sender=sender,
        )

    def __repr__(self) -> str:
        return f"SimulatorProvider({self.name!r}, base_url={self.base_url!r})"

    def local_transport(self) -> httpx.AsyncBaseTransport | None:
        """The transport to the in-process simulator, or None when it runs elsewhere."""
        if self.base_url != IN_PROCESS_URL or self.server is None:
            return None
        return httpx.ASGITransport(app=self.server)

    def build_send(self, batch: Sequence[OutboundMessage]) -> list[SendRequest]:
        """One POST carrying the whole batch (media URLs included)."""
        payload = {
            "messages": [
                {
                    "id": m.id,
                    "to": m.to,
                    "text": m.text,
                    "sender": m.sender or self.sender,
                    "channel": m.channel.value,
                    **({"media": list(m.media)} if m.media else {}),
                }
                for m in batch
            ]
        }
        request = httpx.Request(
            "POST",
            f"{self.base_url}/v1/messages",
            content=json.dumps(payload, ensure_ascii=False).encode(),
            headers={"content-type": "application/json"},
        )
        return [SendRequest(request=request, message_ids=[m.id for m in batch])]

    def parse_send(self, sent: SendRequest, response: httpx.Response) -> list[SendResult]:
        """One result per message, whatever the simulator answered."""
        ids = sent.message_ids
        status = response.status_code
        if status == 429:
            wait = retry_after(response)
            error: ProviderError = RateLimitedError(
                "throttled", provider=self.name, status=status, retry_after=wait
            )
            return results(ids, Outcome.RETRY, error=error, wait=wait)
        if status in (401, 402, 403):
            code = text_or_none(dig(json_body(response), "code"))
            return results(
                ids,
                Outcome.ACCOUNT,
                error=AccountError(
                    "the simulator refused the account",
                    provider=self.name,
                    status=status,
                    provider_code=code,
                    hint="check the account's balance and credentials",
                ),
            )
        if status >= 500:
            return results(
                ids,
                Outcome.RETRY,
                error=UnavailableError("server error", provider=self.name, status=status),
            )
        try:
            entries = {str(r["id"]): r for r in response.json()["results"]}
        except (ValueError, KeyError, TypeError):
            return results(
                ids,
                Outcome.UNKNOWN,
                error=ProviderError("unreadable response", provider=self.name, status=status),
            )
        found = []
        for message_id in ids:
            entry = entries.get(message_id)
            if entry is None:
                found.append(
                    SendResult(
                        message_id=message_id,
                        outcome=Outcome.UNKNOWN,
                        error=ProviderError("missing from the response", provider=self.name),
                    )
                )
            elif entry.get("status") == "accepted":
                found.append(
                    SendResult(
                        message_id=message_id,
                        outcome=Outcome.ACCEPTED,
                        provider_message_id=entry.get("sid"),
                    )
                )
            else:
                code = str(entry.get("code") or "REJECTED")
                found.append(
                    SendResult(
                        message_id=message_id,
                        outcome=Outcome.FAILED,
                        error=RejectedError(
                            str(entry.get("message") or "rejected"),
                            provider=self.name,
                            status=status,
                            provider_code=code,
                        ),
                        suppress=code == "OPTED_OUT",
                    )
                )
        return found

    def build_status(self, message: OutboundMessage, sent_at: datetime) -> httpx.Request | None:
        """A status query by our message id."""
        return httpx.Request("GET", f"{self.base_url}/v1/messages/{message.id}")

    def parse_status(self, message: OutboundMessage, response: httpx.Response) -> StatusResult:
        """What the simulator knows of the message."""
        if response.status_code == 404:
            return StatusResult(message_id=message.id, found=False)
        response.raise_for_status()
        data = response.json()
        state = {
            "accepted": MessageState.SUBMITTED,
            "delivered": MessageState.DELIVERED,
            "undelivered": MessageState.UNDELIVERED,
            "failed": MessageState.FAILED,
            "canceled": MessageState.FAILED,
            "rejected": MessageState.FAILED,
        }.get(str(data.get("status")))
        return StatusResult(
            message_id=message.id,
            found=True,
            state=state,
            provider_message_id=data.get("sid"),
            error_code=data.get("code"),
        )
