"""Tests of msgkit.core.pricing: prices by country, cost per part or message, validation."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from msgkit import Balance, ConfigError, Prices
from msgkit.core.delivery import Channel
from msgkit.core.pricing import PRICE_SETTINGS, shortfall

money = st.decimals(min_value=0, max_value=10, places=4, allow_nan=False, allow_infinity=False)
regions = st.sampled_from(["TW", "JP", "CN", "US", "TH"])


@given(
    default=st.none() | money,
    countries=st.dictionaries(regions, money, max_size=4),
    region=st.none() | regions,
    segments=st.integers(min_value=1, max_value=10),
)
def test_cost_is_the_country_price_else_the_default(
    default: Decimal | None, countries: dict[str, Decimal], region: str | None, segments: int
) -> None:
    """A country price wins over the default; SMS pays per part, other channels per message."""
    prices = Prices(default=default, countries=countries)
    expected = countries.get(region, default) if region is not None else default
    assert prices.price(region) == expected
    assert prices.price(region.lower() if region else None) == expected
    sms = prices.cost(Channel.SMS, segments=segments, region=region)
    line = prices.cost(Channel.LINE, segments=segments, region=region)
    if expected is None:
        assert sms is None
        assert line is None
    else:
        assert sms == expected * segments
        assert line == expected


@given(value=st.one_of(money, money.map(str), money.map(float), st.integers(0, 100)))
def test_any_non_negative_number_is_a_price(value: object) -> None:
    """Numbers given as Decimal, text, float or int are the same price."""
    assert Prices.parse(value, key="prices.sms").default == Decimal(str(value))


@given(
    value=st.one_of(
        st.decimals(max_value=Decimal("-0.0001"), allow_nan=False, allow_infinity=False),
        st.floats(max_value=-0.0001),
        st.text().filter(lambda t: not _is_number(t)),
        st.just(float("nan")),
        st.just(float("inf")),
        st.booleans(),
        st.lists(st.integers(), max_size=2),
    )
)
def test_anything_else_is_refused_naming_the_key(value: object) -> None:
    """Negative, non-numeric, infinite or boolean prices raise ConfigError on their key."""
    with pytest.raises(ConfigError) as caught:
        Prices.parse({"prices": {"TW": value}}, key="providers.sms")
    assert caught.value.key == "providers.sms.prices.TW"
    with pytest.raises(ConfigError) as caught:
        Prices.parse(value, key="prices.sms")
    assert caught.value.key == "prices.sms.price"


def _is_number(text: str) -> bool:
    try:
        return float(text) >= 0
    except ValueError:
        return False


def test_country_keys_and_settings_are_checked() -> None:
    """A key that is no region code, or an unknown price setting, is named."""
    with pytest.raises(ConfigError, match="not a country code") as caught:
        Prices.parse({"prices": {"Taiwan": 1}}, key="prices.sms")
    assert caught.value.key == "prices.sms.prices.Taiwan"
    with pytest.raises(ConfigError) as caught:
        Prices.parse({"price": 1, "cost": 2}, key="prices.sms")
    assert caught.value.key == "prices.sms.cost"
    with pytest.raises(ConfigError) as caught:
        Prices.parse({"currency": 3}, key="prices.sms")
    assert caught.value.key == "prices.sms.currency"


def test_from_settings_reads_only_price_settings() -> None:
    """A provider table without prices gives None; with some, the prices and currency."""
    assert Prices.from_settings({"type": "alibaba"}, key="providers.sms") is None
    found = Prices.from_settings(
        {"type": "alibaba", "price": 0.045, "currency": "usd", "prices": {"tw": 0.04}},
        key="providers.sms",
    )
    assert found == Prices(default="0.045", countries={"TW": "0.04"}, currency="USD")
    assert set(PRICE_SETTINGS) == {"price", "prices", "currency"}


balances = st.decimals(min_value=-5, max_value=10, places=2, allow_nan=False, allow_infinity=False)
currencies = st.sampled_from(["USD", "usd", "TWD", None])


@given(cost=st.none() | money, currency=currencies, amount=balances, reported=st.booleans())
def test_shortfall_is_what_the_balance_lacks(
    cost: Decimal | None, currency: str | None, amount: Decimal, reported: bool
) -> None:
    """Only a known cost in the balance's currency over the balance falls short, by the
    difference; no balance, no cost or another currency never does."""
    balance = Balance(amount=amount, currency="USD") if reported else None
    missing = shortfall(cost, currency, balance)
    comparable = cost is not None and balance is not None and currency in (None, "USD", "usd")
    if not comparable or cost is None or cost <= amount:
        assert missing is None
    else:
        assert missing == cost - amount
        assert missing > 0


@given(amount=balances, more=money)
def test_a_larger_cost_never_fits_better(amount: Decimal, more: Decimal) -> None:
    """Raising the cost never makes the shortfall smaller."""
    balance = Balance(amount=amount, currency="USD")
    low = shortfall(Decimal(1), "USD", balance) or Decimal(0)
    high = shortfall(Decimal(1) + more, "USD", balance) or Decimal(0)
    assert high >= low


@pytest.mark.parametrize(
    ("amount", "currency"), [("x", "USD"), (float("nan"), "USD"), (True, "USD"), ("1", " ")]
)
def test_balance_refuses_what_is_no_balance(amount: object, currency: object) -> None:
    """A balance that is not a finite number, or a blank currency, is a ValueError."""
    with pytest.raises(ValueError, match="not"):
        Balance(amount=amount, currency=currency)


def test_balance_reads_as_amount_and_currency() -> None:
    """str(Balance) is the amount and the currency, upper case."""
    assert str(Balance(amount=12.5, currency=" usd ")) == "12.5 USD"
