"""Tests of msgkit.core.sms against the reference vectors and invariants."""

from __future__ import annotations

import pytest
import regex
from hypothesis import given
from hypothesis import strategies as st

from msgkit.core.sms import (
    _EXT_RE,
    _NOT_GSM,
    CN_MAX_CHARS,
    GSM7_BASIC,
    GSM7_EXTENSION,
    SMART_REPLACEMENTS,
    is_gsm7,
    measure,
)
from msgkit.sms import measure as public_measure

# (text, encoding, units per part) — every row of shared/reference/sms-length.md.
VECTORS = [
    ("", "GSM-7", [0]),
    ("a" * 160, "GSM-7", [160]),
    ("a" * 161, "GSM-7", [153, 8]),
    ("a" * 306, "GSM-7", [153, 153]),
    ("a" * 307, "GSM-7", [153, 153, 1]),
    ("a" * 158 + "€", "GSM-7", [160]),
    ("a" * 159 + "€", "GSM-7", [153, 8]),
    ("a" * 152 + "[" + "a" * 10, "GSM-7", [152, 12]),
    ("{" * 81, "GSM-7", [152, 10]),
    ("中" * 70, "UCS-2", [70]),
    ("中" * 71, "UCS-2", [67, 4]),
    ("😀" * 35, "UCS-2", [70]),
    ("😀" * 36, "UCS-2", [66, 6]),
    ("a" * 66 + "😀" + "a" * 10, "UCS-2", [66, 12]),
    ("é" * 70, "GSM-7", [70]),
    ("ç", "UCS-2", [1]),
]


@pytest.mark.parametrize(("text", "encoding", "units"), VECTORS)
def test_reference_vectors(text: str, encoding: str, units: list[int]) -> None:
    """measure() matches every vector of the reference table."""
    length = measure(text)
    assert length.encoding == encoding
    assert length.part_units == units
    assert length.segments == len(units)
    assert length.units == sum(units)
    assert "".join(length.parts) == text


def test_public_module_is_the_core_function() -> None:
    """msgkit.sms.measure is the documented entry point."""
    assert public_measure("a" * 161).segments == 2


def test_gsm_tables_are_complete() -> None:
    """The basic table has 127 distinct characters and the extension table 9 (+ form feed)."""
    assert len(GSM7_BASIC) == len(set(GSM7_BASIC)) == 127
    assert set(GSM7_EXTENSION) == set("\f^{}\\[~]|€")


@pytest.mark.parametrize("char", ["`", "\t", "“", "”", "á", "í", "ó", "ú", "ç"])
def test_traps_are_not_gsm(char: str) -> None:
    """Characters that look like GSM-7 but are not force UCS-2 and are reported."""
    length = measure("hello " + char)
    assert length.encoding == "UCS-2"
    assert length.unicode_chars == (char,)


@pytest.mark.parametrize("char", ["Ç", "¤", "$", "€", "\n", "@", "¿"])
def test_gsm_characters_stay_gsm(char: str) -> None:
    """Characters of the GSM-7 tables keep the text GSM-7."""
    assert measure("x" + char).encoding == "GSM-7"


@pytest.mark.parametrize(
    ("size", "units"),
    [(160, [67, 67, 26]), (68, [68]), (70, [70]), (134, [67, 67]), (135, [67, 67, 1])],
)
def test_cn_scheme_counts_every_character(size: int, units: list[int]) -> None:
    """Scheme cn: 70 fit one message, longer texts split 67 at a time."""
    assert measure("x" * size, scheme="cn").part_units == units


def test_cn_signature_counts() -> None:
    """The signature 【华为云】 counts 5 characters in front of the text."""
    length = measure("您好" * 31 + "a", scheme="cn", signature="华为云")
    assert length.text.startswith("【华为云】")
    assert length.units == 5 + 63
    assert length.segments == 1
    assert measure("a" * 66, scheme="cn", signature="【华为云】").part_units == [67, 4]


def test_cn_limit_is_reported_not_raised() -> None:
    """A cn text over 500 characters is measured and flagged too long."""
    assert not measure("字" * CN_MAX_CHARS, scheme="cn").too_long
    too_long = measure("字" * (CN_MAX_CHARS + 1), scheme="cn")
    assert too_long.too_long
    assert too_long.segments == 8


def test_grapheme_clusters_are_never_split() -> None:
    """A flag or a ZWJ family at a part boundary moves whole to the next part."""
    family = "👨\u200d👩\u200d👧"  # 8 UTF-16 units
    text = "中" * 63 + family + "中"
    length = measure(text)
    assert length.parts[1].startswith(family)
    assert length.part_units == [63, 9]
    flag = "🇹🇼"
    length = measure("中" * 66 + flag + "中" * 10)
    assert length.parts[1].startswith(flag)


