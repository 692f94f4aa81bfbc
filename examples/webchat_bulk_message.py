"""A bulk web-chat message: one text to many open conversations, from a named agent.

Web chat addresses a contact by its key (a visitor or conversation id), not a phone
number. The simulated web-chat provider stands in for a Chatwoot inbox; with a real one,
configure ``type = "webchat"`` in ``msgkit.toml``.

Run: python examples/webchat_bulk_message.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import msgkit
from msgkit.testing import FakeClock, Simulator, SimulatorProvider

clock = FakeClock()
gateway = Simulator(clock=clock.now)
chat = SimulatorProvider("chat", server=gateway, channel="webchat")

with (
    tempfile.TemporaryDirectory() as folder,
    msgkit.Client(
        store=f"sqlite:///{Path(folder) / 'msgkit.db'}", providers={"chat": chat}, clock=clock
    ) as client,
):
    visitors = client.create_list(
        "open conversations",
        [
            msgkit.Contact(key=f"conversation-{i}", attributes={"name": n})
            for i, n in enumerate(["Amy", "Bo", "Cy"], 1)
        ],
    )
    campaign = client.create_campaign(
        "Opening hours",
        "Hi ${name}, we are open until 22:00 tonight. Ask us anything!",
        audience=visitors,
        channel="webchat",
        sender="Mia (support)",
    )
    print(client.preview_message(campaign))
    client.start(campaign)
    client.run(progress=False)
    for message in sorted(gateway.messages.values(), key=lambda m: m.to):
        print(f"{message.to}: {message.text}")
    print(f"status: {client.campaign(campaign).status.value}")
