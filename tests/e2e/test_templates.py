"""Templates and variables: defaults, per-recipient rendering, misspelled variables, and
what a text costs in SMS parts."""

from __future__ import annotations

from decimal import Decimal

import pytest

import msgkit
from msgkit.testing import Simulator, SimulatorProvider
from tests.e2e.conftest import MakeClient, WriteCsv, tw_e164, tw_numbers


def imported(client: msgkit.Client, write_csv: WriteCsv, names: list[str]) -> str:
    """Import one member per name (Mobile, Name, City) and return the list id."""
    numbers = tw_numbers(len(names))
    rows = [(n, name, "Taipei") for n, name in zip(numbers, names, strict=True)]
    path = write_csv(rows, header=("Mobile", "Name", "City"))
    return client.import_list(path, phone="Mobile", variables={"name": "Name"}, region="TW").id


def texts(sim: Simulator) -> dict[str, str]:
    """Who got which text."""
    return {m.to: m.text for m in sim.messages.values()}


def test_each_recipient_gets_their_own_values(
    client: msgkit.Client, sim: Simulator, write_csv: WriteCsv
) -> None:
    """A mapped column and an unmapped one render per recipient, each member once."""
    list_id = imported(client, write_csv, ["Amy", "Bob", "陳小明"])
    campaign = client.create_campaign("Hello", "Hi ${name} of ${City}!", audience=list_id)
    client.start(campaign)
    client.run(progress=False)
    numbers = [tw_e164(n) for n in tw_numbers(3)]
    assert texts(sim) == {
        numbers[0]: "Hi Amy of Taipei!",
        numbers[1]: "Hi Bob of Taipei!",
        numbers[2]: "Hi 陳小明 of Taipei!",
    }


def test_a_default_fills_an_empty_cell(
    client: msgkit.Client, sim: Simulator, write_csv: WriteCsv
) -> None:
    """`${name:-there}` uses the default where the cell is empty; a variable with a default
    needs no column at all."""
    list_id = imported(client, write_csv, ["Amy", ""])
    campaign = client.create_campaign(
        "Defaults", "Hi ${name:-there}, use ${promo:-SPRING}", audience=list_id
    )
    client.start(campaign)
    client.run(progress=False)
    first, second = (tw_e164(n) for n in tw_numbers(2))
    assert texts(sim) == {first: "Hi Amy, use SPRING", second: "Hi there, use SPRING"}


def test_an_empty_cell_without_default_skips_that_recipient_only(
    client: msgkit.Client, sim: Simulator, write_csv: WriteCsv
) -> None:
    """A member whose cell is empty is skipped as missing_variable; the others get it."""
    list_id = imported(client, write_csv, ["Amy", "", "Cid"])
    campaign = client.create_campaign("Gaps", "Hi ${name}", audience=list_id)
    estimate = client.estimate(campaign)
    assert (estimate.planned, estimate.skipped) == (2, {msgkit.SkipReason.MISSING_VARIABLE: 1})
    client.start(campaign)
    client.run(progress=False)
    assert sorted(texts(sim).values()) == ["Hi Amy", "Hi Cid"]


def test_a_misspelled_variable_is_refused_at_create(
    client: msgkit.Client, sim: Simulator, write_csv: WriteCsv
) -> None:
    """`${nmae}` on a list with a `name` column: create raises, naming it, the columns and
    the closest one; nothing is created or sent."""
    list_id = imported(client, write_csv, ["Amy", "Bob"])
    with pytest.raises(msgkit.MissingVariableError) as caught:
        client.create_campaign("Typo", "Hi ${nmae}", audience=list_id)
    message = str(caught.value)
    assert "${nmae}" in message
    assert "the columns are: City, name" in message
    assert "did you mean ${name}?" in message
    assert caught.value.names == ("nmae",)
    assert client.campaigns() == []
    client.run(progress=False)
    assert sim.messages == {}


def test_a_misspelled_fallback_variable_is_refused(
    make_client: MakeClient, sim: Simulator, write_csv: WriteCsv
) -> None:
    """The fallback template is checked against the audience's columns too."""
    client = make_client(
        {
            "line": SimulatorProvider("line", server=sim, channel="line"),
            "sms": SimulatorProvider("sms", server=sim),
        }
    )
    list_id = imported(client, write_csv, ["Amy"])
    with pytest.raises(msgkit.MissingVariableError, match=r"the fallback template uses \$\{Cty\}"):
        client.create_campaign(
            "Parcel",
            "Parcel for ${name}",
            audience=list_id,
            channel="line",
            provider="line",
            fallback=msgkit.Fallback(template=msgkit.Template(body="In ${Cty}"), provider="sms"),
        )


def test_a_scenario_fed_a_list_checks_its_variables(
    client: msgkit.Client, sim: Simulator, write_csv: WriteCsv
) -> None:
    """A scenario's variables come at trigger time (not checked at define), but fed a list
    it is checked against the list's columns."""
    client.define_scenario("code", "Your code is ${code}")
    client.trigger("code", msgkit.Contact(phone="+886912000001"), {"code": 4711})
    client.run(progress=False)
    assert texts(sim) == {"+886912000001": "Your code is 4711"}
    list_id = imported(client, write_csv, ["Amy"])
    with pytest.raises(msgkit.MissingVariableError, match=r"\$\{code\}"):
        client.send_scenario("code", list_id)


def test_a_list_made_in_code_provides_its_contacts_attributes(
    client: msgkit.Client, sim: Simulator
) -> None:
    """Contacts given in code provide their attributes; a variable none has is refused."""
    list_id = client.create_list(
        "vip",
        [
            msgkit.Contact(phone="+886912000001", attributes={"name": "Amy"}),
            msgkit.Contact(phone="+886912000002", attributes={"name": "Bob", "tier": "gold"}),
        ],
    )
    with pytest.raises(msgkit.MissingVariableError, match="did you mean"):
        client.create_campaign("Typo", "Hi ${Name}, ${teir}", audience=list_id)
    campaign = client.create_campaign("Tiers", "Hi ${name}, ${tier:-silver}", audience=list_id)
    client.start(campaign)
    client.run(progress=False)
    assert texts(sim) == {"+886912000001": "Hi Amy, silver", "+886912000002": "Hi Bob, gold"}


@pytest.mark.parametrize(
    "body",
    [
        "Spring sale: " + "all shoes 20% off this week only, " * 5,  # GSM-7, 2 parts
        "春季特賣：全館鞋款八折，" * 7,  # UCS-2, 2 parts
        "Short and sweet",  # 1 part
    ],
    ids=["gsm-2-parts", "ucs2-2-parts", "one-part"],
)
def test_estimate_prices_sms_per_part(make_client: MakeClient, body: str) -> None:
    """The estimate's SMS cost is the text's parts (as msgkit.sms.measure counts them)
    times the price per part, for every recipient."""
    client = make_client(prices={"sms": msgkit.Prices(default="0.04", currency="USD")})
    list_id = client.create_list("five", [msgkit.Contact(phone=tw_e164(n)) for n in tw_numbers(5)])
    campaign = client.create_campaign("Long", body, audience=list_id)
    parts = msgkit.sms.measure(body).segments
    estimate = client.estimate(campaign)
    assert estimate.segments == 5 * parts
    assert estimate.cost == Decimal("0.04") * 5 * parts
    assert client.start(campaign).summary.cost == estimate.cost
