"""The fast path of phone parsing: phonenumbers' own rules, compiled once per region.

Why by hand: `phonenumbers` costs tens of microseconds a number, mostly in Python-level
bookkeeping around its regular expressions (it compiles and looks them up on every
call, builds a `PhoneNumber`, classifies it once for validity, again for its type and
again for its time zones). This module reads the same metadata (`PhoneMetadata`, the time-zone
prefix table) and applies the same steps to the shapes real recipient lists hold —
digits with an optional leading ``+``, national numbers with a trunk prefix — with
everything compiled once per region and number length:

* ``parse``: the country code (``+cc``), the region's IDD and "country code written
  without +" checks, the national prefix (``national_prefix_for_parsing``), the length
  test that decides whether to keep it stripped;
* ``is_possible_number_with_reason``: the lengths of the country's main region;
* ``region_code_for_number`` / ``number_type`` / ``is_valid_number``: one regular
  expression per (region, length) that tries the number types in phonenumbers' order
  (a fixed line that also matches the mobile pattern is fixed_line_or_mobile);
* ``time_zones_for_number``: the longest time-zone prefix, or the country's zones.

`fast_parse` answers (the fields, or the reason phonenumbers refuses the number) only
when parsing took the ordinary course; for anything else (an unknown country code, an
IDD written in a national number, a national prefix transform rule that applies, as in
Argentina, a country code written without ``+``, fewer than two digits, more than 40)
it returns ``None`` and the caller asks phonenumbers itself. So an answer from here is
phonenumbers' answer, which tests/core/test_phonefast.py checks over every region and
non-geographic code phonenumbers supports, and benchmarks/phones.py over a million
numbers (where parse_phone ran 7.9x the phonenumbers loop that computes the same fields).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, NamedTuple

import phonenumbers
from phonenumbers import PhoneMetadata
from phonenumbers.tzdata import TIMEZONE_DATA, TIMEZONE_LONGEST_PREFIX

__all__ = ["Fields", "Refused", "fast_parse"]

Fields = tuple[str, str, int, str, tuple[str, ...]]
"""e164, region ("001" when non-geographic), country code, number type, time zones."""


class Refused(NamedTuple):
    """phonenumbers refuses the number: msgkit's reason, and the main region of its code."""

    reason: str
    region: str


# phonenumbers' limits (phonenumberutil._MIN_LENGTH_FOR_NSN / _MAX_LENGTH_FOR_NSN).
_MIN_NSN = 2
_MAX_NSN = 17
_MAX_DIGITS = 40  # longer inputs go to phonenumbers
_RESULT = phonenumbers.ValidationResult
_UNKNOWN_ZONE = "Etc/Unknown"
_REASONS = {  # ValidationResult -> msgkit's reason (the rest: too_short)
    _RESULT.TOO_LONG: "too_long",
    _RESULT.INVALID_LENGTH: "invalid_length",
}
_NON_GEO = "001"
# The order phonenumbers' _number_type_helper tries the types in, before fixed/mobile.
_SPECIAL_TYPES = (
    "premium_rate",
    "toll_free",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
)
_GEOGRAPHIC_MOBILE = frozenset(
    cc
    for cc in phonenumbers.COUNTRY_CODE_TO_REGION_CODE
    if phonenumbers.is_number_type_geographical(phonenumbers.PhoneNumberType.MOBILE, cc)
)


def _verdict(length: int, desc: Any) -> int:
    """phonenumbers' _test_number_length(number, metadata) for a number of this length
    (type UNKNOWN: the general desc's lengths), as a ValidationResult."""
    lengths: Sequence[int] = desc.possible_length
    if length in desc.possible_length_local_only:
        return _RESULT.IS_POSSIBLE_LOCAL_ONLY
    if lengths[0] == length:
        return _RESULT.IS_POSSIBLE
    if lengths[0] > length:
        return _RESULT.TOO_SHORT
    if lengths[-1] < length:
        return _RESULT.TOO_LONG
    return _RESULT.IS_POSSIBLE if length in lengths[1:] else _RESULT.INVALID_LENGTH


