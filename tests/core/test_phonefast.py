"""The fast path of phone parsing gives phonenumbers' answer, or none at all."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from phonenumbers import (
    PhoneNumberFormat,
    PhoneNumberType,
)

from msgkit import InvalidPhoneError
from msgkit.contacts import parse_phone
from msgkit.core import contacts
from msgkit.core._phonefast import Refused, fast_parse
from tests.phone_reference import TYPE_NAMES, msgkit_result, reference

REGIONS = sorted(phonenumbers.SUPPORTED_REGIONS)
NON_GEO = sorted(phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS)
TYPES = [
    value
    for name, value in sorted(vars(PhoneNumberType).items())
    if name.isupper() and isinstance(value, int) and value != PhoneNumberType.UNKNOWN
]


def fast_agrees_with_phonenumbers(text: str, region: str | None) -> bool:
    """Whether fast_parse answered; asserts its answer is msgkit's phonenumbers path's."""
    fields = fast_parse(text, region)
    if fields is None:
        return False
    slow = contacts._parse_with_phonenumbers(text, region)
    if isinstance(fields, Refused):
        assert isinstance(slow, InvalidPhoneError), (text, region, fields, slow)
        fast = contacts._refused(text, contacts.PhoneErrorReason(fields.reason), fields.region)
        assert (fast.message, fast.reason, fast.hint) == (slow.message, slow.reason, slow.hint)
        return True
    assert isinstance(slow, contacts.Phone), (text, region, fields, slow)
    assert fields == (slow.e164, slow.region, slow.country_code, slow.number_type, slow.time_zones)
    return True


def examples() -> list[tuple[str, str, phonenumbers.PhoneNumber]]:
    found = []
    for region in REGIONS:
        for kind in TYPES:
            number = phonenumbers.example_number_for_type(region, kind)
            if number is not None:
                found.append((region, TYPE_NAMES[kind], number))
    for code in NON_GEO:
        number = phonenumbers.example_number_for_non_geo_entity(code)
        if number is not None:
            found.append(("001", "non_geo", number))
    return found


EXAMPLES = examples()
FORMATS = [
    PhoneNumberFormat.NATIONAL,
    PhoneNumberFormat.INTERNATIONAL,
    PhoneNumberFormat.E164,
]


def test_every_example_number_agrees() -> None:
    """For every example number of every region, type and format, fast == phonenumbers."""
    answered = 0
    for region, _, number in EXAMPLES:
        for fmt in FORMATS:
            if region == "001" and fmt == PhoneNumberFormat.NATIONAL:
                continue
            raw = phonenumbers.format_number(number, fmt)
            text = contacts._normalise(raw)
            default = None if region == "001" else region
            if contacts._DIGITS.fullmatch(text):
                answered += fast_agrees_with_phonenumbers(text, default)
            assert msgkit_result(raw, default) == reference(raw, default), (raw, default)
    assert answered > len(EXAMPLES)  # the fast path does answer, most of the time


@st.composite
def written_numbers(draw: st.DrawFn) -> tuple[str, str | None]:
    """A number as someone may write it: an example number of any region and type,
    some digits changed, dropped or added, national or international, separators."""
    region, _, number = draw(st.sampled_from(EXAMPLES))
    fmt = draw(st.sampled_from(FORMATS[1:] if region == "001" else FORMATS))
    chars = list(phonenumbers.format_number(number, fmt))
    places = [i for i, ch in enumerate(chars) if ch.isdigit()]
    for _ in range(draw(st.integers(0, 4))):
        chars[draw(st.sampled_from(places[1:]))] = str(draw(st.integers(0, 9)))
    edit = draw(st.sampled_from(["none", "none", "drop", "add", "trunk", "plus-trunk"]))
    raw = "".join(chars)
    if edit == "drop":
        cut = draw(st.sampled_from(places[1:]))
        raw = raw[:cut] + raw[cut + 1 :]
    elif edit == "add":
        raw += str(draw(st.integers(0, 99)))
    elif edit == "trunk" and fmt == PhoneNumberFormat.NATIONAL:
        raw = draw(st.sampled_from(["0", "1", "8", "00", "01", "9"])) + raw
    elif edit == "plus-trunk" and fmt != PhoneNumberFormat.NATIONAL:
        cc = str(number.country_code)
        raw = raw.replace(cc, cc + " " + draw(st.sampled_from(["0", "1", "8"])), 1)
    separator = draw(st.sampled_from([" ", "-", ".", "", "  "]))
    raw = raw.replace(" ", separator)
    if raw.startswith("+") and draw(st.booleans()):
        raw = "00" + raw[1:]
    if region == "001" or fmt != PhoneNumberFormat.NATIONAL:
        default = draw(st.sampled_from([None, *REGIONS]))
    else:
        default = region
    if fmt == PhoneNumberFormat.NATIONAL and draw(st.integers(0, 9)) == 0:
        default = draw(st.sampled_from(REGIONS))  # a national number read in another region
    return raw, default


@settings(max_examples=3000, suppress_health_check=[HealthCheck.too_slow])
@given(written_numbers())
def test_parse_phone_is_phonenumbers(case: tuple[str, str | None]) -> None:
    """parse_phone gives phonenumbers' fields, or its refusal, for numbers of any region."""
    raw, region = case
    text = contacts._normalise(raw)
    if contacts._DIGITS.fullmatch(text):
        fast_agrees_with_phonenumbers(text, region)
    assert msgkit_result(raw, region) == reference(raw, region)


