"""The engine: the dispatcher (claim, send, record), its housekeeping jobs, rate limits,
retries, transports and the campaign runner.

`Dispatcher`, `DispatcherSettings` and `RunStats` are importable from here; they load
on first use, so importing one engine module (the clock, say) stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from msgkit.engine.dispatcher import Dispatcher, DispatcherSettings, RunStats

__all__ = ["Dispatcher", "DispatcherSettings", "RunStats"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from msgkit.engine import dispatcher  # noqa: PLC0415

        return getattr(dispatcher, name)
    raise AttributeError(f"module 'msgkit.engine' has no attribute {name!r}")
