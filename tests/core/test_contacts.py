"""Tests of msgkit.core.contacts: parsing, hashing, masking, encryption, contacts."""

from __future__ import annotations

import hashlib

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st

from msgkit import InvalidPhoneError
from msgkit.contacts import Contact, Phone, PhoneCipher, line_hash, mask, parse_phone
from msgkit.core.contacts import is_e164, mask_numbers
from msgkit.exceptions import ConfigError


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("0912 345 678", "TW", "+886912345678"),
        ("0912-345-678", "TW", "+886912345678"),
        ("0912.345.678", "tw", "+886912345678"),
        ("(0912) 345678", "TW", "+886912345678"),
        ("+886 912 345 678", None, "+886912345678"),
        ("00886912345678", None, "+886912345678"),
        ("00886912345678", "US", "+886912345678"),
        ("０９１２３４５６７８", "TW", "+886912345678"),
        ("＋８８６９１２３４５６７８", None, "+886912345678"),
        ("080-1234-1234", "JP", "+818012341234"),
        ("(415) 555-2671", "US", "+14155552671"),
        ("13800138000", "CN", "+8613800138000"),
        (" +1 415 555 2671 ", "TW", "+14155552671"),
    ],
)
def test_parses_what_people_write(raw: str, region: str | None, e164: str) -> None:
    """Spaces, dashes, dots, brackets, 00, + and full-width digits all normalise."""
    assert parse_phone(raw, region).e164 == e164


def test_phone_facts() -> None:
    """A parsed number knows its region, type and time zone."""
    phone = parse_phone("0912 345 678", "TW")
    assert phone.region == "TW"
    assert phone.country_code == 886
    assert phone.is_mobile
    assert phone.time_zones == ("Asia/Taipei",)


@pytest.mark.parametrize(
    ("raw", "region", "reason"),
    [
        ("", "TW", "empty"),
        ("   ", "TW", "empty"),
        ("call me", "TW", "not_a_number"),
        ("0912345678 ext 12", "TW", "not_a_number"),
        ("0912345678", None, "no_region"),
        ("+999 123 456", None, "invalid_country_code"),
        ("+886 9", None, "too_short"),
        ("+886 9123 4567 8901 23", None, "too_long"),
        ("+66 99999 99999 9", None, "invalid_length"),
        ("+886 112 345 678", None, "invalid_for_region"),
    ],
)
def test_refusals_carry_the_reason(raw: str, region: str | None, reason: str) -> None:
    """Each kind of bad number raises InvalidPhoneError with its reason and a hint."""
    with pytest.raises(InvalidPhoneError) as info:
        parse_phone(raw, region)
    assert info.value.reason == reason
    assert info.value.raw == raw
    assert info.value.hint
    assert isinstance(info.value, ValueError)


def test_mobile_only_refuses_landlines() -> None:
    """mobile_only refuses a fixed line with reason not_mobile."""
    landline = parse_phone("02 2345 6789", "TW")
    assert not landline.is_mobile
    with pytest.raises(InvalidPhoneError) as info:
        parse_phone("02 2345 6789", "TW", mobile_only=True)
    assert info.value.reason == "not_mobile"


def test_unknown_region_is_a_config_error() -> None:
    """An unknown default region is a configuration mistake, not a bad number."""
    with pytest.raises(ConfigError, match="ISO 3166"):
        parse_phone("0912345678", "XX")


def test_error_messages_mask_the_number() -> None:
    """The error message never prints the whole number."""
    with pytest.raises(InvalidPhoneError) as info:
        parse_phone("+886 112 345 678")
    assert "112345678" not in str(info.value)


def test_repr_and_str_are_masked() -> None:
    """Phone and Contact print masked numbers."""
    phone = parse_phone("+886912345678")
    assert repr(phone) == "Phone('+8869****5678')"
    assert str(phone) == "+8869****5678"
    contact = Contact(phone=phone, attributes={"name": "Amy"})
    assert "912345678" not in repr(contact)
    assert "Amy" not in repr(contact)


@pytest.mark.parametrize(
    ("value", "masked"),
    [("+886912345678", "+8869****5678"), ("+14155552671", "+1415***2671"), ("+1234", "***")],
)
def test_mask(value: str, masked: str) -> None:
    """mask() keeps the first five and the last four characters."""
    assert mask(value) == masked


