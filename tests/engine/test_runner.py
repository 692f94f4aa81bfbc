"""Tests of msgkit.engine.runner: routes carry the effective sender; plans are written
in batches."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from msgkit import Audience, Campaign, Channel, Contact, Fallback, Template
from msgkit.engine.runner import CampaignRunner
from msgkit.testing import MemoryStore, SimulatorProvider


def test_a_step_naming_no_sender_sends_as_the_providers_default() -> None:
    """The route's sender is the step's own, else the provider's default sender."""
    store = MemoryStore()
    try:
        provider = SimulatorProvider("sms", sender="+14155550100")
        runner = CampaignRunner(store, {"sms": provider}, default_provider="sms")
        assert runner.route(Channel.SMS, None, None).sender == "+14155550100"
        assert runner.route(Channel.SMS, "sms", "ACME").sender == "ACME"
        bare = CampaignRunner(store, {"sms": SimulatorProvider("sms")}, default_provider="sms")
        assert bare.route(Channel.SMS, None, None).sender is None
    finally:
        store.close()


def test_a_plan_of_several_write_batches_is_written_once_with_its_fallbacks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Planning writes batch after batch: every recipient once, each fallback linked to
    its parent, and a second start writes nothing new."""
    monkeypatch.setattr("msgkit.engine.runner._WRITE", 4)
    now = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
    store = MemoryStore()
    try:
        providers = {"a": SimulatorProvider("a"), "b": SimulatorProvider("b")}
        runner = CampaignRunner(store, providers, default_provider="a")
        list_id = store.create_list("l", ["phone"], now=now)
        store.add_contacts(list_id, [Contact(phone=f"+8869120003{i:02d}") for i in range(10)])
        campaign = Campaign(
            name="c",
            template=Template(body="hi"),
            audience=Audience(lists=[list_id]),
            provider="a",
            fallback=Fallback(template=Template(body="hi again"), provider="b"),
        )
        campaign = store.save_campaign(campaign, now=now)
        running, result = runner.start(campaign, now=now)
        assert (result.written, result.already, result.fallbacks) == (20, 0, 10)
        rows = store.messages(campaign_id=campaign.id, limit=100)
        parents = {m.id for m in rows if m.step == 0}
        assert len(parents) == 10
        assert sorted(m.parent_id or "" for m in rows if m.step == 1) == sorted(parents)
        again = runner.initialize(running, now=now)
        assert (again.written, again.already, again.fallbacks) == (0, 20, 10)
    finally:
        store.close()
