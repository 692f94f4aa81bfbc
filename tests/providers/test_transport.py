"""Tests of msgkit.providers.transport: follow-ups, the step limit, sync and async."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import httpx
import pytest
import respx

from msgkit.core.delivery import Channel
from msgkit.providers.base import (
    Capabilities,
    OutboundMessage,
    Outcome,
    SendRequest,
    SendResult,
    StatusResult,
)
from msgkit.providers.transport import MAX_STEPS, SendRun, perform, perform_sync
from tests.providers.support import run, sms_message


class Looping:
    """An adapter whose every answer asks for one more step (to test the limit)."""

    name = "loop"
    capabilities = Capabilities(channel=Channel.SMS)

    def build_send(self, batch: Sequence[OutboundMessage]) -> list[SendRequest]:
        return [self._step(m.id, 0) for m in batch]

    def _step(self, message_id: str, n: int) -> SendRequest:
        request = httpx.Request("GET", f"https://loop.example/{n}")
        return SendRequest(request=request, message_ids=(message_id,), step=str(n), safe=True)

    def parse_send(self, sent: SendRequest, response: httpx.Response) -> list[SendResult]:
        follow = self._step(sent.message_ids[0], int(sent.step) + 1)
        return [SendResult(message_id=sent.message_ids[0], outcome="retry", follow_up=follow)]

    def build_status(self, message: OutboundMessage, sent_at: datetime) -> httpx.Request | None:
        return None

    def parse_status(self, message: OutboundMessage, response: httpx.Response) -> StatusResult:
        return StatusResult(message_id=message.id, found=False)


@respx.mock
def test_follow_ups_stop_at_the_step_limit() -> None:
    """A send never takes more than MAX_STEPS requests; its last result stands."""
    route = respx.route(host="loop.example").mock(return_value=httpx.Response(200))
    provider = Looping()
    (sent,) = provider.build_send([sms_message(1)])

    async def go() -> list[SendResult]:
        async with httpx.AsyncClient() as client:
            return await perform(provider, sent, client)

    (result,) = run(go())
    assert route.call_count == MAX_STEPS
    assert result.outcome is Outcome.RETRY
    assert result.follow_up is None


@respx.mock
def test_sync_perform() -> None:
    """perform_sync does the same with a blocking client."""
    respx.route(host="loop.example").mock(side_effect=httpx.ConnectError("no"))
    provider = Looping()
    (sent,) = provider.build_send([sms_message(1)])
    with httpx.Client() as client:
        (result,) = perform_sync(provider, sent, client)
    assert result.outcome is Outcome.RETRY
    assert result.error is not None
    assert "ConnectError" in str(result.error)


def test_a_run_must_be_driven_in_order() -> None:
    """Giving a response before asking for a request is a programming error."""
    provider = Looping()
    (sent,) = provider.build_send([sms_message(1)])
    run_ = SendRun(provider, sent)
    with pytest.raises(RuntimeError, match="next_request"):
        run_.received(httpx.Response(200))
    assert run_.next_request() is sent
    run_.failed(httpx.ReadTimeout("slow"))
    assert run_.next_request() is None
    assert [r.outcome for r in run_.results] == [Outcome.RETRY]
