"""A whole campaign on the local simulator: import a list, plan, send, report.

Run: python examples/run_a_campaign.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import msgkit
from msgkit import Audience, ControlGroup

with tempfile.TemporaryDirectory() as folder:
    members = Path(folder) / "members.csv"
    rows = [f"0912-{i:03d}-{i:03d},Member {i}" for i in range(200)]
    members.write_text("Mobile,Name\n" + "\n".join([*rows, "12345,Bad number"]) + "\n")

    with msgkit.Client(store=f"sqlite:///{Path(folder) / 'msgkit.db'}") as client:
        imported = client.import_list(
            members, phone="Mobile", variables={"name": "Name"}, region="TW"
        )
        print(imported.summary)

        campaign = client.create_campaign(
            "Spring sale",
            msgkit.Template(body="Hi ${name}, 20% off all week. Reply STOP to opt out."),
            audience=Audience(lists=[imported.id], control=ControlGroup(percent=10, salt="spring")),
        )
        estimate = client.estimate(campaign)
        print(
            f"will send {estimate.planned}, holding out {estimate.held_out}, "
            f"{estimate.segments} segments"
        )

        client.start(campaign)
        stats = client.run(progress=False)
        progress = client.progress(campaign)
        print(
            f"sent {stats.sent}; delivered {progress.count(msgkit.MessageState.DELIVERED)}; "
            f"done {progress.percent:.0f}%"
        )
