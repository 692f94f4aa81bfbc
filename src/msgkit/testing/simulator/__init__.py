"""The simulator: a fake gateway (`SimulatorServer`, in
`msgkit.testing.simulator.server`), its adapter (`SimulatorProvider`, in
`msgkit.testing.simulator.adapter`) and its ``msgkit.toml`` settings
(`msgkit.testing.simulator.settings`).

It is a provider like any other, and runs in the provider contract suite like every
adapter; by default it runs in the process (`msgkit.providers.base.InProcess`).
`PROVIDER` is what the registry loads for ``type = "simulator"``.
(``msgkit.providers.simulator`` still re-exports these names, for older imports.)
"""

from __future__ import annotations

from msgkit.providers.registry import ProviderType
from msgkit.testing.simulator.adapter import IN_PROCESS_URL, SimulatorProvider
from msgkit.testing.simulator.server import Received, SimulatorServer
from msgkit.testing.simulator.settings import SimulatorSettings, from_config

__all__ = [
    "IN_PROCESS_URL",
    "PROVIDER",
    "Received",
    "SimulatorProvider",
    "SimulatorServer",
    "SimulatorSettings",
    "from_config",
]

#: The ``simulator`` provider type: its factory (it has no webhooks).
PROVIDER = ProviderType(factory=from_config)