def test_line_hash_vector() -> None:
    """The LINE documentation's example hashes to the documented value."""
    expected = "9d5915ca8456e277339a6483d338edd9bcd51f28d6f3192f119cb61345891291"
    assert line_hash(parse_phone("080-1234-1234", "JP")) == expected
    assert line_hash("+818012341234") == expected
    assert line_hash("+81 80-1234-1234") == expected


def test_line_hash_refuses_national_numbers() -> None:
    """A national number cannot be hashed: the hash would match nobody."""
    with pytest.raises(InvalidPhoneError, match="parse_phone"):
        line_hash("080-1234-1234")


@given(st.from_regex(r"\+[1-9][0-9]{7,14}", fullmatch=True))
def test_line_hash_is_sha256_of_e164(e164: str) -> None:
    """line_hash is the lowercase hex SHA-256 of the E.164 string."""
    assert line_hash(e164) == hashlib.sha256(e164.encode()).hexdigest()


# phonenumbers is the reference: for any number it formats as valid E.164, parsing the
# national form with the region (with separators) gives the same answer.
REGIONS = ["TW", "JP", "US", "CN", "GB", "TH", "DE", "BR", "IN", "FR"]


@given(st.sampled_from(REGIONS), st.integers(min_value=0, max_value=10**10))
def test_agrees_with_phonenumbers(region: str, seed: int) -> None:
    """parse_phone agrees with phonenumbers on validity and E.164 for example numbers."""
    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    national = str(example.national_number)
    digits = list(national)
    digits[-3:] = list(f"{seed % 1000:03d}")
    candidate = "".join(digits)
    reference = phonenumbers.parse(candidate, region)
    formatted = phonenumbers.format_number(reference, phonenumbers.PhoneNumberFormat.NATIONAL)
    if phonenumbers.is_valid_number(reference):
        assert parse_phone(formatted, region).e164 == phonenumbers.format_number(
            reference, phonenumbers.PhoneNumberFormat.E164
        )
    else:
        with pytest.raises(InvalidPhoneError):
            parse_phone(formatted, region)


def test_parse_accepts_a_phone() -> None:
    """A Phone passes through parse_phone unchanged."""
    phone = parse_phone("+886912345678")
    assert parse_phone(phone) is phone


# --- PhoneCipher -------------------------------------------------------------------


def test_cipher_round_trip() -> None:
    """encrypt then decrypt gives the number back; the ciphertext differs each time."""
    cipher = PhoneCipher(PhoneCipher.new_key())
    token = cipher.encrypt(parse_phone("+886912345678"))
    assert "912345678" not in token
    assert cipher.decrypt(token) == "+886912345678"
    assert cipher.encrypt("+886912345678") != token


def test_cipher_wrong_key_or_damage() -> None:
    """A wrong key or a changed character raises InvalidPhoneError cannot_decrypt."""
    cipher = PhoneCipher(PhoneCipher.new_key())
    token = cipher.encrypt("+886912345678")
    other = PhoneCipher(PhoneCipher.new_key())
    for bad in (other, cipher):
        value = (
            token if bad is other else token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
        )
        with pytest.raises(InvalidPhoneError) as info:
            bad.decrypt(value)
        assert info.value.reason == "cannot_decrypt"
    with pytest.raises(InvalidPhoneError):
        cipher.decrypt("not base64 at all!")


@given(st.binary(min_size=32, max_size=32), st.from_regex(r"\+[1-9][0-9]{7,14}", fullmatch=True))
def test_cipher_properties(key: bytes, e164: str) -> None:
    """Round trip for any key and number; the blind index is deterministic per key."""
    cipher = PhoneCipher(key)
    assert cipher.decrypt(cipher.encrypt(e164)) == e164
    assert cipher.blind_index(e164) == PhoneCipher(key).blind_index(e164)
    assert cipher.blind_index(e164) != hashlib.sha256(e164.encode()).hexdigest()