def _lengths(desc: Any, *results: int) -> frozenset[int]:
    return frozenset(n for n in range(_MAX_DIGITS + 1) if _verdict(n, desc) in results)


def _pattern(desc: Any) -> str | None:
    if desc is None or not desc.national_number_pattern:
        return None
    return str(desc.national_number_pattern)


def _applies(desc: Any, length: int) -> str | None:
    """The desc's pattern if a number of this length can match it (_is_number_matching_desc)."""
    pattern = _pattern(desc)
    if pattern is None or (desc.possible_length and length not in desc.possible_length):
        return None
    return pattern


class _Territory:
    """One region's metadata, compiled for parsing and classifying its numbers."""

    __slots__ = (
        "_by_length",
        "country_code",
        "general",
        "idd",
        "invalid",
        "keep_stripped",
        "leading",
        "metadata",
        "national_prefix",
        "possible",
        "refusals",
        "region",
        "too_long",
        "transforms",
    )

    def __init__(self, region: str, metadata: Any) -> None:
        self.region = region
        self.metadata = metadata
        self.country_code = str(metadata.country_code)
        general = _pattern(metadata.general_desc)
        self.general = None if general is None else re.compile(general)
        self.leading = re.compile(metadata.leading_digits) if metadata.leading_digits else None
        self.idd = re.compile(metadata.international_prefix or "NonMatch")
        prefix = metadata.national_prefix_for_parsing
        self.national_prefix = re.compile(prefix) if prefix else None
        self.transforms = bool(metadata.national_prefix_transform_rule)
        general_desc = metadata.general_desc
        # parse keeps a national prefix stripped unless what is left is TOO_SHORT,
        # IS_POSSIBLE_LOCAL_ONLY or INVALID_LENGTH.
        self.keep_stripped = _lengths(general_desc, _RESULT.IS_POSSIBLE, _RESULT.TOO_LONG)
        self.possible = _lengths(general_desc, _RESULT.IS_POSSIBLE)
        self.too_long = _lengths(general_desc, _RESULT.TOO_LONG)
        # is_possible_number_with_reason's answer, as msgkit names it, for the lengths
        # that are not possible.
        self.refusals = {
            n: Refused(_REASONS.get(_verdict(n, general_desc), "too_short"), region)
            for n in range(_MAX_NSN + 1)
            if n not in self.possible
        }
        self.invalid = Refused("invalid_for_region", region)
        self._by_length: dict[int, tuple[re.Pattern[str], re.Pattern[str] | None] | None] = {}

    def matches_general(self, digits: str) -> bool:
        """phonenumbers' _match_national_number(digits, general_desc, False)."""
        return self.general is not None and self.general.fullmatch(digits) is not None

    def strip_national_prefix(self, digits: str) -> str | None:
        """_maybe_strip_national_prefix_carrier_code's number, or None where a transform
        rule applies (left to phonenumbers)."""
        if self.national_prefix is None or not digits:
            return digits
        match = self.national_prefix.match(digits)
        if match is None:
            return digits
        groups = match.groups()
        if self.transforms and (not groups or groups[-1] is not None):
            return None
        rest = digits[match.end() :]
        if not self.matches_general(rest) and self.matches_general(digits):
            return digits
        return rest

    def number_type(self, nsn: str) -> str:
        """phonenumbers' _number_type_helper(nsn, metadata), as the lower-case type name."""
        length = len(nsn)
        try:
            classifier = self._by_length[length]
        except KeyError:
            classifier = self._by_length[length] = self._classifier(length)
        if classifier is None:
            return "unknown"
        types, mobile = classifier
        match = types.fullmatch(nsn)
        if match is None or self.general is None or self.general.fullmatch(nsn) is None:
            return "unknown"
        kind = match.lastgroup or "unknown"
        if kind == "fixed_line" and (
            self.metadata.same_mobile_and_fixed_line_pattern
            or (mobile is not None and mobile.fullmatch(nsn))
        ):
            return "fixed_line_or_mobile"
        return kind

    def _classifier(self, length: int) -> tuple[re.Pattern[str], re.Pattern[str] | None] | None:
        # One alternation tried in phonenumbers' order: fullmatch picks the first
        # alternative that matches the whole number, as its chain of ifs does; a fixed
        # line that is also a mobile (or shares its pattern) is fixed_line_or_mobile.
        meta = self.metadata
        if _applies(meta.general_desc, length) is None:
            return None
        branches = []
        for name in (*_SPECIAL_TYPES, "fixed_line", "mobile"):
            if name == "mobile" and meta.same_mobile_and_fixed_line_pattern:
                continue
            pattern = _applies(getattr(meta, name), length)
            if pattern is not None:
                branches.append(f"(?P<{name}>{pattern})")
        if not branches:
            return None
        mobile = _applies(meta.mobile, length)
        return re.compile("|".join(branches)), None if mobile is None else re.compile(mobile)


