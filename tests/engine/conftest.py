"""Fixtures for engine tests: a fake clock, an in-memory store, the in-process simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from msgkit.engine.clock import FakeClock
from msgkit.engine.dispatcher import Dispatcher, DispatcherSettings
from msgkit.engine.transport import HttpxTransport
from msgkit.providers.simulator import SimulatorProvider, SimulatorServer
from msgkit.store import MemoryStore


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def server(clock: FakeClock) -> SimulatorServer:
    return SimulatorServer(clock=clock.now, delivery_delay=5.0)


MakeDispatcher = Callable[..., Dispatcher]


@pytest.fixture
async def make_dispatcher(
    store: MemoryStore, server: SimulatorServer, clock: FakeClock
) -> AsyncIterator[MakeDispatcher]:
    made: list[Dispatcher] = []

    def make(
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        providers: dict[str, SimulatorProvider] | None = None,
        **settings: object,
    ) -> Dispatcher:
        dispatcher = Dispatcher(
            store,
            providers or {"sim": SimulatorProvider("sim")},
            transport=HttpxTransport(transport=transport or httpx.ASGITransport(app=server)),
            clock=clock,
            settings=DispatcherSettings(**settings),  # type: ignore[arg-type]
        )
        made.append(dispatcher)
        return dispatcher

    yield make
    for dispatcher in made:
        await dispatcher.aclose()
