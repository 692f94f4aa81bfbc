"""Tests of msgkit.engine.sync: running the engine from sync code, and interrupting it."""

from __future__ import annotations

import asyncio
import signal
import threading

import pytest

from msgkit.engine.sync import run_sync


def _in_running_loop(fn: object) -> object:
    async def outer() -> object:
        assert callable(fn)
        return fn()

    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(outer())
    finally:
        loop.close()


async def _answer(stop: asyncio.Event) -> int:
    assert not stop.is_set()
    return 42


def test_runs_without_a_loop() -> None:
    """Without a running loop, the coroutine runs here and its result is returned."""
    assert run_sync(_answer) == 42


def test_runs_inside_a_running_loop() -> None:
    """Inside a running loop, the coroutine runs in a worker thread; its result returns."""
    assert _in_running_loop(lambda: run_sync(_answer)) == 42


def test_errors_reach_the_caller() -> None:
    """An error of the coroutine is raised in the caller's thread."""

    async def fail(stop: asyncio.Event) -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        _in_running_loop(lambda: run_sync(fail))


def test_interrupt_stops_the_coroutine_before_raising() -> None:
    """KeyboardInterrupt in the caller sets the stop event; it is raised once it stopped."""
    seen: list[str] = []
    started = threading.Event()

    async def work(stop: asyncio.Event) -> None:
        started.set()
        await stop.wait()
        await asyncio.sleep(0.05)  # finishing what is in flight
        seen.append("stopped")

    def interrupt() -> None:
        started.wait(5)
        signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)

    threading.Thread(target=interrupt, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        _in_running_loop(lambda: run_sync(work))
    assert seen == ["stopped"]


def test_ctrl_c_in_a_script_stops_the_coroutine_before_raising() -> None:
    """Without a running loop, SIGINT sets the stop event; KeyboardInterrupt follows its end."""
    seen: list[str] = []
    started = threading.Event()

    async def work(stop: asyncio.Event) -> None:
        started.set()
        await stop.wait()
        await asyncio.sleep(0.05)
        seen.append("stopped")

    def interrupt() -> None:
        started.wait(5)
        signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)

    threading.Thread(target=interrupt, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        run_sync(work)
    assert seen == ["stopped"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