class _Country:
    """A calling code: its regions in phonenumbers' order, and its time zones."""

    __slots__ = ("code", "digits", "main", "mobile_geo", "prefix_lengths", "regions", "zones")

    def __init__(self, code: int, regions: tuple[_Territory, ...]) -> None:
        self.code = code
        self.digits = str(code)
        self.regions = regions
        self.main = regions[0]
        self.mobile_geo = code in _GEOGRAPHIC_MOBILE
        # Only the prefix lengths some zone prefix of this code has (same answer as
        # trying every length, fewer lookups).
        digits = self.digits
        lengths = set(_ZONE_LENGTHS_UNDER.get(digits, ()))
        lengths.update(n for n in range(1, len(digits) + 1) if digits[:n] in TIMEZONE_DATA)
        self.prefix_lengths = sorted(lengths, reverse=True)
        self.zones = _without_unknown(self._country_zones())

    def _country_zones(self) -> tuple[str, ...]:
        # phonenumbers.timezone._country_level_time_zones_for_number, as written there.
        for prefix_len in range(TIMEZONE_LONGEST_PREFIX, 0, -1):
            prefix = self.digits[: 1 + prefix_len]
            if prefix in TIMEZONE_DATA:
                return tuple(TIMEZONE_DATA[prefix])
        return (_UNKNOWN_ZONE,)

    def time_zones(self, number_type: str, e164_digits: str) -> tuple[str, ...]:
        """phonenumbers.timezone.time_zones_for_number, without "Etc/Unknown"."""
        if not (
            number_type in ("fixed_line", "fixed_line_or_mobile")
            or (self.mobile_geo and number_type == "mobile")
        ):
            return self.zones
        for n in self.prefix_lengths:
            zones = _ZONES.get(e164_digits[:n])
            if zones is not None:
                return zones
        return ()

    def classify(self, nsn: str) -> tuple[str, str] | None:
        """(region, type) as region_code_for_number and number_type give them, or None
        when the number is not valid (no region, or type unknown)."""
        if len(self.regions) == 1:
            territory = self.main
            kind = territory.number_type(nsn)
        else:
            for territory in self.regions:
                if territory.leading is not None:
                    if territory.leading.match(nsn):
                        kind = territory.number_type(nsn)
                        break
                else:
                    kind = territory.number_type(nsn)
                    if kind != "unknown":
                        break
            else:
                return None
        if kind == "unknown":
            return None
        return territory.region, kind


# The lengths of the time-zone prefixes that begin with each 1-3 digit string.
_ZONE_LENGTHS_UNDER: dict[str, set[int]] = {}
for _prefix in TIMEZONE_DATA:
    for _n in (1, 2, 3):
        if len(_prefix) >= _n:
            _ZONE_LENGTHS_UNDER.setdefault(_prefix[:_n], set()).add(len(_prefix))


