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
``server.recipients``), so a test can prove who got what, and exactly once.
"""

from __future__ import annotations

from msgkit.engine.clock import FakeClock
from msgkit.providers.simulator import SimulatorProvider, SimulatorServer
from msgkit.store import MemoryStore

__all__ = ["FakeClock", "MemoryStore", "Simulator", "SimulatorProvider", "SimulatorServer"]

#: The simulator's fake gateway (`msgkit.providers.simulator.SimulatorServer`).
Simulator = SimulatorServer