@given(
    st.binary(min_size=16, max_size=16),
    st.from_regex(r"\+[1-9][0-9]{7,14}", fullmatch=True),
    st.from_regex(r"\+[1-9][0-9]{7,14}", fullmatch=True),
)
def test_blind_index_distinguishes_numbers(key: bytes, a: str, b: str) -> None:
    """Different numbers get different blind indexes."""
    cipher = PhoneCipher(key)
    assert (cipher.blind_index(a) == cipher.blind_index(b)) == (a == b)


def test_cipher_refuses_bad_keys_and_hides_them() -> None:
    """A key of the wrong size is a ConfigError; the repr never shows the key."""
    with pytest.raises(ConfigError, match="16, 24 or 32"):
        PhoneCipher(b"short")
    key = PhoneCipher.new_key()
    assert key not in repr(PhoneCipher(key))


def test_cipher_deterministic_with_nonce() -> None:
    """With a given nonce, encryption is reproducible (for test vectors)."""
    cipher = PhoneCipher(b"k" * 32)
    assert cipher.encrypt("+886912345678", nonce=b"n" * 12) == cipher.encrypt(
        "+886912345678", nonce=b"n" * 12
    )


# --- Contact -------------------------------------------------------------------------


def test_contact_defaults() -> None:
    """A contact built from a string phone parses it and uses E.164 as its key."""
    contact = Contact(phone="+886912345678", attributes={"tier": "gold"})
    assert isinstance(contact.phone, Phone)
    assert contact.key == "+886912345678"
    assert contact.attributes == {"tier": "gold"}


def test_contact_needs_key_or_phone() -> None:
    """A contact with neither key nor phone is refused."""
    with pytest.raises(ValueError, match="key or a phone"):
        Contact()
    assert Contact(key="visitor-1").phone is None


def test_contact_time_zone_is_checked() -> None:
    """An unknown time zone name is refused with the fix."""
    with pytest.raises(ValueError, match="IANA"):
        Contact(key="a", time_zone="Mars/Olympus")
    assert Contact(key="a", time_zone="Asia/Taipei").time_zone == "Asia/Taipei"


@given(st.from_regex(r"[1-9][0-9]{6,14}", fullmatch=True))
def test_is_e164_accepts_plus_and_digits(digits: str) -> None:
    """A plus and 7 to 15 digits not starting with 0 is E.164."""
    assert is_e164("+" + digits)


@given(st.text(max_size=20))
def test_is_e164_refuses_anything_else(text: str) -> None:
    """Without a leading plus, with separators, 0 first or a wrong length: not E.164."""
    shaped = (
        text.startswith("+")
        and 8 <= len(text) <= 16
        and all(c in "0123456789" for c in text[1:])
        and text[1] != "0"
    )
    assert is_e164(text) == shaped


@given(st.sampled_from(["0912 345 678", "080-1234-1234", "(415) 555-2671", "13800138000"]))
def test_parsed_numbers_are_e164(raw: str) -> None:
    """What parse_phone gives is always E.164."""
    region = {"0912 345 678": "TW", "080-1234-1234": "JP"}.get(raw, "US")
    if raw == "13800138000":
        region = "CN"
    assert is_e164(parse_phone(raw, region).e164)


_WORDS = st.text(alphabet=st.characters(blacklist_categories=("Nd",), blacklist_characters="+ -"))


@given(
    _WORDS,
    st.from_regex(r"\+?[1-9][0-9]{6,14}", fullmatch=True),
    st.sampled_from(["", " ", "-"]),
    _WORDS,
)
def test_mask_numbers_leaves_no_number_whole(
    before: str, number: str, sep: str, after: str
) -> None:
    """A number in free text, written whole or in groups, is masked; the rest is kept."""
    written = sep.join(number[i : i + 3] for i in range(0, len(number), 3))
    masked = mask_numbers(before + written + after)
    assert masked == before + mask(number) + after
    assert number.lstrip("+") not in masked


@given(st.lists(st.tuples(st.integers(min_value=0, max_value=999_999), _WORDS.filter(bool))))
def test_mask_numbers_keeps_short_digit_runs(parts: list[tuple[int, str]]) -> None:
    """Codes and counts (fewer than seven digits) are left as they are."""
    text = "".join(f"{n}{words}" for n, words in parts)
    assert mask_numbers(text) == text
