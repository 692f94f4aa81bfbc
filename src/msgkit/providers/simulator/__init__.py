"""The simulator: the adapter (`msgkit.providers.simulator.adapter`), its settings
(`msgkit.providers.simulator.settings`).

`PROVIDER` is what the registry loads for ``type = "simulator"``.
"""

from __future__ import annotations

from msgkit.providers.registry import ProviderType
from msgkit.providers.simulator.adapter import (
    IN_PROCESS_URL,
    Received,
    SimulatorProvider,
    SimulatorServer,
)
from msgkit.providers.simulator.settings import SimulatorSettings, from_config

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
