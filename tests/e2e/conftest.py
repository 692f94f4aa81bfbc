"""The end-to-end suite: msgkit driven only through its public API, as the docs teach it.

Every test here uses what a user imports (``msgkit``, ``msgkit.testing``, ``msgkit.io``,
``msgkit.inbound``...) on a fresh database, and asserts what the user sees: who got
which text, when, and in which state. Nothing here reaches into private modules or
store internals.

The database is a fresh SQLite file, or, with ``MSGKIT_TEST_STORE=postgres`` (and
``MSGKIT_TEST_POSTGRES`` naming a server, see ``tests/postgres.py``), a fresh PostgreSQL
database: the same suite over the other store. A test about SQLite itself (its file,
its locks, a full disk) is marked ``@pytest.mark.sqlite_only("why")`` and skipped there.

Fixtures:

- ``clock``: a `msgkit.testing.FakeClock` at Monday 2026-01-05 09:00 UTC (17:00 in
  Taipei); sleeping in the engine moves it forward.
- ``sim``: the in-process simulator gateway (records every message it receives).
- ``db``: the store URL of a fresh database (SQLite file or PostgreSQL database).
- ``client``: a `msgkit.Client` on ``db`` with one SMS provider ``sms`` talking to
  ``sim``.
- ``make_client``: build another client on the same database file (a second process,
  say), or with other providers.
- ``write_csv``: write rows to a CSV file in ``tmp_path`` and return its path.
"""

from __future__ import annotations

import contextlib
import csv
import os
import signal
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

import msgkit
from msgkit.testing import FakeClock, Simulator, SimulatorProvider
from tests.postgres import SKIP_REASON, server_dsn


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock at Monday 2026-01-05 09:00 UTC."""
    return FakeClock()


@pytest.fixture
def sim(clock: FakeClock) -> Simulator:
    """The in-process SMS gateway."""
    return Simulator(clock=clock.now)


#: The store the suite runs on: ``sqlite`` (the default) or ``postgres``.
STORE = os.environ.get("MSGKIT_TEST_STORE", "sqlite")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On PostgreSQL, skip the tests about SQLite itself, with their reason."""
    if STORE not in ("sqlite", "postgres"):
        raise pytest.UsageError(f"MSGKIT_TEST_STORE={STORE!r}: use sqlite or postgres")
    if STORE != "postgres":
        return
    for item in items:
        marker = item.get_closest_marker("sqlite_only")
        if marker is not None:
            reason = marker.args[0] if marker.args else "about SQLite itself"
            item.add_marker(pytest.mark.skip(reason=f"SQLite only: {reason}"))


@pytest.fixture
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The store URL of a fresh database: a SQLite file, or a PostgreSQL database with
    ``MSGKIT_TEST_STORE=postgres``."""
    if STORE != "postgres":
        yield f"sqlite:///{tmp_path / 'msgkit.db'}"
        return
    if server_dsn() is None:
        pytest.fail(f"MSGKIT_TEST_STORE=postgres, but {SKIP_REASON}")
    databases = request.getfixturevalue("postgres_databases")
    url = databases.new()
    yield url
    databases.release(url)


MakeClient = Callable[..., msgkit.Client]


@pytest.fixture
def make_client(db: str, clock: FakeClock, sim: Simulator) -> Iterator[MakeClient]:
    """Build clients on the test's database; all are closed at the end."""
    made: list[msgkit.Client] = []

    def make(providers: Mapping[str, Any] | None = None, **options: Any) -> msgkit.Client:
        if providers is None:
            providers = {"sms": SimulatorProvider("sms", server=sim)}
        options.setdefault("store", db)
        options.setdefault("clock", clock)
        client = msgkit.Client(providers=providers, **options)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def client(make_client: MakeClient) -> msgkit.Client:
    """A client on a fresh database, sending SMS through ``sim`` as provider ``sms``."""
    return make_client()


WriteCsv = Callable[..., Path]


@pytest.fixture
def write_csv(tmp_path: Path) -> WriteCsv:
    """``write_csv(rows, header=(...), name="members.csv", encoding="utf-8")`` -> path."""

    def write(
        rows: Sequence[Sequence[object]],
        header: Sequence[str] = ("Mobile", "Name"),
        name: str = "members.csv",
        encoding: str = "utf-8",
    ) -> Path:
        path = tmp_path / name
        with path.open("w", encoding=encoding, newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows(rows)
        return path

    return write


#: The fault and crash tests run short in CI. ``MSGKIT_LONG=1`` runs them long, by hand
#: (more recipients, more kills, more faults); ``MSGKIT_SEED`` varies their random
#: points. docs/reliability.md gives the command and the last long run's figures.
LONG = os.environ.get("MSGKIT_LONG", "") not in ("", "0")


def sized(short: int, long: int) -> int:
    """``short`` in a normal run, ``long`` with ``MSGKIT_LONG=1``."""
    return long if LONG else short


def seed(default: int) -> int:
    """The random seed of a fault or crash test: ``MSGKIT_SEED`` when given."""
    return int(os.environ.get("MSGKIT_SEED", default))


def tw_numbers(count: int, start: int = 0) -> list[str]:
    """``count`` distinct Taiwanese mobile numbers in national format (0912-345-000...)."""
    return [f"0912-{(start + i) // 1000:03d}-{(start + i) % 1000:03d}" for i in range(count)]


def tw_e164(national: str) -> str:
    """The E.164 form of a number `tw_numbers` made."""
    return "+886" + national.replace("-", "")[1:]


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Fail (instead of hanging) when the block takes longer than ``seconds``."""

    def expire(signum: int, frame: FrameType | None) -> None:
        raise AssertionError(f"still running after {seconds}s: the engine never settled")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