def _without_unknown(zones: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(z for z in zones if z != _UNKNOWN_ZONE)


# TIMEZONE_DATA without "Etc/Unknown" (as msgkit reports zones), one tuple per prefix.
_ZONES = {prefix: _without_unknown(tuple(zones)) for prefix, zones in TIMEZONE_DATA.items()}


_COUNTRIES: dict[int, _Country | None] = {}
_TERRITORIES: dict[str, _Territory | None] = {}


def _territory(region: str, code: int) -> _Territory | None:
    key = region if region != _NON_GEO else f"{_NON_GEO}+{code}"
    try:
        return _TERRITORIES[key]
    except KeyError:
        pass
    metadata: Any = PhoneMetadata.metadata_for_region_or_calling_code(code, region)
    general = None if metadata is None else metadata.general_desc
    territory = _Territory(region, metadata) if general and general.possible_length else None
    _TERRITORIES[key] = territory
    return territory


def _country(code: int) -> _Country | None:
    try:
        return _COUNTRIES[code]
    except KeyError:
        pass
    country = None
    names = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(code)
    if names:
        regions = tuple(_territory(name, code) for name in names)
        if all(t is not None for t in regions):
            country = _Country(code, tuple(t for t in regions if t is not None))
    _COUNTRIES[code] = country
    return country


def _country_of(digits: str) -> tuple[_Country, str] | None:
    """phonenumbers' _extract_country_code: the first 1 to 3 digits that are a code."""
    if digits[:1] == "0":
        return None
    for n in (1, 2, 3):
        code = _CODES.get(digits[:n])
        if code is not None:
            country = _country(code)
            return None if country is None else (country, digits[n:])
    return None


_CODES = {str(code): code for code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE}
_NATIONAL: dict[str, tuple[_Territory, _Country] | None] = {}


def _national(region: str) -> tuple[_Territory, _Country] | None:
    """The region a national number is read in, and its calling code."""
    try:
        return _NATIONAL[region]
    except KeyError:
        pass
    territory = _territory(region, 0)
    country = None if territory is None else _country(territory.metadata.country_code)
    found = None if territory is None or country is None else (territory, country)
    _NATIONAL[region] = found
    return found


def fast_parse(text: str, region: str | None) -> Fields | Refused | None:
    """The fields of a valid number, why phonenumbers refuses it, or None to ask it.

    Args:
        text: Digits, optionally after one ``+`` (separators already removed).
        region: The default region for a national number (upper-case, supported).
    """
    if len(text) > _MAX_DIGITS:
        return None
    if text[:1] == "+":
        digits = text[1:]
        if not digits.isdigit() or not digits.isascii() or len(digits) <= _MIN_NSN:
            return None
        found = _country_of(digits)
        if found is None:
            return None
        country, national = found
        territory = country.main  # parse reads a +number with its code's main region
    else:
        if region is None or not text.isdigit() or not text.isascii() or len(text) < _MIN_NSN:
            return None  # (phonenumbers: not a number below two digits)
        found_region = _national(region)
        if found_region is None:
            return None
        territory, country = found_region
        if territory.idd.match(text):
            return None
        if text.startswith(territory.country_code) and _looks_international(text, territory):
            return None
        national = text
    main = country.main
    if len(national) < _MIN_NSN:
        return Refused("too_short", main.region)
    stripped = territory.strip_national_prefix(national)
    if stripped is None:
        return None
    if len(stripped) in territory.keep_stripped:
        national = stripped
    if len(national) > _MAX_NSN:
        return Refused("too_long", main.region)
    if len(national) not in main.possible:
        return main.refusals[len(national)]
    classified = country.classify(national)
    if classified is None:
        return main.invalid
    where, kind = classified
    e164_digits = country.digits + national
    return "+" + e164_digits, where, country.code, kind, country.time_zones(kind, e164_digits)


def _looks_international(text: str, territory: _Territory) -> bool:
    """_maybe_extract_country_code's test for a country code written without ``+``."""
    rest = territory.strip_national_prefix(text[len(territory.country_code) :])
    if rest is None:
        return True
    return (not territory.matches_general(text) and territory.matches_general(rest)) or len(
        text
    ) in territory.too_long
