"""LINE first, SMS for whoever LINE does not reach — on in-process simulators.

Two simulated providers share one simulated gateway: ``line`` (LINE notification
messages) and ``sms``. The gateway refuses numbers ending in 13 on LINE, as LINE does
for a number with no LINE account; those members get the SMS instead, at once. The
others get LINE only: nobody gets both.

Run: python examples/line_with_sms_fallback.py
"""

from __future__ import annotations

import tempfile
from datetime import timedelta
from pathlib import Path

import msgkit
from msgkit.testing import FakeClock, Simulator, SimulatorProvider

clock = FakeClock()
gateway = Simulator(clock=clock.now, rules={"13": "invalid"})  # numbers ending 13 fail

with tempfile.TemporaryDirectory() as folder:
    client = msgkit.Client(
        store=f"sqlite:///{Path(folder) / 'msgkit.db'}",
        providers={
            "line": SimulatorProvider("line", server=gateway, channel="line"),
            "sms": SimulatorProvider("sms", server=gateway),
        },
        clock=clock,
    )
    with client:
        members = client.create_list(
            "parcels",
            [
                msgkit.Contact(phone="+886912345601", attributes={"name": "Amy"}),
                msgkit.Contact(phone="+886912345613", attributes={"name": "Bo"}),
                msgkit.Contact(phone="+886912345622", attributes={"name": "Cy"}),
            ],
        )
        campaign = client.create_campaign(
            "Parcel ready",
            "Hi ${name}, your parcel is ready for pickup.",
            audience=members,
            channel="line",
            provider="line",
            fallback=msgkit.Fallback(
                template=msgkit.Template(body="Hi ${name}, your parcel is ready (SMS)."),
                provider="sms",
                wait=timedelta(minutes=10),
            ),
        )
        print(client.preview_message(campaign))
        client.start(campaign)
        client.run(progress=False)
        for message in sorted(gateway.messages.values(), key=lambda m: (m.to, m.channel)):
            print(f"{msgkit.contacts.mask(message.to)}  {message.channel:<4}  {message.text}")
        progress = client.progress(campaign)
        print(f"fallen back: {progress.count(msgkit.MessageState.FALLEN_BACK)}")
