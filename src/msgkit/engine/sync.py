"""Run the async engine from synchronous code, including inside a running event loop.

A plain script has no event loop: `run_sync` starts one. Jupyter (and any async
framework) already runs a loop in the calling thread, where ``asyncio.run`` refuses to
start; there the coroutine runs on a fresh loop in a worker thread, and the caller
waits for it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["in_event_loop", "run_sync"]

T = TypeVar("T")


def in_event_loop() -> bool:
    """Whether an event loop is running in this thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def run_sync(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run the coroutine ``factory()`` to completion and return its result.

    Args:
        factory: Makes the coroutine; it is called in the thread that runs it, so the
            coroutine binds to the right loop.
    """
    if not in_event_loop():
        return asyncio.run(factory())
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = asyncio.run(factory())
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name="msgkit-run", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    result: T = box["result"]
    return result
