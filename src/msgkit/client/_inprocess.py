"""Providers that run in this process (`msgkit.providers.base.InProcess`): how the
client reaches them, polls them, and takes in the replies and clicks they produce.

Any provider may offer the capability; the simulator of `msgkit.testing` does.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping

from msgkit.core.events import Click, Reply
from msgkit.engine.transport import HttpxTransport, Transport
from msgkit.inbound.sink import StoreSink
from msgkit.providers.base import InProcess, Provider

__all__ = ["feed_inbound", "in_process", "transports"]


def in_process(providers: Mapping[str, Provider]) -> dict[str, InProcess]:
    """The providers that run in this process now (with a local transport), by name."""
    return {
        name: provider
        for name, provider in providers.items()
        if isinstance(provider, InProcess) and provider.local_transport() is not None
    }


def transports(
    providers: Mapping[str, Provider], default: Transport | None
) -> dict[str, Transport] | Transport | None:
    """The dispatcher's transports: in-process providers are reached through their own
    (no network), the others through ``default`` (None: the dispatcher's)."""
    local: dict[str, Transport] = {}
    for name, provider in in_process(providers).items():
        inner = provider.local_transport()
        if inner is not None:
            local[name] = HttpxTransport(transport=inner)
    if not local:
        return default
    if default is not None:
        return {name: local.get(name, default) for name in providers}
    return local


async def feed_inbound(
    providers: Mapping[str, Provider], sink: StoreSink, seen: MutableMapping[str, int]
) -> None:
    """Hand the replies (opt-outs included) and clicks in-process providers produced to
    the sink, as their webhooks would for a provider elsewhere.

    Args:
        providers: The client's providers (those not in this process are left alone).
        sink: Where the events go.
        seen: The position of the last event taken from each provider, by name
            (updated).
    """
    for name, provider in in_process(providers).items():
        events = list(provider.inbound_events(seen.get(name, 0)))
        if not events:
            continue
        replies = [event for _, event in events if isinstance(event, Reply)]
        if replies:
            await sink.replies(replies)
        for _, event in events:
            if isinstance(event, Click):
                await sink.click(event)
        seen[name] = events[-1][0]  # taken only once the sink has them