# GSM-7 is cut on septets (only an escape pair is whole); UCS-2 on grapheme clusters;
# cn on characters. (text, scheme, parts)
SPLIT_VECTORS = [
    # CR LF across the 153 boundary: carriers split it.
    ("a" * 152 + "\r\n" + "a" * 10, "gsm", ["a" * 152 + "\r", "\n" + "a" * 10]),
    ("a" * 152 + "\r\n" + "a" * 152, "gsm", ["a" * 152 + "\r", "\n" + "a" * 152]),
    # An escape pair across the boundary is the one thing kept whole.
    ("a" * 152 + "€" + "a" * 10, "gsm", ["a" * 152, "€" + "a" * 10]),
    ("a" * 151 + "€" + "a" * 10, "gsm", ["a" * 151 + "€", "a" * 10]),
    # LF CR, and Ø/ø next to each other, are plain septets too.
    ("a" * 152 + "\n\r" + "a" * 10, "gsm", ["a" * 152 + "\n", "\r" + "a" * 10]),
    # UCS-2: a letter + combining mark, a flag, an emoji stay whole.
    ("中" * 66 + "e\u0301" + "中" * 10, "gsm", ["中" * 66, "e\u0301" + "中" * 10]),
    ("中" * 66 + "🇹🇼" + "中", "gsm", ["中" * 66, "🇹🇼中"]),
    ("中" * 66 + "😀" + "中" * 4, "gsm", ["中" * 66, "😀" + "中" * 4]),
    # cn counts characters and cuts on characters, clusters and CR LF included.
    ("中" * 66 + "e\u0301" + "中" * 10, "cn", ["中" * 66 + "e", "\u0301" + "中" * 10]),
    ("中" * 66 + "\r\n" + "中" * 10, "cn", ["中" * 66 + "\r", "\n" + "中" * 10]),
    ("中" * 66 + "🇹🇼" + "中" * 10, "cn", ["中" * 66 + "🇹", "🇼" + "中" * 10]),
    ("中" * 66 + "😀" * 2 + "中" * 10, "cn", ["中" * 66 + "😀", "😀" + "中" * 10]),
]


@pytest.mark.parametrize(("text", "scheme", "parts"), SPLIT_VECTORS)
def test_parts_are_cut_where_platforms_cut(text: str, scheme: str, parts: list[str]) -> None:
    """Each part is the platform's part: septets in GSM-7, clusters in UCS-2, characters in cn."""
    assert measure(text, scheme=scheme).parts == parts  # type: ignore[arg-type]


def test_crlf_across_the_boundary_does_not_add_a_part() -> None:
    """306 GSM-7 septets with CR LF at 153 are two parts, as the carriers bill them."""
    length = measure("a" * 152 + "\r\n" + "a" * 152)
    assert length.part_units == [153, 153]
    assert length.segments == 2


def test_oversized_cluster_is_cut_between_code_points() -> None:
    """A cluster longer than a part (letter + many combining marks) is still split."""
    text = "e" + "\u0301" * 100
    length = measure(text)
    assert "".join(length.parts) == text
    assert all(units <= 67 for units in length.part_units)


def test_smart_encoding_replaces_look_alikes() -> None:
    """Smart encoding turns curly quotes, dashes and ellipses into GSM-7."""
    length = measure("It’s “smart” — yes…\u00a0ok", smart=True)
    assert length.encoding == "GSM-7"
    assert length.text == 'It\'s "smart" - yes... ok'
    assert ("’", "'") in length.replacements
    assert measure("It’s").encoding == "UCS-2"


def test_smart_encoding_leaves_unfixable_text_alone() -> None:
    """When the text stays UCS-2 anyway, smart encoding changes nothing."""
    text = "Don’t miss 😀"
    length = measure(text, smart=True)
    assert length.text == text
    assert length.replacements == ()
    assert length.unicode_chars == ("’", "😀")


def test_unknown_scheme_is_refused() -> None:
    """An unknown scheme raises ValueError naming the choices."""
    with pytest.raises(ValueError, match="'gsm' or 'cn'"):
        measure("x", scheme="us")  # type: ignore[arg-type]


# --- properties -----------------------------------------------------------------

GSM_TEXT = st.text(alphabet=GSM7_BASIC + GSM7_EXTENSION, max_size=700)
MIXED_TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from(list(GSM7_BASIC + GSM7_EXTENSION)),
        st.sampled_from(["中", "😀", "🇹", "🇼", "\u200d", "\u0301", "👍", "🏽", "ç", "\ufe0f"]),
        st.characters(codec="utf-8"),
    ),
    max_size=400,
)


