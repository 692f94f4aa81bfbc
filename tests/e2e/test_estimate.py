"""Estimates: what `estimate()` says is what `start()` then plans, with costs and skips."""

from __future__ import annotations

from decimal import Decimal

import pytest

import msgkit
from msgkit.testing import FakeClock, Simulator, SimulatorProvider
from tests.e2e.conftest import MakeClient, WriteCsv, tw_e164, tw_numbers

# Mobile numbers of other countries (valid, mobile, distinct).
JP = ["+819012345678", "+819012345679"]
US = ["+12025550143"]


def members(client: msgkit.Client, write_csv: WriteCsv, count: int = 10) -> str:
    """Import ``count`` Taiwanese members (Name, City) and return the list id."""
    rows = [
        (n, f"Member {i}", "Taipei" if i % 2 else "Tainan") for i, n in enumerate(tw_numbers(count))
    ]
    path = write_csv(rows, header=("Mobile", "Name", "City"))
    return client.import_list(path, phone="Mobile", variables={"name": "Name"}, region="TW").id


def opt_out(client: msgkit.Client, sim: Simulator, list_id: str, suffixes: list[str]) -> None:
    """Run a first campaign in which the numbers ending in ``suffixes`` opt out at the
    provider (it refuses them as opted out), so they join the suppression list."""
    sim.rules = dict.fromkeys(suffixes, "opted_out")
    first = client.create_campaign("Welcome", "Welcome ${name}", audience=list_id)
    client.start(first)
    client.run(progress=False)
    sim.rules = {}


def test_estimate_leaves_out_opted_out_numbers_as_start_does(
    client: msgkit.Client, sim: Simulator, write_csv: WriteCsv
) -> None:
    """Three opted-out numbers: estimate says 7 receive and 3 are suppressed; start plans that."""
    list_id = members(client, write_csv)
    opt_out(client, sim, list_id, ["001", "004", "007"])
    campaign = client.create_campaign("Spring", "Spring sale, ${name}", audience=list_id)
    estimate = client.estimate(campaign)
    assert estimate.planned == 7
    assert estimate.skipped == {msgkit.SkipReason.SUPPRESSED: 3}
    assert client.start(campaign).summary == estimate
    before = len(sim.messages)
    client.run(progress=False)
    spring = [m.to for m in list(sim.messages.values())[before:]]
    assert len(spring) == 7
    assert not {tw_e164(n) for n in tw_numbers(10) if n[-3:] in ("001", "004", "007")} & set(spring)


def test_estimate_sees_frequency_caps_as_start_does(
    client: msgkit.Client, write_csv: WriteCsv
) -> None:
    """Members messaged today already are capped in the estimate, exactly as at start."""
    list_id = members(client, write_csv)
    early = client.create_list("early", [msgkit.Contact(phone=tw_e164(n)) for n in tw_numbers(4)])
    promo = msgkit.Template(body="Flash sale today", kind="promotional")
    cap = msgkit.SendPolicy(caps=[msgkit.FrequencyCap(limit=1, per="day", channel="sms")])
    first = client.create_campaign("Early birds", promo, audience=early, policy=cap)
    client.start(first)
    client.run(progress=False)
    second = client.create_campaign("Everyone", promo, audience=list_id, policy=cap)
    estimate = client.estimate(second)
    assert (estimate.planned, estimate.skipped) == (6, {msgkit.SkipReason.CAPPED: 4})
    assert client.start(second).summary == estimate


def test_estimate_holds_out_the_control_group_start_holds_out(
    client: msgkit.Client, sim: Simulator, write_csv: WriteCsv
) -> None:
    """The control group of the estimate is the one start holds out; the rest get it."""
    list_id = members(client, write_csv, 40)
    audience = msgkit.Audience(lists=[list_id], control=msgkit.ControlGroup(percent=25, salt="cg"))
    campaign = client.create_campaign("Held", "Hi ${name}", audience=audience)
    estimate = client.estimate(campaign)
    assert 0 < estimate.held_out < 40
    assert estimate.planned + estimate.held_out == 40
    assert client.start(campaign).summary == estimate
    client.run(progress=False)
    assert len(sim.recipients) == estimate.planned


def test_estimate_counts_the_segment_only(
    client: msgkit.Client, sim: Simulator, write_csv: WriteCsv
) -> None:
    """A segment narrows the estimate to its members, as it narrows the sending."""
    list_id = members(client, write_csv)
    audience = msgkit.Audience(
        lists=[list_id], segment=msgkit.Rule(field="City", op="eq", value="Taipei")
    )
    campaign = client.create_campaign("Taipei only", "Hi ${name} in ${City}", audience=audience)
    estimate = client.estimate(campaign)
    assert (estimate.contacts, estimate.planned) == (5, 5)
    assert client.start(campaign).summary == estimate
    client.run(progress=False)
    assert {m.text for m in sim.messages.values()} == {
        f"Hi Member {i} in Taipei" for i in range(1, 10, 2)
    }


