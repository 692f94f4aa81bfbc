"""The simulator: the ``msgkit.toml`` settings and `from_config`."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Literal

from msgkit.providers.config import ProviderSettings, validate_settings
from msgkit.testing.simulator.adapter import IN_PROCESS_URL, SimulatorProvider
from msgkit.testing.simulator.server import SimulatorServer

__all__ = ["SimulatorSettings", "from_config"]


class SimulatorSettings(ProviderSettings):
    """``[providers.NAME] type = "simulator"`` settings.

    Without ``base_url`` the simulator runs inside the process (no network); with one,
    the adapter talks to a simulator served there. The behaviour settings apply to the
    in-process simulator.

    Attributes:
        channel: The channel it pretends to be.
        max_batch: Messages per request.
        scheme: SMS counting scheme.
        rate_per_second: Requests per second, or None.
        failure_rate: Share of messages rejected for good.
        undelivered_rate: Share of accepted messages never delivered.
        error_rate: Share of requests answered with HTTP 500.
        throttle_rate: Share of requests answered with HTTP 429.
        delivery_delay: Seconds from acceptance to delivery.
        reply_rate: Share of delivered messages that get a reply.
        opt_out_rate: Share of replies that are STOP.
        click_rate: Share of delivered messages whose link is clicked.
        latency: Seconds each request takes (min, max).
        seed: Makes every draw reproducible.
        sender: The default sender of messages that name none.
        balance: The account balance it reports, or None for none.
        currency: The currency of ``balance``.
    """

    channel: Literal["sms", "line", "webchat"] = "sms"
    max_batch: int = 100
    scheme: Literal["gsm", "cn"] = "gsm"
    rate_per_second: float | None = None
    failure_rate: float = 0.0
    undelivered_rate: float = 0.0
    error_rate: float = 0.0
    throttle_rate: float = 0.0
    delivery_delay: float = 1.0
    reply_rate: float = 0.0
    opt_out_rate: float = 0.0
    click_rate: float = 0.0
    latency: tuple[float, float] = (0.0, 0.0)
    seed: int = 0
    sender: str | None = None
    balance: Decimal | None = None
    currency: str = "USD"


def from_config(
    name: str, settings: Mapping[str, Any], env: Mapping[str, str]
) -> SimulatorProvider:
    """Build the simulator from its ``msgkit.toml`` table (it needs no secret)."""
    cfg = validate_settings(SimulatorSettings, name, settings)
    server = None
    if cfg.base_url is None:
        server = SimulatorServer(
            failure_rate=cfg.failure_rate,
            undelivered_rate=cfg.undelivered_rate,
            error_rate=cfg.error_rate,
            throttle_rate=cfg.throttle_rate,
            delivery_delay=cfg.delivery_delay,
            reply_rate=cfg.reply_rate,
            opt_out_rate=cfg.opt_out_rate,
            click_rate=cfg.click_rate,
            latency=cfg.latency,
            seed=cfg.seed,
            balance=cfg.balance,
            currency=cfg.currency,
        )
    return SimulatorProvider(
        name,
        base_url=cfg.base(IN_PROCESS_URL),
        channel=cfg.channel,
        max_batch=cfg.max_batch,
        scheme=cfg.scheme,
        rate_per_second=cfg.rate_per_second,
        server=server,
        sender=cfg.sender,
    )
