"""Helpers for testing code that uses msgkit: a clock you move, stores and a simulator.

::

    import msgkit
    from msgkit.testing import FakeClock, Simulator, SimulatorProvider

    clock = FakeClock()
    server = Simulator(clock=clock.now, rules={"13": "invalid"})
    client = msgkit.Client(
        store="memory://",
        providers={"sms": SimulatorProvider("sms", server=server)},
        clock=clock,
    )

`Simulator` records every message it receives (``server.messages``,
``server.recipients``), so a test can prove who got what, and exactly once. The
simulator (gateway, adapter and settings) lives in `msgkit.testing.simulator`; it is
also the ``simulator`` provider type of ``msgkit.toml``, and the provider a `Client`
configured with none sends through.

`StoreContract` and `ProviderContract` are the contract suites msgkit runs over its own
stores and adapters, for yours: subclass one in a test module and override its factory
fixture (see `msgkit.testing.contracts`). They need pytest, hypothesis and respx, and are
loaded only when first used, so importing `msgkit.testing` does not need them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from msgkit.engine.clock import FakeClock
from msgkit.store import MemoryStore
from msgkit.testing.simulator import SimulatorProvider, SimulatorServer

if TYPE_CHECKING:
    from msgkit.testing.contracts import ProviderContract, StoreContract

__all__ = [
    "FakeClock",
    "MemoryStore",
    "ProviderContract",
    "Simulator",
    "SimulatorProvider",
    "SimulatorServer",
    "StoreContract",
]

#: The simulator's fake gateway (`msgkit.testing.simulator.SimulatorServer`).
Simulator = SimulatorServer


def __getattr__(name: str) -> Any:
    # The contract suites import pytest, hypothesis and respx: only test code asks.
    if name in ("ProviderContract", "StoreContract"):
        from msgkit.testing import contracts  # noqa: PLC0415

        return getattr(contracts, name)
    raise AttributeError(f"module 'msgkit.testing' has no attribute {name!r}")
