"""Fresh PostgreSQL databases for the tests, when a server is given.

``MSGKIT_TEST_POSTGRES`` holds a server's DSN (``postgresql://postgres@127.0.0.1:5432/
postgres``; `.ci/postgres start DIR` starts a throwaway one and prints it). Without it
the PostgreSQL tests skip, saying so. Each test gets its own database, copied from a
template that is migrated once a session (``CREATE DATABASE ... TEMPLATE``), and given
back at the end of the test emptied, for the next (deleting a test's few rows is much
faster than making a database); every database made is dropped at the end.
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


def database_text(url: str) -> str:
    """Every row of every table of a database, as text (what a leak scan reads)."""
    import psycopg

    with psycopg.connect(url) as conn:
        tables = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        ).fetchall()
        return "\n".join(
            str(row[0])
            for (table,) in tables
            for row in conn.execute(f"SELECT t::text FROM {table} t")  # type: ignore[arg-type]
        )


class Databases:
    """Makes, recycles and drops the test databases of one session on one server.

    A database given back (`release`) has its connections closed and its rows deleted
    (a few milliseconds) and is handed out again; making one from the template takes
    half a second on a busy machine.
    """

    def __init__(self, dsn: str) -> None:
        import psycopg

        self.dsn = dsn
        self.prefix = f"msgkit_test_{os.getpid()}"
        self.template = f"{self.prefix}_template"
        self._numbers = itertools.count()
        self._admin = psycopg.connect(dsn, autocommit=True)
        self._made: list[str] = []
        self._free: list[str] = []
        self._empty: set[str] = set()
        self._migrated = False

    def _run(self, sql: str) -> None:
        self._admin.execute(sql)  # type: ignore[arg-type]

    def new(self) -> str:
        """The URL of a database with msgkit's schema and nothing in it."""
        if self._free:
            return database_url(self.dsn, self._free.pop())
        if not self._migrated:
            import psycopg

            from msgkit.store.postgres import PostgresStore

            self._run(f"DROP DATABASE IF EXISTS {self.template}")
            self._run(f"CREATE DATABASE {self.template}")
            self._made.append(self.template)
            PostgresStore(database_url(self.dsn, self.template)).close()
            # The store that migrated it marked it plain: a test's own store decides.
            with psycopg.connect(database_url(self.dsn, self.template)) as conn:
                conn.execute("DELETE FROM msgkit_meta WHERE key <> 'schema_version'")
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
        self._empty.add(name)
        return database_url(self.dsn, name)

    def release(self, url: str) -> None:
        """Give a database back: what is still connected to it is cut off, its rows
        deleted, and it is handed out again (an `empty` one is dropped)."""
        import psycopg

        name = urlsplit(url).path.lstrip("/")
        if name in self._empty:
            self._run(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            self._made.remove(name)
            return
        with psycopg.connect(database_url(self.dsn, name), autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            tables = conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                "AND tablename <> 'msgkit_meta'"
            ).fetchall()
            with conn.transaction():
                conn.execute("SET LOCAL session_replication_role = replica")  # no FK order
                for (table,) in tables:
                    conn.execute(f"DELETE FROM {table}")  # type: ignore[arg-type]
                # What the schema is stays; a phone key's mark goes with the rows.
                conn.execute("DELETE FROM msgkit_meta WHERE key <> 'schema_version'")
        self._free.append(name)

    def close(self) -> None:
        for name in reversed(self._made):
            self._run(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        self._admin.close()


@pytest.fixture(scope="session")
def postgres_databases() -> Iterator[Databases]:
    """The session's maker of PostgreSQL test databases (skips without a server)."""
    dsn = server_dsn()
    if dsn is None:
        if os.environ.get("CI"):  # CI starts a server (.ci/run): a skip there hides a gap
            pytest.fail(f"CI without a PostgreSQL server: {SKIP_REASON}")
        pytest.skip(SKIP_REASON)
    databases = Databases(dsn)
    yield databases
    databases.close()
