"""What sending costs: the prices of one provider, per destination country.

A provider charges per billed SMS part (segment) for SMS, and per message on the other
channels (LINE, web chat). Prices may differ by destination country; a default covers
the countries not listed. A destination with no price (no country price and no default)
has an unknown cost, and a summary says which countries lack one.

In ``msgkit.toml`` the prices sit with the provider they belong to::

    [providers.sms]
    type = "alibaba"
    price = 0.045              # the default, per SMS part
    currency = "USD"

    [providers.sms.prices]     # by destination (ISO 3166 region code)
    TW = 0.04
    CN = 0.032

A provider that can report its account's balance gives a `Balance`; `shortfall` says by
how much an estimated cost exceeds it (what keeps `msgkit.Client.start` from starting a
campaign the account cannot pay for).

For adapters given as objects, pass ``Client(prices={"sms": Prices(...)})`` (or the same
table as a mapping: ``{"sms": {"price": 0.045, "prices": {"TW": 0.04}}}``).

Example:
    >>> p = Prices(default="0.045", countries={"tw": "0.04"}, currency="USD")
    >>> p.price("TW"), p.price("JP")
    (Decimal('0.04'), Decimal('0.045'))
    >>> p.cost(Channel.SMS, segments=3, region="TW")
    Decimal('0.12')
    >>> Prices(countries={"TW": 1}).cost(Channel.LINE, segments=1, region="JP") is None
    True
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import attrs

from msgkit.core.delivery import Channel
from msgkit.exceptions import ConfigError

__all__ = ["PRICE_SETTINGS", "Balance", "Prices", "shortfall"]

#: The settings of a ``[providers.NAME]`` table that are prices, not adapter settings.
PRICE_SETTINGS = ("price", "prices", "currency")

_REGION = re.compile(r"[A-Za-z]{2}")


def _amount(value: object, *, key: str) -> Decimal:
    """A price as a `Decimal`: a finite, non-negative number.

    Raises:
        ConfigError: Naming ``key`` for anything else (text, a boolean, NaN, negative).
    """
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, (int, float, str)) and not isinstance(value, bool):
        if isinstance(value, float) and not math.isfinite(value):
            number = Decimal("NaN")
        else:
            try:
                number = Decimal(str(value).strip())
            except InvalidOperation:
                number = Decimal("NaN")
    else:
        raise ConfigError(
            f"a price must be a number, not {type(value).__name__}",
            key=key,
            hint="write it as a number, e.g. 0.045",
        )
    if not number.is_finite():
        raise ConfigError(
            f"{value!r} is not a price", key=key, hint="write it as a number, e.g. 0.045"
        )
    if number < 0:
        raise ConfigError(
            f"a price cannot be negative ({value!r})", key=key, hint="write 0 for free sends"
        )
    return number


def _region(code: object, *, key: str) -> str:
    if not isinstance(code, str) or not _REGION.fullmatch(code.strip()):
        raise ConfigError(
            f"{code!r} is not a country code",
            key=key,
            hint="key the prices by two-letter region code, e.g. TW = 0.04",
        )
    return code.strip().upper()


def _default(value: object) -> Decimal | None:
    return None if value is None else _amount(value, key="price")


def _countries(value: Mapping[str, object]) -> dict[str, Decimal]:
    if not isinstance(value, Mapping):
        raise ConfigError(
            "the prices by country must be a table",
            key="prices",
            hint="e.g. prices = { TW = 0.04, CN = 0.032 }",
        )
    out: dict[str, Decimal] = {}
    for code, price in value.items():
        region = _region(code, key=f"prices.{code}")
        out[region] = _amount(price, key=f"prices.{code}")
    return out


def _currency(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(
            f"{value!r} is not a currency", key="currency", hint='e.g. currency = "USD"'
        )
    return value.strip().upper()


@attrs.frozen(kw_only=True)
class Prices:
    """What one provider charges: per SMS part (segment) for SMS, per message otherwise.

    Attributes:
        default: The price where no country price applies, or None.
        countries: Prices by destination region code (``"TW"``), upper case.
        currency: The currency of the prices (e.g. ``"USD"``); only a label.

    Raises:
        ConfigError: A price that is not a number or is negative, a key that is not a
            two-letter region code (the error names the key).
    """

    default: Decimal | None = attrs.field(default=None, converter=_default)
    countries: Mapping[str, Decimal] = attrs.field(factory=dict, converter=_countries)
    currency: str | None = attrs.field(default=None, converter=_currency)

    def price(self, region: str | None) -> Decimal | None:
        """The price of one unit (SMS part or message) to ``region``, or None."""
        if region is not None:
            found = self.countries.get(region.upper())
            if found is not None:
                return found
        return self.default

    def cost(self, channel: Channel, *, segments: int, region: str | None) -> Decimal | None:
        """What one message costs: ``segments × price`` for SMS, the price otherwise.

        Returns:
            The cost, or None when ``region`` has no price.
        """
        price = self.price(region)
        if price is None:
            return None
        return price * segments if channel is Channel.SMS else price

    @classmethod
    def parse(cls, value: object, *, key: str) -> Prices:
        """Prices given as `Prices`, a number (the default price), or a mapping with
        ``price``, ``prices`` and ``currency`` (the ``msgkit.toml`` form).

        Raises:
            ConfigError: Naming the key at fault under ``key`` (``prices.sms.prices.TW``).
        """
        if isinstance(value, Prices):
            return value
        if isinstance(value, Mapping):
            unknown = sorted(str(k) for k in value if k not in PRICE_SETTINGS)
            if unknown:
                raise ConfigError(
                    "unknown setting",
                    key=f"{key}.{unknown[0]}",
                    hint="prices take: " + ", ".join(PRICE_SETTINGS),
                )
            table: Mapping[str, Any] = value
        else:
            table = {"price": value}
        try:
            return cls(
                default=table.get("price"),
                countries=table.get("prices") or {},
                currency=table.get("currency"),
            )
        except ConfigError as exc:
            raise ConfigError(exc.message, key=f"{key}.{exc.key}", hint=exc.hint) from None

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], *, key: str) -> Prices | None:
        """The prices in a ``[providers.NAME]`` table (``key`` is ``providers.NAME``), or
        None when it gives none."""
        given = {k: settings[k] for k in PRICE_SETTINGS if k in settings}
        if not given:
            return None
        return cls.parse(given, key=key)


def _balance_amount(value: object) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (Decimal, int, float, str)):
        raise ValueError(f"a balance must be a number, not {type(value).__name__}")
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a balance") from None
    if not number.is_finite():
        raise ValueError(f"{value!r} is not a balance")
    return number


def _balance_currency(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{value!r} is not a currency")
    return value.strip().upper()


@attrs.frozen(kw_only=True)
class Balance:
    """What an account has left to spend, as its provider reports it.

    Attributes:
        amount: The balance (negative when the account is overdrawn).
        currency: Its currency (``"USD"``), upper case.

    Example:
        >>> Balance(amount="12.34", currency="usd")
        Balance(amount=Decimal('12.34'), currency='USD')
    """

    amount: Decimal = attrs.field(converter=_balance_amount)
    currency: str = attrs.field(converter=_balance_currency)

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"


def shortfall(
    cost: Decimal | None, currency: str | None, balance: Balance | None
) -> Decimal | None:
    """By how much an estimated ``cost`` (in ``currency``) exceeds ``balance``.

    Returns:
        The amount missing, or None when the balance covers the cost, or when they
        cannot be compared: no balance reported, a cost that is unknown, or a cost in
        another currency than the balance (a cost that names none is taken to be in the
        balance's).

    Example:
        >>> b = Balance(amount="10", currency="USD")
        >>> shortfall(Decimal("12.5"), "USD", b), shortfall(Decimal("9"), None, b)
        (Decimal('2.5'), None)
        >>> shortfall(Decimal("12.5"), "TWD", b) is None
        True
    """
    if cost is None or balance is None:
        return None
    if currency is not None and currency.strip().upper() != balance.currency:
        return None
    missing = cost - balance.amount
    return missing if missing > 0 else None
