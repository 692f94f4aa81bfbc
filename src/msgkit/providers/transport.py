"""Perform an adapter's requests with httpx: the small loop every caller needs.

The engine owns its transports (rate limits, pools, another HTTP client when throughput
needs it); this module is the reference for what performing a `SendRequest` means, and
what tests, notebooks and scripts use:

- send the request; a transport failure becomes one result per message, ``retry``
  when the request never left or is a lookup (``safe``), else ``retry`` only where the
  provider de-duplicates and ``unknown`` elsewhere (`transport_error_outcome`);
- parse the response with the adapter;
- a result with ``follow_up`` is not final: perform that request in its place, at most
  `MAX_STEPS` times for one send.

The decisions live in `SendRun`, which performs nothing: `perform` (async) and
`perform_sync` only move requests and responses.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs
import httpx

from msgkit.providers.base import (
    OutboundMessage,
    Outcome,
    Provider,
    SendRequest,
    SendResult,
    transport_error_outcome,
)
from msgkit.providers.common import error_for, results

__all__ = ["MAX_STEPS", "SendRun", "perform", "perform_sync", "send_batch"]

#: The most requests one send may take (web chat takes three or four).
MAX_STEPS = 8


class SendRun:
    """The state of performing one `SendRequest` and its follow-ups (no I/O).

    Call `next_request`, perform it, and give back its response (`received`) or the
    transport error (`failed`), until `next_request` is None; then read `results`.
    """

    def __init__(self, provider: Provider, sent: SendRequest) -> None:
        self._provider = provider
        self._pending: list[SendRequest] = [sent]
        self._current: SendRequest | None = None
        self._steps = 0
        self.results: list[SendResult] = []

    def next_request(self) -> SendRequest | None:
        """The next request to perform, or None when every message has its result."""
        self._current = self._pending.pop() if self._pending else None
        return self._current

    def received(self, response: httpx.Response) -> None:
        """Parse the response of the current request."""
        current = self._take()
        for result in self._provider.parse_send(current, response):
            if result.follow_up is not None and self._steps < MAX_STEPS - 1:
                self._steps += 1
                self._pending.append(result.follow_up)
            elif result.follow_up is not None:
                self.results.append(attrs.evolve(result, follow_up=None))
            else:
                self.results.append(result)

    def failed(self, error: httpx.TransportError) -> None:
        """Record a transport failure of the current request."""
        current = self._take()
        capabilities = self._provider.capabilities
        outcome = Outcome.RETRY if current.safe else transport_error_outcome(error, capabilities)
        what = type(error).__name__
        self.results.extend(
            results(
                current,
                outcome,
                error=error_for(
                    outcome,
                    f"{what} during {current.step}",
                    provider=self._provider.name,
                ),
            )
        )

    def _take(self) -> SendRequest:
        if self._current is None:
            raise RuntimeError("no request is being performed: call next_request() first")
        current, self._current = self._current, None
        return current


async def perform(
    provider: Provider, sent: SendRequest, client: httpx.AsyncClient
) -> list[SendResult]:
    """Perform a request and its follow-ups; one result per message, never raises
    for what the network or the provider does."""
    run = SendRun(provider, sent)
    while (current := run.next_request()) is not None:
        try:
            response = await client.send(current.request)
        except httpx.TransportError as exc:
            run.failed(exc)
        else:
            run.received(response)
    return run.results


def perform_sync(provider: Provider, sent: SendRequest, client: httpx.Client) -> list[SendResult]:
    """`perform`, with a blocking client."""
    run = SendRun(provider, sent)
    while (current := run.next_request()) is not None:
        try:
            response = client.send(current.request)
        except httpx.TransportError as exc:
            run.failed(exc)
        else:
            run.received(response)
    return run.results


async def send_batch(
    provider: Provider, batch: Sequence[OutboundMessage], client: httpx.AsyncClient
) -> list[SendResult]:
    """Build and perform every request of a batch, one after the other."""
    found: list[SendResult] = []
    for sent in provider.build_send(batch):
        found.extend(await perform(provider, sent, client))
    return found
