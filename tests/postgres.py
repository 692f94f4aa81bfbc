"""Fresh PostgreSQL databases for the tests, when a server is given.

``MSGKIT_TEST_POSTGRES`` holds a server's DSN (``postgresql://postgres@127.0.0.1:5432/
postgres``; `.ci/postgres start DIR` starts a throwaway one and prints it). Without it
the PostgreSQL tests skip, saying so. Each test gets its own database, copied from a
template that is migrated once a session (``CREATE DATABASE ... TEMPLATE``: tens of
milliseconds, not a migration per test); every database made is dropped at the end.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest

ENV = "MSGKIT_TEST_POSTGRES"
SKIP_REASON = (
    f"no PostgreSQL server: set {ENV} to a server's DSN "
    "(`.ci/postgres start /tmp/pg` starts one and prints it) to run the PostgreSQL tests"
)


def server_dsn() -> str | None:
    """The DSN of the test server, or None."""
    return os.environ.get(ENV) or None


def database_url(dsn: str, name: str) -> str:
    """``dsn`` pointing at the database ``name``."""
    parts = urlsplit(dsn)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


class Databases:
    """Makes and drops the test databases of one session on one server."""

    def __init__(self, dsn: str) -> None:
        import psycopg

        self.dsn = dsn
        self.prefix = f"msgkit_test_{os.getpid()}"
        self.template = f"{self.prefix}_template"
        self._numbers = itertools.count()
        self._admin = psycopg.connect(dsn, autocommit=True)
        self._made: list[str] = []
        self._migrated = False

    def _run(self, sql: str) -> None:
        self._admin.execute(sql)  # type: ignore[arg-type]

    def new(self) -> str:
        """The URL of a new database with msgkit's schema in it."""
        if not self._migrated:
            from msgkit.store.postgres import PostgresStore

            self._run(f"DROP DATABASE IF EXISTS {self.template}")
            self._run(f"CREATE DATABASE {self.template}")
            self._made.append(self.template)
            PostgresStore(database_url(self.dsn, self.template)).close()
            self._migrated = True
        name = f"{self.prefix}_{next(self._numbers)}"
        self._run(f"CREATE DATABASE {name} TEMPLATE {self.template}")
        self._made.append(name)
        return database_url(self.dsn, name)

    def empty(self) -> str:
        """The URL of a new, empty database (no schema)."""
        name = f"{self.prefix}_{next(self._numbers)}"
        self._run(f"CREATE DATABASE {name}")
        self._made.append(name)
        return database_url(self.dsn, name)

    def drop(self, url: str) -> None:
        """Drop one database made here (closing what is still connected to it)."""
        name = urlsplit(url).path.lstrip("/")
        self._run(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        self._made.remove(name)

    def close(self) -> None:
        for name in reversed(self._made):
            self._run(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        self._admin.close()


@pytest.fixture(scope="session")
def postgres_databases() -> Iterator[Databases]:
    """The session's maker of PostgreSQL test databases (skips without a server)."""
    dsn = server_dsn()
    if dsn is None:
        pytest.skip(SKIP_REASON)
    databases = Databases(dsn)
    yield databases
    databases.close()
