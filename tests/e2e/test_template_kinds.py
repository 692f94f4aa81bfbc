"""Template kinds (notification, promotional, multimedia), what each allows on a platform,
and the platform's review: a template not approved is refused at start, clearly.

The simulator rehearses a platform's content rules (`SimulatorProvider(content=...)`),
here Alibaba's standard account and a third-party SMS platform (docs/providers.md).
"""

from __future__ import annotations

import pytest

import msgkit
from msgkit.providers import content
from msgkit.testing import Simulator, SimulatorProvider
from tests.e2e.conftest import MakeClient

AMY = "+886912345678"
UNSUBSCRIBE = content.ALIBABA_UNSUBSCRIBE


@pytest.fixture
def alibaba_like(make_client: MakeClient, sim: Simulator) -> msgkit.Client:
    """A client whose SMS provider has Alibaba's (standard account) content rules."""
    provider = SimulatorProvider("sms", server=sim, content=content.alibaba())
    return make_client(providers={"sms": provider})


def _start(client: msgkit.Client, template: msgkit.Template) -> msgkit.Campaign:
    members = client.create_list("members", [msgkit.Contact(phone=AMY, attributes={"name": "Amy"})])
    campaign = client.create_campaign("Campaign", template, audience=members)
    client.start(campaign)
    client.run(progress=False)
    return campaign


def _approved(body: str, kind: str) -> msgkit.Template:
    draft = msgkit.Template(body=body, kind=kind)
    return draft.reviewed("submit").reviewed("approve")


def test_approved_templates_of_each_allowed_kind_are_sent(
    alibaba_like: msgkit.Client, sim: Simulator
) -> None:
    """An approved notification with variables and a fixed promotion both reach Amy."""
    _start(alibaba_like, _approved("Hi ${name}, your parcel is ready", "notification"))
    _start(alibaba_like, _approved(f"Spring sale today {UNSUBSCRIBE}", "promotional"))
    assert sorted(m.text for m in sim.messages.values()) == sorted(
        ["Hi Amy, your parcel is ready", f"Spring sale today {UNSUBSCRIBE}"]
    )


@pytest.mark.parametrize(
    ("body", "kind", "refusal"),
    [
        (f"Hi ${{name}}, sale today {UNSUBSCRIBE}", "promotional", "may not contain variables"),
        ("Spring sale today", "promotional", f"must end with '{UNSUBSCRIBE}'"),
        (f"Your parcel is ready {UNSUBSCRIBE}", "notification", "must not contain"),
        ("Look, ${name}", "multimedia", "multimedia templates may not contain variables"),
    ],
)
def test_what_a_kind_does_not_allow_is_refused_at_start(
    alibaba_like: msgkit.Client, sim: Simulator, body: str, kind: str, refusal: str
) -> None:
    """A template breaking its kind's rules is refused at start, naming the rule; nothing
    goes, and the campaign stays a draft to be fixed."""
    members = alibaba_like.create_list("m", [msgkit.Contact(phone=AMY, attributes={"name": "A"})])
    campaign = alibaba_like.create_campaign("C", _approved(body, kind), audience=members)
    with pytest.raises(msgkit.NotAllowedError, match=refusal):
        alibaba_like.start(campaign)
    alibaba_like.run(progress=False)
    assert sim.messages == {}
    assert alibaba_like.campaign(campaign).status is msgkit.CampaignStatus.DRAFT


def test_a_kind_the_platform_lacks_is_refused(make_client: MakeClient, sim: Simulator) -> None:
    """A multimedia template on a third-party SMS platform is refused, naming the kinds."""
    client = make_client(
        providers={"sms": SimulatorProvider("sms", server=sim, content=content.THIRD_PARTY_SMS)}
    )
    members = client.create_list("m", [msgkit.Contact(phone=AMY)])
    campaign = client.create_campaign(
        "C", msgkit.Template(body="Look", kind=msgkit.TemplateKind.MULTIMEDIA), audience=members
    )
    with pytest.raises(msgkit.NotAllowedError, match=r"not supported.*notification, promotional"):
        client.start(campaign)
    assert sim.messages == {}


def test_tracking_params_on_a_platform_that_forbids_them(
    alibaba_like: msgkit.Client, sim: Simulator
) -> None:
    """A promotion with per-recipient link params is refused; without params it is sent."""
    links = msgkit.ShortLinks(base_url="https://go.example.com/l", secret="s" * 32)
    template = (
        msgkit.Template(
            body=f"Sale: ${{link:shop}} {UNSUBSCRIBE}",
            kind="promotional",
            links={"shop": "https://shop.example.com/"},
        )
        .reviewed("submit")
        .reviewed("approve")
    )
    members = alibaba_like.create_list("m", [msgkit.Contact(phone=AMY)])
    campaign = alibaba_like.create_campaign(
        "C", template, audience=members, policy=msgkit.SendPolicy(links=links)
    )
    with pytest.raises(msgkit.NotAllowedError, match="per-recipient link parameters"):
        alibaba_like.start(campaign)
    alibaba_like.edit(campaign, policy=msgkit.SendPolicy(links=links, link_params=False))
    alibaba_like.start(campaign)
    alibaba_like.run(progress=False)
    [message] = sim.messages.values()
    assert message.text.startswith("Sale: https://go.example.com/l/")
    assert "?p=" not in message.text


@pytest.mark.parametrize("review", ["draft", "pending", "rejected"])
def test_a_template_not_approved_is_refused_at_start(
    alibaba_like: msgkit.Client, sim: Simulator, review: str
) -> None:
    """Draft, pending or rejected: start raises saying it must be approved; nothing goes."""
    template = msgkit.Template(body="Your parcel is ready", review=review)
    members = alibaba_like.create_list("m", [msgkit.Contact(phone=AMY)])
    campaign = alibaba_like.create_campaign("C", template, audience=members)
    with pytest.raises(msgkit.NotAllowedError, match=f"must be approved.*it is {review}"):
        alibaba_like.start(campaign)
    alibaba_like.run(progress=False)
    assert sim.messages == {}
    approved = template.reviewed("submit") if review == "draft" else template
    if review != "rejected":
        approved = approved.reviewed("approve")
        alibaba_like.edit(campaign, template=approved)
        alibaba_like.start(campaign)
        alibaba_like.run(progress=False)
        assert [m.to for m in sim.messages.values()] == [AMY]


def test_a_rejected_template_error_gives_the_reason_and_the_fix(
    alibaba_like: msgkit.Client,
) -> None:
    """A rejected template's refusal quotes the platform's reason and says to edit it."""
    template = (
        msgkit.Template(body="Your parcel is ready")
        .reviewed("submit")
        .reviewed("reject", reason="the signature does not match")
    )
    members = alibaba_like.create_list("m", [msgkit.Contact(phone=AMY)])
    campaign = alibaba_like.create_campaign("C", template, audience=members)
    with pytest.raises(msgkit.NotAllowedError) as caught:
        alibaba_like.start(campaign)
    assert "the signature does not match" in str(caught.value)
    assert "edit" in str(caught.value)


def test_platform_without_review_sends_a_draft(client: msgkit.Client, sim: Simulator) -> None:
    """On a platform that reviews nothing (the default simulator) a draft template is sent."""
    _start(client, msgkit.Template(body="Hi ${name}", kind="promotional"))
    assert [m.text for m in sim.messages.values()] == ["Hi Amy"]
