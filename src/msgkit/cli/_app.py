"""The ``msgkit`` group, its global options, and what commands share."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console

from msgkit._version import __version__
from msgkit.exceptions import ConfigError

if TYPE_CHECKING:
    from msgkit.client import Client

__all__ = ["State", "cli", "console", "console_err", "pass_state"]

console = Console(highlight=False, soft_wrap=True)
console_err = Console(stderr=True, highlight=False, soft_wrap=True)


class State:
    """The global options, and the client they make (made on first use)."""

    def __init__(self, store: str | None, config: str | None, verbose: bool) -> None:
        self.store = store
        self.verbose = verbose
        if config is None and Path("msgkit.toml").is_file():
            config = "msgkit.toml"
        self.config = config
        self._client: Client | None = None

    def client(self, **options: Any) -> Client:
        """A `msgkit.Client` on ``--store`` and ``--config`` (kept open)."""
        if self._client is None:
            from msgkit.client import Client  # noqa: PLC0415 - heavy: only when needed

            self._client = Client(store=self.store, config=self.config, **options)
        return self._client

    def use(self, client: Client) -> None:
        """Make ``client`` the one the commands use (the demo's, on its simulators)."""
        self.close()
        self._client = client
        self.store = client.store.url  # the readers open its store (the demo's SQLite file)

    @contextlib.contextmanager
    def reader(self) -> Iterator[Client]:
        """A second client on the same store, for reading progress from another thread."""
        from msgkit.client import Client  # noqa: PLC0415

        self.client()
        # The URL it was given, not the store's `url`: that one shows a password as ***.
        reader = Client(store=self.store, config=self.config)
        try:
            yield reader
        finally:
            reader.close()

    def close(self) -> None:
        """Close the client, if one was made."""
        if self._client is not None:
            self._client.close()
            self._client = None


pass_state = click.make_pass_decorator(State)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="msgkit", message="%(prog)s %(version)s")
@click.option(
    "--store", metavar="URL", help="sqlite:///path (default ./msgkit.db) or postgresql://..."
)
@click.option(
    "--config",
    metavar="FILE",
    help="msgkit.toml (default: ./msgkit.toml when there is one)",
)
@click.option("-v", "--verbose", is_flag=True, help="show the traceback of an error")
@click.pass_context
def cli(ctx: click.Context, store: str | None, config: str | None, verbose: bool) -> None:
    """Bulk and triggered messaging campaigns: SMS, LINE with SMS fallback, web chat.

    Start with `msgkit demo`.
    """
    if config is not None and not Path(config).is_file():
        raise ConfigError(
            f"no configuration file {config}",
            key="config",
            hint="create msgkit.toml (see the docs) or give another --config",
        )
    state = State(store, config, verbose)
    ctx.obj = state
    ctx.call_on_close(state.close)
