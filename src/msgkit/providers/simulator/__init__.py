"""Moved to `msgkit.testing.simulator`; these names are re-exported from there.

The providers layer does not import `msgkit.testing`: each name is looked up there when
first used, so ``from msgkit.providers.simulator import SimulatorProvider`` keeps working.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "IN_PROCESS_URL",
    "PROVIDER",
    "Received",
    "SimulatorProvider",
    "SimulatorServer",
    "SimulatorSettings",
    "from_config",
]

_HOME = "msgkit.testing.simulator"


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module(_HOME), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
