"""``msgkit worker`` and ``msgkit serve``: the long-running processes."""

from __future__ import annotations

import logging
from typing import Any

import click

from msgkit.cli._app import State, console_err, pass_state
from msgkit.exceptions import ConfigError

__all__ = ["register"]


@click.command("worker")
@click.option(
    "--store",
    "store",
    default=None,
    metavar="URL",
    help="The store to send from (as the global --store): sqlite:///path or postgresql://...",
)
@pass_state
def worker_command(state: State, store: str | None) -> None:
    """Send until stopped: Ctrl-C or SIGTERM finishes requests in flight and gives the
    claimed messages back. Run one per machine against a shared store."""
    if store is not None:
        state.store = store
    client = state.client()
    console_err.print(f"msgkit worker on {client.store.url}: sending until stopped (SIGTERM)")
    try:
        stats = client.run(until_idle=False, progress=False)
    except KeyboardInterrupt:
        console_err.print("msgkit worker: stopped")
        return
    console_err.print(f"msgkit worker: stopped after {stats.sent} sent, {stats.failed} failed")


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@pass_state
def serve_command(state: State, host: str, port: int) -> None:
    """The webhook and short-link app (receipts, replies, clicks) under uvicorn."""
    try:
        import uvicorn  # noqa: PLC0415 - an optional extra
    except ImportError:
        raise ConfigError(
            "msgkit serve needs uvicorn",
            key="serve",
            hint="pip install 'msgkit[serve]'",
        ) from None
    from msgkit.client import load_config  # noqa: PLC0415
    from msgkit.inbound import endpoints_from_config  # noqa: PLC0415

    cfg: dict[str, Any] = load_config(state.config) if state.config else {}
    app = state.client().inbound_app(endpoints_from_config(cfg.get("providers") or {}))
    console_err.print(f"msgkit serve on http://{host}:{port} (webhooks /hooks, links /l)")
    config = uvicorn.Config(app, host=host, port=port, log_level="info")  # sets up logging
    logging.getLogger("uvicorn.access").addFilter(app.access_log_filter())  # path tokens
    uvicorn.Server(config).run()


def register(group: click.Group) -> None:
    """Add these commands to ``group``."""
    group.add_command(worker_command)
    group.add_command(serve_command)
