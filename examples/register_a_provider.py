"""A provider of your own, registered as a type and configured like the built-in ones.

A package that adds a provider type declares it as an entry point in its
``pyproject.toml``, and msgkit finds it by its type name::

    [project.entry-points."msgkit.providers"]
    toy = "toy_gateway:PROVIDER"

Here the same registration is done by hand, with `Registry.register` on msgkit's
default registry, so the example runs without installing a package. The toy provider is
a class built on the in-process simulator that signs every message it sends.

Run: python examples/register_a_provider.py
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

import msgkit
from msgkit.providers.base import OutboundMessage, SendRequest
from msgkit.providers.registry import REGISTRY, ProviderType
from msgkit.testing import FakeClock, Simulator, SimulatorProvider

clock = FakeClock()
GATEWAY = Simulator(clock=clock.now)


class ToyGateway(SimulatorProvider):
    """A gateway that signs each message with its sender's name."""

    def build_send(self, batch: Sequence[OutboundMessage]) -> list[SendRequest]:
        signed = [attrs.evolve(m, text=f"{m.text} -- {m.sender or self.sender}") for m in batch]
        return super().build_send(signed)


def from_config(name: str, settings: Mapping[str, Any], env: Mapping[str, str]) -> ToyGateway:
    """Build the provider from its ``[providers.NAME]`` table."""
    return ToyGateway(name, server=GATEWAY, sender=str(settings.get("sender", "Toy")))


# What the entry point would name: the factory (and the webhooks, when it has some).
PROVIDER = ProviderType(factory=from_config)
REGISTRY.register("toy", PROVIDER)
print("provider types:", ", ".join(REGISTRY.types()))

with tempfile.TemporaryDirectory() as folder:
    # As in msgkit.toml:  [providers.shop]  type = "toy"  sender = "Toy Shop"
    config = {"providers": {"shop": {"type": "toy", "sender": "Toy Shop"}}}
    with msgkit.Client(
        store=f"sqlite:///{Path(folder) / 'msgkit.db'}", config=config, clock=clock
    ) as client:
        members = client.create_list("one", [msgkit.Contact(phone="+886912345678")])
        campaign = client.create_campaign(
            "Hello", "Hello from a provider of our own", audience=members
        )
        client.start(campaign)
        client.run(progress=False)
        for message in GATEWAY.messages.values():
            print(f"{msgkit.contacts.mask(message.to)}: {message.text}")