def test_estimate_counts_the_fallback_step_start_writes(
    make_client: MakeClient, sim: Simulator, write_csv: WriteCsv
) -> None:
    """A LINE campaign with SMS fallback: the estimate's fallback step is what start plans,
    priced per message on LINE and per part on SMS."""
    client = make_client(
        {
            "line": SimulatorProvider("line", server=sim, channel="line"),
            "sms": SimulatorProvider("sms", server=sim),
        },
        prices={
            "line": {"price": "0.02", "currency": "USD"},
            "sms": {"price": "0.05", "currency": "USD"},
        },
    )
    list_id = members(client, write_csv, 6)
    campaign = client.create_campaign(
        "Parcel",
        "Your parcel is ready, ${name}",
        audience=list_id,
        channel="line",
        provider="line",
        fallback=msgkit.Fallback(
            template=msgkit.Template(body="SMS: parcel ready, ${name}. " + "x" * 150),
            provider="sms",
        ),
    )
    estimate = client.estimate(campaign)
    assert estimate.planned == 6
    assert estimate.cost == Decimal("0.12")
    assert estimate.currency == "USD"
    assert estimate.fallback is not None
    assert (estimate.fallback.planned, estimate.fallback.segments) == (6, 12)
    assert estimate.fallback.cost == Decimal("0.60")
    result = client.start(campaign)
    assert result.summary == estimate
    assert result.fallbacks == estimate.fallback.planned


def test_cost_per_provider_and_country(make_client: MakeClient, sim: Simulator) -> None:
    """Prices by destination country, a default for the rest; start carries the same cost."""
    client = make_client(
        prices={"sms": msgkit.Prices(default="0.05", countries={"TW": "0.04"}, currency="USD")}
    )
    taiwan = [tw_e164(n) for n in tw_numbers(3)]
    list_id = client.create_list("mixed", [msgkit.Contact(phone=p) for p in taiwan + JP + US])
    campaign = client.create_campaign("World", "Hello from msgkit", audience=list_id)
    estimate = client.estimate(campaign)
    assert estimate.planned == 6
    assert estimate.cost == Decimal("0.27")  # 3 x 0.04 + 3 x 0.05
    assert "0.27 USD" in str(estimate)
    assert client.start(campaign).summary.cost == Decimal("0.27")


def test_a_country_without_price_leaves_cost_unknown_and_says_which(
    make_client: MakeClient,
) -> None:
    """Without a default, a destination with no price makes the cost unknown, naming it."""
    client = make_client(prices={"sms": {"prices": {"TW": 0.04}}})
    taiwan = [tw_e164(n) for n in tw_numbers(2)]
    list_id = client.create_list("mixed", [msgkit.Contact(phone=p) for p in taiwan + JP])
    campaign = client.create_campaign("World", "Hello", audience=list_id)
    estimate = client.estimate(campaign)
    assert estimate.cost is None
    assert estimate.unpriced == {"JP": 2}
    assert "no price for JP" in str(estimate)


def test_prices_from_the_provider_settings(make_client: MakeClient, clock: FakeClock) -> None:
    """`price`, `currency` and `[providers.NAME.prices]` of msgkit.toml price the estimate."""
    client = make_client(
        {
            "sms": {
                "type": "simulator",
                "price": 0.045,
                "currency": "usd",
                "prices": {"TW": 0.04, "CN": 0.032},
            }
        }
    )
    taiwan = [tw_e164(n) for n in tw_numbers(2)]
    list_id = client.create_list("mixed", [msgkit.Contact(phone=p) for p in taiwan + JP])
    campaign = client.create_campaign("World", "Hello", audience=list_id)
    estimate = client.estimate(campaign)
    assert (estimate.cost, estimate.currency) == (Decimal("0.170"), "USD")


@pytest.mark.parametrize(
    ("providers", "prices", "key"),
    [
        (None, {"sms": -1}, "prices.sms.price"),
        (None, {"sms": {"prices": {"TW": "cheap"}}}, "prices.sms.prices.TW"),
        (None, {"sms": {"prices": {"Taiwan": 1}}}, "prices.sms.prices.Taiwan"),
        (None, {"nope": 1}, "prices.nope"),
        ({"sms": {"type": "simulator", "price": True}}, None, "providers.sms.price"),
        ({"sms": {"type": "simulator", "prices": {"CN": -0.1}}}, None, "providers.sms.prices.CN"),
    ],
)
def test_bad_prices_are_refused_naming_the_key(
    make_client: MakeClient, providers: dict[str, object] | None, prices: object, key: str
) -> None:
    """A negative, non-numeric or misplaced price is a ConfigError naming its key."""
    with pytest.raises(msgkit.ConfigError) as caught:
        make_client(providers, prices=prices)
    assert caught.value.key == key
    assert str(caught.value).startswith(key)


def test_estimate_says_who_is_skipped_and_why(
    client: msgkit.Client, sim: Simulator, write_csv: WriteCsv
) -> None:
    """Landlines, duplicates across lists, opt-outs and the control group, counted by reason."""
    list_id = members(client, write_csv, 20)
    opt_out(client, sim, list_id, ["003", "011"])
    extra = client.create_list(
        "extra",
        [
            msgkit.Contact(phone="+886223456789", attributes={"name": "Office"}),  # a landline
            msgkit.Contact(phone=tw_e164(tw_numbers(1)[0]), attributes={"name": "Again"}),
        ],
    )
    audience = msgkit.Audience(
        lists=[list_id, extra], control=msgkit.ControlGroup(percent=20, salt="s")
    )
    campaign = client.create_campaign("Mixed", "Hi ${name}", audience=audience)
    estimate = client.estimate(campaign)
    skipped = estimate.skipped
    assert skipped[msgkit.SkipReason.SUPPRESSED] == 2
    assert skipped[msgkit.SkipReason.INVALID_NUMBER] == 1
    assert skipped[msgkit.SkipReason.DUPLICATE] == 1
    assert skipped.get(msgkit.SkipReason.CONTROL_GROUP, 0) == estimate.held_out > 0
    assert estimate.contacts == 22
    assert "suppressed" in str(estimate)
    assert client.start(campaign).summary == estimate
