"""Tests of msgkit.core.links: short codes and per-recipient tracking parameters."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from msgkit import ConfigError, Template
from msgkit.core.links import BASE62, ShortLink, ShortLinks, base62

SECRET = "0123456789abcdef0123456789abcdef"
LINKS = ShortLinks(base_url="https://go.example.com/l/", secret=SECRET)
BASE62_RE = re.compile(r"[0-9A-Za-z]+")


def test_code_and_param_shapes() -> None:
    """Codes and params are base62 of the configured lengths."""
    code = LINKS.code("spring", "shop")
    param = LINKS.param("spring", "+886912345678")
    assert len(code) == 8
    assert len(param) == 8
    assert BASE62_RE.fullmatch(code)
    assert BASE62_RE.fullmatch(param)
    short = ShortLinks(base_url="https://go.example.com", secret=SECRET, param_length=6)
    assert len(short.param("spring", "+886912345678")) == 6


def test_url_form() -> None:
    """The short URL is base/code, with ?p=param for a recipient."""
    assert LINKS.url("Abc12345") == "https://go.example.com/l/Abc12345"
    assert LINKS.url("Abc12345", "Zz9") == "https://go.example.com/l/Abc12345?p=Zz9"


def test_links_for_a_template() -> None:
    """links_for gives one ShortLink per link name of the template, with its target."""
    template = Template(
        body="Sale ${link:shop} and https://example.com/faq, again ${link:shop}",
        links={"shop": "https://shop.example.com/spring"},
    )
    rows = LINKS.links_for("spring", template)
    assert [r.name for r in rows] == ["shop", "url1"]
    assert rows[0] == ShortLink(
        code=LINKS.code("spring", "shop"),
        campaign_id="spring",
        name="shop",
        target="https://shop.example.com/spring",
    )


def test_secret_is_never_shown() -> None:
    """The secret does not appear in the repr."""
    assert SECRET not in repr(LINKS)
    assert "***" in repr(LINKS)


def test_settings_are_checked() -> None:
    """A short secret, a bad base URL or a bad length raise ConfigError with a hint."""
    with pytest.raises(ConfigError, match="new_secret"):
        ShortLinks(base_url="https://go.example.com", secret="short")
    with pytest.raises(ConfigError, match="base URL"):
        ShortLinks(base_url="go.example.com", secret=SECRET)
    with pytest.raises(ConfigError, match="6 to 8"):
        ShortLinks(base_url="https://go.example.com", secret=SECRET, param_length=5)
    assert len(ShortLinks.new_secret()) == 64


def test_different_secrets_give_different_params() -> None:
    """Without the secret a param cannot be computed from the campaign and number."""
    other = ShortLinks(base_url="https://go.example.com/l", secret=SECRET[::-1])
    assert other.param("spring", "+886912345678") != LINKS.param("spring", "+886912345678")


def test_base62() -> None:
    """base62 writes the number big-endian, zero-padded to the length."""
    assert base62(b"\x00", 3) == "000"
    assert base62((62 * 62 - 1).to_bytes(2, "big"), 2) == "zz"
    assert len(BASE62) == 62


recipients = st.from_regex(r"\+[1-9][0-9]{7,13}", fullmatch=True)


@given(campaign=st.text(min_size=1, max_size=20), recipient=recipients)
def test_param_is_stable(campaign: str, recipient: str) -> None:
    """The param of (campaign, recipient) is the same every time, and from a copy of the
    settings."""
    again = ShortLinks(base_url="https://go.example.com/l", secret=SECRET)
    assert LINKS.param(campaign, recipient) == again.param(campaign, recipient)


@given(st.lists(recipients, min_size=2, max_size=200, unique=True))
def test_params_are_distinct_across_recipients(people: list[str]) -> None:
    """Different recipients of one campaign get different params (collisions: ~n²/62⁸)."""
    params = [LINKS.param("spring", person) for person in people]
    assert len(set(params)) == len(params)


@given(st.lists(st.text(min_size=1, max_size=10), min_size=2, max_size=20, unique=True))
def test_params_differ_across_campaigns(campaigns: list[str]) -> None:
    """One recipient gets a different param in each campaign."""
    params = {LINKS.param(c, "+886912345678") for c in campaigns}
    assert len(params) == len(campaigns)


def _base62_digit_by_digit(data: bytes, length: int) -> str:
    """The reference: one division by 62 per digit of the whole number."""
    number = int.from_bytes(data, "big")
    digits = []
    for _ in range(length):
        number, digit = divmod(number, 62)
        digits.append(BASE62[digit])
    return "".join(reversed(digits))


@given(data=st.binary(max_size=40), length=st.integers(min_value=1, max_value=16))
def test_base62_equals_the_digit_by_digit_reference(data: bytes, length: int) -> None:
    """The fast base62 (reduced first, two digits per division) writes the same digits."""
    assert base62(data, length) == _base62_digit_by_digit(data, length)


@given(params=st.lists(st.text(alphabet=BASE62, min_size=6, max_size=8), max_size=50))
def test_param_numbers_are_exact(params: list[str]) -> None:
    """The planner's dedupe number of a param is below 2**63 and one-to-one."""
    from msgkit.core.planning import _param_number

    numbers = {p: _param_number(p) for p in params}
    assert all(0 <= n < 2**63 for n in numbers.values())
    assert len(set(numbers.values())) == len(set(params))


@given(
    campaign=st.text(max_size=12),
    recipient=st.text(max_size=16),
    attempt=st.integers(min_value=0, max_value=20),
)
def test_param_is_the_keyed_hash_of_its_parts(campaign: str, recipient: str, attempt: int) -> None:
    """The param is base62 of HMAC-SHA256 over "param", campaign, recipient, attempt
    joined by NUL (as codes are): written out inline, it must stay exactly that."""
    import hmac

    message = "\0".join(("param", campaign, recipient, str(attempt))).encode("utf-8")
    digest = hmac.digest(LINKS.secret, message, "sha256")
    assert LINKS.param(campaign, recipient, attempt=attempt) == base62(digest, LINKS.param_length)
