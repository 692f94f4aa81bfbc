"""A database written by an earlier msgkit keeps working.

``data/msgkit-class-path-tags.db`` was written by msgkit before stored values named their
types by stable names (its campaign spec is tagged with Python class paths such as
``msgkit.core.campaigns:Campaign``): a list ``members`` of three contacts and a draft
campaign ``Spring (old)`` to the Taipei ones, with a contact schedule, caps and validity.
"""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest

import msgkit
from msgkit.testing import Simulator
from tests.e2e.conftest import MakeClient

OLD_DB = Path(__file__).parent / "data" / "msgkit-class-path-tags.db"


@pytest.mark.sqlite_only("a SQLite file written by an older msgkit")
def test_a_campaign_stored_by_an_older_msgkit_reads_back_and_sends(
    tmp_path: Path, make_client: MakeClient, sim: Simulator
) -> None:
    """A campaign from an older database reads back as it was written, and sends."""
    path = tmp_path / "old.db"
    shutil.copyfile(OLD_DB, path)
    client = make_client(store=f"sqlite:///{path}")
    (members,) = client.lists()
    assert (members["name"], members["rows"]) == ("members", 3)
    campaign = client.campaign("Spring (old)")
    assert campaign.policy == msgkit.SendPolicy(
        schedule=msgkit.ContactSchedule.parse("daily 09:00-20:00", blackout=["2026-02-17"]),
        time_zone="Asia/Taipei",
        caps=[
            msgkit.FrequencyCap(limit=2, per="day"),
            msgkit.FrequencyCap(limit=5, per=timedelta(days=7), tag="promo"),
        ],
        validity=timedelta(hours=6),
    )
    assert campaign.audience == msgkit.Audience(
        lists=[members["id"]], segment=msgkit.Rule(field="city", op="eq", value="Taipei")
    )
    assert [c.name for c in client.campaigns()] == ["Spring (old)"]
    client.start(campaign)
    client.run(progress=False)
    assert sorted((m.to, m.text) for m in sim.messages.values()) == [
        ("+886912000001", "Hi Amy, spring is here"),
        ("+886912000003", "Hi Cy, spring is here"),
    ]
    assert client.campaign(campaign).status is msgkit.CampaignStatus.FINISHED
    again = make_client(store=f"sqlite:///{path}")
    assert again.campaign(campaign.id) == client.campaign(campaign.id)
