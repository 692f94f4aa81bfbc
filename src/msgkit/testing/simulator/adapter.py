"""The simulator's adapter: `SimulatorProvider`, sans-IO like every other.

It builds the requests and parses the responses of `SimulatorServer`'s small JSON
protocol (see `msgkit.testing.simulator.server`). With the default ``base_url``
(`IN_PROCESS_URL`) it talks to a server in the same process, with no network: it is an
`msgkit.providers.base.InProcess` provider, so `msgkit.Client` reaches it through its
`local_transport` and feeds the replies and clicks it produced (`inbound_events`) to the
store, as webhooks would for a real provider.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Literal

import httpx

from msgkit.core.delivery import Channel, MessageState
from msgkit.core.events import Click, Reply
from msgkit.core.pricing import Balance
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
    InboundEvent,
    OutboundMessage,
    Outcome,
    SendRequest,
    SendResult,
    StatusResult,
)
from msgkit.providers.common import dig, json_body, results, retry_after, text_or_none
from msgkit.testing.simulator.server import SimulatorServer

__all__ = ["IN_PROCESS_URL", "SimulatorProvider"]

#: The base URL of a simulator that runs in the same process (no network).
IN_PROCESS_URL = "http://simulator.invalid"


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

    @property
    def _in_process(self) -> bool:
        return self.base_url == IN_PROCESS_URL

    def __repr__(self) -> str:
        return f"SimulatorProvider({self.name!r}, base_url={self.base_url!r})"

    def local_transport(self) -> httpx.AsyncBaseTransport | None:
        """The transport to the in-process simulator, or None when it runs elsewhere."""
        if not self._in_process or self.server is None:
            return None
        return httpx.ASGITransport(app=self.server)

    def inbound_events(self, after: int = 0) -> list[tuple[int, InboundEvent]]:
        """The replies and clicks the in-process simulator produced after position
        ``after``, each with its position (none when the simulator runs elsewhere)."""
        if not self._in_process or self.server is None:
            return []
        found: list[tuple[int, InboundEvent]] = []
        for event in self.server.inbound(after):
            at = datetime.fromisoformat(event["at"])
            if event["type"] == "reply":
                found.append(
                    (
                        event["seq"],
                        Reply(
                            provider=self.name,
                            channel=self.capabilities.channel,
                            from_address=event["from"],
                            text=event["text"],
                            scope=event.get("to"),
                            received_at=at,
                            provider_message_id=f"sim-{event['seq']}",
                        ),
                    )
                )
            elif event["type"] == "click":
                click = Click(code=event["code"], param=event.get("param"), clicked_at=at)
                found.append((event["seq"], click))
        return found

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
                    **({"links": list(m.links.values()), "param": m.link_param} if m.links else {}),
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

    def build_balance(self) -> httpx.Request:
        """The balance query (``GET /v1/balance``)."""
        return httpx.Request("GET", f"{self.base_url}/v1/balance")

    def parse_balance(self, response: httpx.Response) -> Balance | None:
        """The balance the simulator reports, or None when it reports none (404).

        Raises:
            ProviderError: Any other failure.
        """
        if response.status_code == 404:
            return None
        try:
            if not response.is_success:
                raise ValueError(f"HTTP {response.status_code}")
            data = response.json()
            return Balance(amount=data["balance"], currency=data["currency"])
        except (ValueError, KeyError, TypeError) as exc:
            raise UnavailableError(
                f"the simulator answered no balance ({exc})",
                provider=self.name,
                status=response.status_code,
            ) from None
