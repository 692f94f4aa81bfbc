"""The simulator: the adapter (`msgkit.providers.simulator.adapter`), its settings
(`msgkit.providers.simulator.settings`).
"""

from __future__ import annotations

from msgkit.providers.simulator.adapter import (
    IN_PROCESS_URL,
    Received,
    SimulatorProvider,
    SimulatorServer,
)
from msgkit.providers.simulator.settings import SimulatorSettings, from_config

__all__ = [
    "IN_PROCESS_URL",
    "Received",
    "SimulatorProvider",
    "SimulatorServer",
    "SimulatorSettings",
    "from_config",
]