@given(st.from_regex(r"\+?[0-9]{1,20}", fullmatch=True), st.sampled_from([None, *REGIONS]))
def test_any_digits_agree(text: str, region: str | None) -> None:
    """On any digit string, the fast path answers as phonenumbers does or not at all."""
    fast_agrees_with_phonenumbers(text, region)
    assert msgkit_result(text, region) == reference(text, region)


@pytest.mark.parametrize(
    ("raw", "region"),
    [
        ("0912 345 678", "TW"),
        ("+886 912 345 678", None),
        ("00886912345678", "TW"),
        ("090-1234-5678", "JP"),
        ("010-2000-0000", "KR"),
        ("138 0013 8000", "CN"),
        ("5123 4567", "HK"),
        ("(201) 555-0123", "US"),
        ("+1 (415) 555-0100", None),
        ("07400 123456", "GB"),
        ("01512 3456789", "DE"),
        ("06 12 34 56 78", "FR"),
        ("081234 56789", "IN"),
        ("(11) 96123-4567", "BR"),
        ("0412 345 678", "AU"),
        ("+39 06 1234 5678", None),  # Italy keeps its leading zero
        ("(416) 555-0123", "US"),  # a Canadian number read with the US as default
    ],
)
def test_common_shapes_take_the_fast_path(raw: str, region: str | None) -> None:
    """The shapes recipient files hold are answered by the fast path, as phonenumbers does."""
    assert fast_agrees_with_phonenumbers(contacts._normalise(raw), region)
    assert msgkit_result(raw, region) == reference(raw, region)


@pytest.mark.parametrize(
    ("raw", "region"),
    [
        ("1 415 555 2671", "US"),  # the country code written without +
        ("886912345678", "TW"),
        ("002 886 912 345 678", "TW"),  # Taiwan's IDD in a national number
        ("011 44 7400 123456", "US"),
        ("011 15 2345-6789", "AR"),  # Argentina's national prefix transform rule
    ],
)
def test_unusual_shapes_are_left_to_phonenumbers(raw: str, region: str | None) -> None:
    """What the fast path does not prove it can read, phonenumbers reads."""
    assert not fast_agrees_with_phonenumbers(contacts._normalise(raw), region)
    assert msgkit_result(raw, region) == reference(raw, region)


@pytest.mark.parametrize(
    ("raw", "region"),
    [
        ("09123456789", "TW"),  # one digit too many
        ("0912 34", "TW"),
        ("+886 112 345 678", None),  # no such number in Taiwan
        ("+1 (415) 555-010", None),
        ("+44 7400 1234567", None),
        ("+39 06", None),
    ],
)
def test_typos_are_refused_on_the_fast_path(raw: str, region: str | None) -> None:
    """A number with a digit too many or too few is refused as phonenumbers refuses it."""
    assert isinstance(fast_parse(contacts._normalise(raw), region), Refused)
    assert fast_agrees_with_phonenumbers(contacts._normalise(raw), region)
    assert msgkit_result(raw, region) == reference(raw, region)


def test_refusals_are_phonenumbers_refusals() -> None:
    """A refused number carries the message, reason and hint the phonenumbers path gives."""
    for raw, region in [("+886 112 345 678", None), ("0912 34", "TW"), ("+999 1234", None)]:
        with pytest.raises(InvalidPhoneError) as info:
            parse_phone(raw, region)
        slow = contacts._parse_with_phonenumbers(contacts._normalise(raw), region)
        assert isinstance(slow, InvalidPhoneError)
        assert (info.value.message, info.value.reason, info.value.hint) == (
            slow.message,
            slow.reason,
            slow.hint,
        )