def _atoms(part: str, encoding: str, scheme: str) -> list[tuple[str, int]]:
    if scheme == "cn":
        return [(c, 1) for c in part]
    if encoding == "GSM-7":
        return [(c, 2 if c in GSM7_EXTENSION else 1) for c in part]
    clusters = regex.findall(r"\X", part)
    return [(c, len(c.encode("utf-16-le")) // 2) for c in clusters]


def _check_invariants(text: str, scheme: str) -> None:
    length = measure(text, scheme=scheme)  # type: ignore[arg-type]
    assert "".join(length.parts) == length.text == text
    assert sum(length.part_units) == length.units
    if scheme == "cn":
        single, multi = 70, 67
    elif length.encoding == "GSM-7":
        single, multi = 160, 153
        assert is_gsm7(text)
    else:
        single, multi = 70, 67
        assert not is_gsm7(text)
    if length.units <= single:
        assert length.segments == 1
        return
    for part, units in zip(length.parts, length.part_units, strict=True):
        assert part, "no empty part in a split message"
        assert units <= multi
        assert units == sum(w for _, w in _atoms(part, length.encoding, scheme)) or any(
            w > multi for _, w in _atoms(part, length.encoding, scheme)
        )
    # Minimal: each part is full, in that its next atom would not have fitted.
    for i in range(length.segments - 1):
        first_next = _atoms(length.parts[i + 1], length.encoding, scheme)[0][1]
        if first_next <= multi:
            assert length.part_units[i] + first_next > multi


@given(GSM_TEXT)
def test_gsm_invariants(text: str) -> None:
    """GSM-7 parts join back, stay within 153, and are as few as possible."""
    _check_invariants(text, "gsm")


@given(MIXED_TEXT)
def test_mixed_invariants(text: str) -> None:
    """Any text: parts join back, stay within their limit, and are as few as possible."""
    _check_invariants(text, "gsm")


@given(MIXED_TEXT)
def test_cn_invariants(text: str) -> None:
    """Scheme cn: parts join back, stay within 67, and are as few as possible."""
    _check_invariants(text, "cn")


@given(GSM_TEXT)
def test_gsm_parts_are_cut_on_septets(text: str) -> None:
    """GSM-7: every part but the last holds 153 septets, 152 only before an escape pair."""
    length = measure(text)
    assert "".join(length.parts) == text
    assert all(units <= 153 for units in length.part_units)
    if length.segments == 1:
        return
    for i, units in enumerate(length.part_units[:-1]):
        if units == 152:
            assert length.parts[i + 1][0] in GSM7_EXTENSION
        else:
            assert units == 153


@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=300))
def test_cn_parts_are_cut_on_characters(text: str) -> None:
    """Scheme cn: every part but the last holds exactly 67 characters."""
    length = measure(text, scheme="cn")
    assert "".join(length.parts) == text
    assert length.part_units == [len(part) for part in length.parts]
    if length.segments > 1:
        assert all(units == 67 for units in length.part_units[:-1])
        assert 0 < length.part_units[-1] <= 67


@given(GSM_TEXT)
def test_gsm_units_formula(text: str) -> None:
    """GSM-7 units are one per character plus one per extension character."""
    expected = len(text) + sum(1 for c in text if c in GSM7_EXTENSION)
    assert measure(text).units == expected


@given(st.text(alphabet=list(SMART_REPLACEMENTS) + list("abc ")))
def test_smart_never_makes_it_worse(text: str) -> None:
    """Smart encoding never gives more segments than plain measuring."""
    assert measure(text, smart=True).segments <= measure(text).segments


@given(st.lists(st.sampled_from(["a", "中", "😀", "🇹🇼", "e\u0301"]), max_size=120))
def test_segments_lower_bound(pieces: list[str]) -> None:
    """A multi-part message never has fewer parts than units / part size."""
    length = measure("".join(pieces))
    multi = 153 if length.encoding == "GSM-7" else 67
    single = 160 if length.encoding == "GSM-7" else 70
    if length.units > single:
        assert length.segments >= -(-length.units // multi)


# The scans of measure() use the standard library's `re` (faster); each must find
# exactly what the same character class finds with `regex`, on any text.
_REGEX_NOT_GSM = regex.compile("[^" + regex.escape(GSM7_BASIC + GSM7_EXTENSION) + "]")
_REGEX_EXT = regex.compile("[" + regex.escape(GSM7_EXTENSION) + "]")


@given(MIXED_TEXT | st.text())
def test_scans_match_the_regex_module(text: str) -> None:
    assert _NOT_GSM.findall(text) == _REGEX_NOT_GSM.findall(text)
    assert _EXT_RE.findall(text) == _REGEX_EXT.findall(text)
    assert is_gsm7(text) is (_REGEX_NOT_GSM.search(text) is None)
