"""Tests of msgkit.core.optout: reply keywords and suppression scopes."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from msgkit import Channel
from msgkit.core.optout import (
    KEYWORDS,
    IndexedSuppression,
    Keywords,
    OptOutScope,
    ReplyIntent,
    SuppressionKey,
    classify_reply,
    normalise_keyword,
    suppression_key,
    suppression_keys,
)

OPT_OUT = ["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"]


@pytest.mark.parametrize("word", OPT_OUT)
def test_english_opt_out_keywords(word: str) -> None:
    """Each English opt-out keyword alone is an opt-out, in any case."""
    assert classify_reply(word) is ReplyIntent.OPT_OUT
    assert classify_reply(word.lower()) is ReplyIntent.OPT_OUT
    assert classify_reply(word.title(), language="en") is ReplyIntent.OPT_OUT


@pytest.mark.parametrize("word", ["R", "T", "TD", "N", "退订", "td", "ＴＤ", "退订。"])
def test_chinese_platform_keywords(word: str) -> None:
    """R, T, TD, N and 退订 opt out for Chinese recipients, full-width or not."""
    assert classify_reply(word, language="zh-CN") is ReplyIntent.OPT_OUT
    assert classify_reply(word) is ReplyIntent.OPT_OUT


@pytest.mark.parametrize(
    ("word", "intent"),
    [
        ("START", ReplyIntent.OPT_IN),
        ("yes", ReplyIntent.OPT_IN),
        ("Unstop", ReplyIntent.OPT_IN),
        ("HELP", ReplyIntent.HELP),
        ("info", ReplyIntent.HELP),
    ],
)
def test_opt_in_and_help(word: str, intent: ReplyIntent) -> None:
    """START, YES, UNSTOP opt back in; HELP and INFO ask for help."""
    assert classify_reply(word) is intent


@pytest.mark.parametrize(
    "text",
    ["please stop", "stop it", "STOP STOP", "stopp", "", "   ", "no", "td please", "不要退订"],
)
def test_only_the_keyword_alone_counts(text: str) -> None:
    """A keyword inside a longer reply is not recognised (left for review)."""
    assert classify_reply(text) is None


def test_width_case_spaces_and_punctuation_are_ignored() -> None:
    """Full-width letters, case, surrounding spaces, punctuation and zero-width characters."""
    for text in ["ＳＴＯＰ", " Stop! ", "\u200bstop\u200b", "「退订」", "STOP."]:
        assert classify_reply(text) is ReplyIntent.OPT_OUT, text


def test_language_selects_sets() -> None:
    """'N' opts out for Chinese (and unknown) languages, not for English ones."""
    assert classify_reply("N", language="zh-TW") is ReplyIntent.OPT_OUT
    assert classify_reply("N", language="en-US") is None
    assert classify_reply("N") is ReplyIntent.OPT_OUT
    # English keywords work whatever the language.
    assert classify_reply("STOP", language="zh") is ReplyIntent.OPT_OUT
    assert classify_reply("STOP", language="ja") is ReplyIntent.OPT_OUT


def test_custom_keywords_per_language() -> None:
    """Keyword sets can be given per language; opting out wins a conflict."""
    custom = {
        **KEYWORDS,
        "fr": Keywords(opt_out="ARRET", opt_in="OUI"),
        "xx": Keywords(opt_out="", opt_in="STOP"),
    }
    assert classify_reply("Arrêt", language="fr", keywords=custom) is None  # accent matters
    assert classify_reply("ARRET", language="fr", keywords=custom) is ReplyIntent.OPT_OUT
    assert classify_reply("oui", language="fr", keywords=custom) is ReplyIntent.OPT_IN
    assert classify_reply("stop", keywords=custom) is ReplyIntent.OPT_OUT


def test_suppression_scopes() -> None:
    """An opt-out is recorded at its scope; a message is blocked by global, channel or sender."""
    number = "+886912345678"
    sender = suppression_key(number, scope=OptOutScope.SENDER, channel="sms", sender="Acme")
    assert sender == SuppressionKey("sms/Acme", number)
    assert suppression_key(number, scope="channel", channel="line") == ("line", number)
    assert suppression_key(number, scope="global", channel="sms") == ("*", number)
    # A sender scope without a sender widens to the channel.
    assert suppression_key(number, scope="sender", channel="sms") == ("sms", number)
    blocking = suppression_keys(number, channel=Channel.SMS, sender="Acme")
    assert set(blocking) == {("*", number), ("sms", number), ("sms/Acme", number)}
    assert ("sms/Other", number) not in blocking


@given(st.sampled_from([w for kw in KEYWORDS.values() for w in kw.opt_out]), st.text(" \t\n.!"))
def test_keywords_survive_decoration(word: str, decoration: str) -> None:
    """Any opt-out keyword, upper-cased and wrapped in spaces and punctuation, still opts out."""
    assert classify_reply(decoration + word.upper() + decoration) is ReplyIntent.OPT_OUT


@given(st.text(max_size=30))
def test_normalise_is_idempotent(text: str) -> None:
    """Normalising twice is normalising once."""
    once = normalise_keyword(text)
    assert normalise_keyword(once) == once


@given(st.text(max_size=30))
def test_a_recognised_reply_is_one_keyword(text: str) -> None:
    """Whenever a reply is recognised, its normalised text is exactly a keyword."""
    intent = classify_reply(text)
    if intent is not None:
        words = set().union(*(kw.opt_out | kw.opt_in | kw.help for kw in KEYWORDS.values()))
        assert normalise_keyword(text) in words


_SCOPES = st.sampled_from(["*", "sms", "line", "sms/Acme"])
_ADDRESSES = st.text(min_size=1, max_size=12)


@given(
    st.lists(st.tuples(_SCOPES, _ADDRESSES), max_size=30),
    st.lists(st.tuples(_SCOPES, _ADDRESSES), max_size=30),
)
def test_an_indexed_suppression_list_answers_as_the_set_of_its_entries(
    listed: list[tuple[str, str]], asked: list[tuple[str, str]]
) -> None:
    """Kept by index (here a keyed digest, as a keyed store keeps it), the list holds
    exactly the keys the plain set of its entries holds."""

    def index(address: str) -> str:
        return hashlib.sha256(b"key" + address.encode()).hexdigest()

    indexed = IndexedSuppression(
        entries=frozenset((scope, index(address)) for scope, address in listed), index=index
    )
    plain = frozenset(SuppressionKey(scope, address) for scope, address in listed)
    assert len(indexed) == len(plain)
    for scope, address in [*listed, *asked]:
        key = SuppressionKey(scope, address)
        assert (key in indexed) == (key in plain)
        assert ((scope, address) in indexed) == (key in plain)
    assert "not a key" not in indexed
    assert (None, None) not in indexed
