"""Run the async engine from synchronous code, including inside a running event loop.

A plain script has no event loop: `run_sync` starts one. Jupyter (and any async
framework) already runs a loop in the calling thread, where ``asyncio.run`` refuses to
start; there the coroutine runs on a fresh loop in a worker thread, and the caller
waits for it.

Interrupting the caller (KeyboardInterrupt, Jupyter's interrupt button) while it waits
does not abandon the worker: the coroutine is asked to stop (its ``stop`` event is
set), the caller waits until it has stopped, and only then is KeyboardInterrupt raised.
A second interrupt while it is stopping cancels it outright. A plain script's Ctrl-C
(SIGINT in the main thread) is handled the same way. SIGTERM (a service manager
stopping a worker) also sets ``stop``: in-flight requests finish, claims are given back,
and the coroutine's result is returned (no KeyboardInterrupt).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
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


class _Worker:
    """The loop in the worker thread, and how to ask its coroutine to stop."""

    def __init__(self, factory: Callable[[asyncio.Event], Coroutine[Any, Any, Any]]) -> None:
        self._factory = factory
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._task: asyncio.Future[Any] | None = None
        self._stopping = False
        self.result: Any = None
        self.error: BaseException | None = None
        self.done = threading.Event()

    async def _main(self) -> Any:
        stop = asyncio.Event()
        with self._lock:
            self._loop, self._stop = asyncio.get_running_loop(), stop
            self._task = asyncio.current_task()
            if self._stopping:
                stop.set()
        return await self._factory(stop)

    def run(self) -> None:
        try:
            self.result = asyncio.run(self._main())
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            self.error = exc
        finally:
            self.done.set()

    def interrupt(self) -> None:
        """Ask the coroutine to stop; a second call cancels it."""
        with self._lock:
            again, self._stopping = self._stopping, True
            loop, stop, task = self._loop, self._stop, self._task
        if loop is None or stop is None or task is None:
            return  # not started yet: it sets its stop event when it starts
        with contextlib.suppress(RuntimeError):  # a closed loop: it stopped on its own
            loop.call_soon_threadsafe(task.cancel if again else stop.set)


async def _with_sigint(factory: Callable[[asyncio.Event], Coroutine[Any, Any, T]]) -> T:
    """Run ``factory(stop)`` in this loop; SIGINT sets ``stop`` (a second cancels it),
    and KeyboardInterrupt is raised once the coroutine has stopped. SIGTERM sets
    ``stop`` too, and the coroutine's result is returned."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    interrupts = 0

    def on_sigint() -> None:
        nonlocal interrupts
        interrupts += 1
        if interrupts == 1:
            stop.set()
        elif task is not None:
            task.cancel()

    installed: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for signum, handler in ((signal.SIGINT, on_sigint), (signal.SIGTERM, stop.set)):
            previous = signal.getsignal(signum)
            try:
                loop.add_signal_handler(signum, handler)
            except (NotImplementedError, RuntimeError, ValueError):  # Windows, odd loops
                continue
            installed[signum] = previous
    try:
        result = await factory(stop)
    except asyncio.CancelledError:
        if interrupts:
            raise KeyboardInterrupt from None
        raise
    finally:
        for signum, previous in installed.items():
            loop.remove_signal_handler(signum)
            if previous is not None:  # as it was (asyncio.run's own, say)
                signal.signal(signum, previous)
    if interrupts:
        raise KeyboardInterrupt
    return result


def run_sync(factory: Callable[[asyncio.Event], Coroutine[Any, Any, T]]) -> T:
    """Run the coroutine ``factory(stop)`` to completion and return its result.

    Args:
        factory: Makes the coroutine, given an event that asks it to stop early; it is
            called in the thread that runs it, so the coroutine binds to the right loop.

    Raises:
        KeyboardInterrupt: When the caller was interrupted while waiting (inside a
            running event loop): raised once the coroutine has stopped.
    """
    if not in_event_loop():
        return asyncio.run(_with_sigint(factory))
    worker = _Worker(factory)
    thread = threading.Thread(target=worker.run, name="msgkit-run", daemon=True)
    interrupted: KeyboardInterrupt | None = None
    # The interrupt may come at any moment: while starting the thread, waiting for it,
    # or joining it. Wait on an event of our own: a Thread.join interrupted by
    # KeyboardInterrupt may take the thread for finished while it runs (bpo-45274).
    step = "start"
    while step != "done":
        try:
            if step == "start":
                step = "wait"
                thread.start()
            if step == "wait":
                worker.done.wait()
                step = "join"
            thread.join()
            step = "done"
        except KeyboardInterrupt as exc:
            if thread.ident is None:
                raise  # interrupted before the thread was started: nothing runs
            interrupted = interrupted or exc
            worker.interrupt()
    if interrupted is not None:
        raise interrupted
    if worker.error is not None:
        raise worker.error
    result: T = worker.result
    return result
