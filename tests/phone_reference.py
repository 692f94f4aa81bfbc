"""What phonenumbers itself says of a number, as the fields of a msgkit `Phone`: the
reference `parse_phone` is compared with (tests/core/test_phonefast.py) and timed
against (benchmarks/phones.py)."""

from __future__ import annotations

import re

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType, ValidationResult
from phonenumbers import timezone as pn_timezone

from msgkit import InvalidPhoneError
from msgkit.contacts import parse_phone

__all__ = ["SEPARATORS", "TYPE_NAMES", "Result", "msgkit_result", "reference", "written"]

Result = tuple[object, ...]
TYPE_NAMES = {
    value: name.lower()
    for name, value in vars(PhoneNumberType).items()
    if name.isupper() and isinstance(value, int)
}
PARSE_REASONS = {
    NumberParseException.INVALID_COUNTRY_CODE: "invalid_country_code",
    NumberParseException.TOO_SHORT_AFTER_IDD: "too_short",
    NumberParseException.TOO_SHORT_NSN: "too_short",
    NumberParseException.TOO_LONG: "too_long",
}
LENGTH_REASONS = {
    ValidationResult.INVALID_COUNTRY_CODE: "invalid_country_code",
    ValidationResult.TOO_LONG: "too_long",
    ValidationResult.INVALID_LENGTH: "invalid_length",
}
SEPARATORS = re.compile(r"[\s\-.()]+")


def written(raw: str) -> str:
    """The digits, with a leading ``+`` for ``+`` or ``00``."""
    text = SEPARATORS.sub("", raw)
    if text.startswith("00") and text[2:3] not in ("", "0"):
        text = "+" + text[2:]
    return text


def reference(raw: str, region: str | None) -> Result:
    """phonenumbers' public API: the fields of a Phone, or the reason for a refusal.

    msgkit reads ``00`` as ``+`` whatever the region (recipient files write it so) and
    refuses a national number without a region; the rest is phonenumbers as it is.
    """
    text = written(raw)
    if not text.startswith("+") and region is None:
        return ("refused", "no_region")
    try:
        number = phonenumbers.parse(text, None if text.startswith("+") else region)
    except NumberParseException as exc:
        return ("refused", PARSE_REASONS.get(exc.error_type, "not_a_number"))
    possible = phonenumbers.is_possible_number_with_reason(number)
    if possible != ValidationResult.IS_POSSIBLE:
        return ("refused", LENGTH_REASONS.get(possible, "too_short"))
    if not phonenumbers.is_valid_number(number):
        return ("refused", "invalid_for_region")
    return (
        phonenumbers.format_number(number, PhoneNumberFormat.E164),
        phonenumbers.region_code_for_number(number) or "001",
        number.country_code,
        TYPE_NAMES[phonenumbers.number_type(number)],
        tuple(z for z in pn_timezone.time_zones_for_number(number) if z != "Etc/Unknown"),
    )


def msgkit_result(raw: str, region: str | None) -> Result:
    """msgkit's answer in the same shape."""
    try:
        phone = parse_phone(raw, region)
    except InvalidPhoneError as exc:
        return ("refused", exc.reason)
    return (phone.e164, phone.region, phone.country_code, phone.number_type, phone.time_zones)
