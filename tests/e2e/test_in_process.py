"""A provider of one's own that runs in the process (the `InProcess` capability, as the
simulator has it) is reached without network, polled for receipts, and its replies and
clicks reach the store, as webhooks would bring them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import httpx

import msgkit
from msgkit.testing import FakeClock, Simulator, SimulatorProvider
from tests.e2e.conftest import MakeClient, WriteCsv, tw_e164, tw_numbers

if TYPE_CHECKING:
    from msgkit.providers.base import (
        InboundEvent,
        OutboundMessage,
        SendRequest,
        SendResult,
        StatusResult,
    )

LINKS = msgkit.ShortLinks(
    base_url="https://go.example.com/l", secret="a-link-secret-of-32-characters!!"
)


class MyGateway:
    """A user's own in-process provider (no subclass of the simulator's adapter: it
    fronts a simulated gateway, as a fake of a real one would)."""

    def __init__(self, name: str, server: Simulator) -> None:
        self._inner = SimulatorProvider(name, server=server)
        self.name = name
        self.capabilities = self._inner.capabilities

    def build_send(self, batch: Sequence[OutboundMessage]) -> list[SendRequest]:
        return self._inner.build_send(batch)

    def parse_send(self, sent: SendRequest, response: httpx.Response) -> list[SendResult]:
        return self._inner.parse_send(sent, response)

    def build_status(self, message: OutboundMessage, sent_at: datetime) -> httpx.Request | None:
        return self._inner.build_status(message, sent_at)

    def parse_status(self, message: OutboundMessage, response: httpx.Response) -> StatusResult:
        return self._inner.parse_status(message, response)

    def local_transport(self) -> httpx.AsyncBaseTransport | None:
        return self._inner.local_transport()

    def inbound_events(self, after: int = 0) -> list[tuple[int, InboundEvent]]:
        return self._inner.inbound_events(after)


def test_an_in_process_provider_of_ones_own_is_polled_and_its_replies_and_clicks_kept(
    make_client: MakeClient, clock: FakeClock, write_csv: WriteCsv
) -> None:
    """An InProcess provider that is not the simulator gets its receipts, replies and clicks in."""
    server = Simulator(clock=clock.now, reply_rate=1.0, opt_out_rate=1.0, click_rate=1.0)
    client = make_client(providers={"mine": MyGateway("mine", server)})
    numbers = tw_numbers(3)
    members = client.import_list(
        write_csv([(n, "x") for n in numbers]), phone="Mobile", region="TW"
    )
    campaign = client.create_campaign(
        "Spring",
        msgkit.Template(
            body="Sale: ${link:shop}",
            links={"shop": "https://shop.example.com/spring"},
            kind="promotional",
        ),
        audience=members.id,
        sender="ACME",
        policy=msgkit.SendPolicy(links=LINKS),
    )
    client.start(campaign)
    client.run(progress=False)
    assert server.recipients == {tw_e164(n): 1 for n in numbers}
    assert client.progress(campaign).count(msgkit.MessageState.DELIVERED) == 3
    replies = client.replies()
    assert sorted(r["sender"] for r in replies) == sorted(tw_e164(n) for n in numbers)
    assert {r["text"] for r in replies} == {"STOP"}
    assert len(client.clicks(campaign)) == 3
