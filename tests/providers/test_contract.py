"""The provider contract (`msgkit.testing.contracts.ProviderContract`), run over every
adapter, the simulator's included, and the platform table of the SMS adapters."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from msgkit.core.templates import TemplateKind
from msgkit.providers.base import OutboundMessage, Provider
from msgkit.providers.simulator import SimulatorProvider, SimulatorServer
from msgkit.testing import ProviderContract
from tests.providers.support import (
    NOW,
    SECRET,
    alibaba,
    chatwoot,
    http_sms,
    line,
    line_message,
    message,
    sms_message,
    twilio,
    web_message,
)

Batch = Callable[[], list[OutboundMessage]]


class TestAlibaba(ProviderContract):
    """Alibaba Cloud SMS keeps the contract (a batch mixing shared and personal params)."""

    secret = SECRET

    @pytest.fixture
    def make_provider(self) -> Callable[[], Provider]:
        """The adapter."""
        return alibaba

    @pytest.fixture
    def make_batch(self) -> Batch:
        """Same params for four, personal ones for three, another template for one."""

        def batch() -> list[OutboundMessage]:
            same = [message(i, params={"x": "1"}) for i in range(4)]
            personal = [message(10 + i) for i in range(3)]
            return [*same, *personal, message(20, to="+85251234567", template_code="SMS_2")]

        return batch


class TestTwilio(ProviderContract):
    """Twilio keeps the contract."""

    secret = SECRET

    @pytest.fixture
    def make_provider(self) -> Callable[[], Provider]:
        """The adapter."""
        return twilio

    @pytest.fixture
    def make_batch(self) -> Batch:
        """One SMS."""
        return lambda: [sms_message(1)]


class TestLine(ProviderContract):
    """LINE notification messages keep the contract."""

    secret = SECRET

    @pytest.fixture
    def make_provider(self) -> Callable[[], Provider]:
        """The adapter."""
        return line

    @pytest.fixture
    def make_batch(self) -> Batch:
        """One LINE message with an image."""
        return lambda: [line_message(1, media=("https://i.example/a.png",))]


class TestHttpSms(ProviderContract):
    """A configured HTTP SMS gateway keeps the contract."""

    secret = SECRET

    @pytest.fixture
    def make_provider(self) -> Callable[[], Provider]:
        """The adapter."""
        return http_sms

    @pytest.fixture
    def make_batch(self) -> Batch:
        """One SMS."""
        return lambda: [sms_message(1)]


class TestChatwoot(ProviderContract):
    """Chatwoot web chat keeps the contract; its first request looks the contact up."""

    secret = SECRET
    lookup_first = True

    @pytest.fixture
    def make_provider(self) -> Callable[[], Provider]:
        """The adapter, assigning to agent 5."""
        return lambda: chatwoot(assignee_id=5)

    @pytest.fixture
    def make_batch(self) -> Batch:
        """One web chat message with an image."""
        return lambda: [web_message(1, media=("https://i.example/a.png",))]


class TestSimulator(ProviderContract):
    """The simulator's adapter keeps the contract, like every adapter (over HTTP)."""

    @pytest.fixture
    def make_provider(self) -> Callable[[], Provider]:
        """The adapter, pointed at a gateway URL (respx answers for it)."""
        return lambda: SimulatorProvider(
            "sim", base_url="https://sim.example.com", server=SimulatorServer(clock=lambda: NOW)
        )

    @pytest.fixture
    def make_batch(self) -> Batch:
        """Three SMS."""
        return lambda: [sms_message(i) for i in range(3)]


@pytest.mark.parametrize(
    ("make", "promotional", "multimedia"),
    [
        (alibaba, (False, True, False), True),
        (twilio, (True, True, True), False),
        (http_sms, (True, True, True), False),
    ],
    ids=["alibaba", "twilio", "http_sms"],
)
def test_the_platform_table(
    make: Callable[[], Provider], promotional: tuple[bool, bool, bool], multimedia: bool
) -> None:
    """Promotional variables / short links / short params, and multimedia, per platform."""
    kinds = make().capabilities.content.kinds
    promo = kinds[TemplateKind.PROMOTIONAL]
    assert (promo.variables, promo.short_links, promo.short_params) == promotional
    notification = kinds[TemplateKind.NOTIFICATION]
    assert (notification.variables, notification.short_links, notification.short_params) == (
        True,
        True,
        True,
    )
    assert (TemplateKind.MULTIMEDIA in kinds) is multimedia
