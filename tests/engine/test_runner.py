"""Tests of msgkit.engine.runner: routes carry the effective sender."""

from __future__ import annotations

from msgkit import Channel
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
