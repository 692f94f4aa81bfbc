"""Who may do what (Actor, RolePolicy), and the audit log of what was done, denied or failed."""

from __future__ import annotations

from datetime import timedelta

import pytest

import msgkit
from msgkit.testing import FakeClock, Simulator
from tests.e2e.conftest import MakeClient

AMY = msgkit.Actor(name="amy", roles={"marketer"})
ADA = msgkit.Actor(name="ada", roles={"admin"})


def _entries(client: msgkit.Client, campaign: msgkit.Campaign | None = None) -> list[tuple]:
    return [(e["actor"], e["action"], e["detail"]) for e in client.audit_log(campaign)]


def test_marketer_may_not_create_start_or_delete_bulk_campaigns(
    make_client: MakeClient, sim: Simulator
) -> None:
    """A marketer is denied bulk create/start/delete (audited as denied); an admin may."""
    admin = make_client(actor=ADA, permissions=msgkit.RolePolicy())
    marketer = admin.as_actor(AMY)
    members = admin.create_list("m", [msgkit.Contact(phone="+886912000001")])
    with pytest.raises(msgkit.PermissionDeniedError, match=r"campaign\.create"):
        marketer.create_campaign("Nope", "Hi", audience=members)
    campaign = admin.create_campaign("Spring", "Hi", audience=members)
    with pytest.raises(msgkit.PermissionDeniedError, match=r"campaign\.start"):
        marketer.start(campaign)
    assert admin.campaign(campaign).status is msgkit.CampaignStatus.DRAFT
    marketer.edit(campaign, tags=["spring"])  # editing is not restricted
    admin.start(campaign)
    admin.run(progress=False)
    assert len(sim.messages) == 1
    with pytest.raises(msgkit.PermissionDeniedError, match=r"campaign\.delete"):
        marketer.delete(campaign)
    assert admin.campaign(campaign).status is msgkit.CampaignStatus.FINISHED
    assert _entries(admin, campaign) == [
        ("ada", "campaign.create", None),
        ("amy", "campaign.start", "denied"),
        ("amy", "campaign.edit", None),
        ("ada", "campaign.start", None),
        ("amy", "campaign.delete", "denied"),
    ]
    denied = [e for e in admin.audit_log() if e["detail"] == "denied"]
    assert [(e["actor"], e["action"]) for e in denied] == [
        ("amy", "campaign.create"),
        ("amy", "campaign.start"),
        ("amy", "campaign.delete"),
    ]


def test_marketer_may_run_triggered_scenarios(make_client: MakeClient, sim: Simulator) -> None:
    """Triggered scenarios are not restricted: a marketer defines and triggers one."""
    marketer = make_client(actor=AMY, permissions=msgkit.RolePolicy())
    marketer.define_scenario("code", "Code ${code}")
    marketer.trigger("code", msgkit.Contact(phone="+886912000001"), {"code": "7"}, key="k")
    marketer.run(progress=False)
    assert [m.text for m in sim.messages.values()] == ["Code 7"]
    actions = [(e["actor"], e["action"], e["detail"]) for e in marketer.audit_log()]
    assert actions == [
        ("amy", "scenario.define", None),
        ("amy", "scenario.trigger", None),
    ]


def test_every_operation_is_audited_once_done_with_actor_and_time(
    make_client: MakeClient, clock: FakeClock
) -> None:
    """Each lifecycle operation appears once in the audit log, with who did it and when."""
    client = make_client(actor="ops")
    members = client.create_list("m", [msgkit.Contact(phone="+886912000001")])
    campaign = client.create_campaign("Ops", "Hi", audience=members)
    client.disable(campaign)
    client.enable(campaign)
    client.start(campaign)
    client.stop(campaign)
    client.resume(campaign)
    client.stop(campaign)
    client.delete(campaign)
    log = client.audit_log(campaign)
    assert [e["action"] for e in log] == [
        "campaign.create",
        "campaign.disable",
        "campaign.enable",
        "campaign.start",
        "campaign.stop",
        "campaign.start",
        "campaign.stop",
        "campaign.delete",
    ]
    assert {e["actor"] for e in log} == {"ops"}
    assert {e["at"] for e in log} == {clock.now()}
    assert all(e["detail"] is None for e in log)


def test_failed_create_with_a_missing_provider_is_audited_as_failed(
    client: msgkit.Client,
) -> None:
    """A create naming a provider that is not configured raises and is audited as failed."""
    members = client.create_list("m", [msgkit.Contact(phone="+886912000001")])
    with pytest.raises(msgkit.ConfigError, match="no provider named 'nope'"):
        client.create_campaign("Lost", "Hi", audience=members, provider="nope")
    assert client.campaigns() == []
    [entry] = [e for e in client.audit_log() if e["action"] == "campaign.create"]
    assert entry["detail"].startswith("failed: ")
    assert "nope" in entry["detail"]


def test_refused_start_is_audited_as_failed_not_done(client: msgkit.Client) -> None:
    """A start refused (the campaign is disabled) is audited as failed, with the reason."""
    members = client.create_list("m", [msgkit.Contact(phone="+886912000001")])
    campaign = client.create_campaign("Off", "Hi", audience=members)
    client.disable(campaign)
    with pytest.raises(msgkit.InvalidTransitionError):
        client.start(campaign)
    starts = [e for e in client.audit_log(campaign) if e["action"] == "campaign.start"]
    assert len(starts) == 1
    assert starts[0]["detail"].startswith("failed: ")
    assert "disabled" in starts[0]["detail"]


def test_creating_with_a_start_time_needs_the_right_to_start(
    make_client: MakeClient, sim: Simulator, clock: FakeClock
) -> None:
    """send_at= schedules the campaign, so it asks for campaign.start as schedule() does: a
    role that may create but not start gets a draft it cannot schedule, and nothing goes."""
    policy = msgkit.RolePolicy(restricted={"campaign.start"})
    marketer = make_client(actor=msgkit.Actor(name="mia", roles={"marketer"}), permissions=policy)
    members = marketer.create_list("m", [msgkit.Contact(phone="+886912000001")])
    at = clock.now() + timedelta(hours=1)
    with pytest.raises(msgkit.PermissionDeniedError):
        marketer.create_campaign("Later", "Hello", audience=members, send_at=at)
    [draft] = marketer.campaigns()
    assert draft.status is msgkit.CampaignStatus.DRAFT
    clock.advance(7200)
    marketer.run(progress=False)
    assert sim.messages == {}
    assert [(e["action"], e["detail"]) for e in marketer.audit_log(draft)] == [
        ("campaign.create", None),
        ("campaign.start", "denied"),
    ]
