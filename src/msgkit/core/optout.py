"""Opt-out: reply keywords and the scopes of the suppression list.

**Keywords.** `classify_reply` recognises a reply that is a keyword *alone* — ``STOP``,
``stop``, ``Ｓｔｏｐ``, `` STOP. `` — and nothing else (``please stop`` is not one; the
inbound layer may flag such replies for review). It ignores case, character width
(full-width letters), surrounding spaces and surrounding punctuation. Built-in sets
(`KEYWORDS`):

- ``en`` (the carriers' and Twilio's): opt out ``STOP STOPALL UNSUBSCRIBE CANCEL END
  QUIT REVOKE OPTOUT``; opt back in ``START YES UNSTOP``; help ``HELP INFO``.
- ``zh`` (mainland platforms, e.g. Alibaba's ``拒收请回复R``): opt out ``R T TD N 退订``.

With a ``language``, its set and English are used (English opt-out works on every
network); without one, every set is. Give your own sets per language with
``keywords=``. When sets disagree, opting out wins.

**Suppression.** An opt-out is scoped (`OptOutScope`) to the sender it answered (an SMS
signature or from-number, a LINE account), to a whole channel, or global. A suppression
list is a set of `SuppressionKey` ``(scope, address)`` pairs — plain tuples work too —
where ``scope`` is ``"*"`` (global), a channel (``"sms"``) or ``"channel/sender"``
(``"sms/Acme"``), and ``address`` is where messages go: the E.164 number for SMS and
LINE, the contact key for web chat. `suppression_keys` gives the keys that block one
message; `suppression_key` the key to record for one opt-out.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable, Mapping
from enum import Enum
from typing import NamedTuple

import attrs

from msgkit.core.delivery import Channel

__all__ = [
    "KEYWORDS",
    "IndexedSuppression",
    "Keywords",
    "OptOutScope",
    "ReplyIntent",
    "SuppressionKey",
    "classify_reply",
    "normalise_keyword",
    "suppression_key",
    "suppression_keys",
]


class ReplyIntent(str, Enum):
    """What a keyword reply asks for."""

    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    HELP = "help"


def normalise_keyword(text: str) -> str:
    """A reply as keywords are compared: NFKC (width), case-folded, trimmed of spaces,
    invisible characters and surrounding punctuation, inner spaces collapsed."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    start, end = 0, len(text)
    while start < end and _trimmable(text[start]):
        start += 1
    while end > start and _trimmable(text[end - 1]):
        end -= 1
    return " ".join(text[start:end].split())


def _trimmable(ch: str) -> bool:
    return ch.isspace() or unicodedata.category(ch).startswith("P")


def _words(value: Iterable[str]) -> frozenset[str]:
    if isinstance(value, str):
        value = value.split()
    return frozenset(normalise_keyword(word) for word in value)


@attrs.frozen(kw_only=True)
class Keywords:
    """The reply keywords of one language (compared after `normalise_keyword`).

    Attributes:
        opt_out: Words that unsubscribe.
        opt_in: Words that subscribe again.
        help: Words that ask for help.
    """

    opt_out: frozenset[str] = attrs.field(converter=_words)
    opt_in: frozenset[str] = attrs.field(factory=frozenset, converter=_words)
    help: frozenset[str] = attrs.field(factory=frozenset, converter=_words)

    def intent(self, word: str) -> ReplyIntent | None:
        """The intent of an already normalised reply, or None."""
        if word in self.opt_out:
            return ReplyIntent.OPT_OUT
        if word in self.opt_in:
            return ReplyIntent.OPT_IN
        if word in self.help:
            return ReplyIntent.HELP
        return None


#: The built-in keywords by language (primary language subtag).
KEYWORDS: Mapping[str, Keywords] = {
    "en": Keywords(
        opt_out="STOP STOPALL UNSUBSCRIBE CANCEL END QUIT REVOKE OPTOUT",
        opt_in="START YES UNSTOP",
        help="HELP INFO",
    ),
    "zh": Keywords(opt_out="R T TD N 退订"),
}


def classify_reply(
    text: str,
    *,
    language: str | None = None,
    keywords: Mapping[str, Keywords] = KEYWORDS,
) -> ReplyIntent | None:
    """What a reply asks for, when it is a keyword alone; None otherwise.

    Args:
        text: The reply as received.
        language: A language tag (``"zh-CN"``, ``"en"``): use that language's keywords
            and English; None uses every language's.
        keywords: The keyword sets by primary language subtag (default `KEYWORDS`).

    Example:
        >>> classify_reply(" Stop! ")
        <ReplyIntent.OPT_OUT: 'opt_out'>
        >>> classify_reply("ＴＤ", language="zh-CN")
        <ReplyIntent.OPT_OUT: 'opt_out'>
        >>> classify_reply("please stop") is None
        True
    """
    word = normalise_keyword(text)
    if not word:
        return None
    if language is None:
        sets = list(keywords.values())
    else:
        primary = language.replace("_", "-").split("-")[0].lower()
        sets = [keywords[name] for name in dict.fromkeys((primary, "en")) if name in keywords]
    found = {kw.intent(word) for kw in sets} - {None}
    for intent in ReplyIntent:  # declared order: opting out wins
        if intent in found:
            return intent
    return None


class OptOutScope(str, Enum):
    """What an opt-out reply stops."""

    SENDER = "sender"  # messages from the sender it answered (signature, number, account)
    CHANNEL = "channel"  # every message on that channel
    GLOBAL = "global"  # every message


class SuppressionKey(NamedTuple):
    """One entry of a suppression list.

    Attributes:
        scope: ``"*"``, a channel value (``"sms"``) or ``"channel/sender"``.
        address: The E.164 number (SMS, LINE) or the contact key (web chat).
    """

    scope: str
    address: str


@attrs.frozen(kw_only=True)
class IndexedSuppression:
    """A suppression list kept as the store keeps it: each entry's address as its
    ``index`` (a keyed store's blind index; without a key, the address itself).

    A `SuppressionKey` is in it when its scope and the index of its address are: the
    planner tests its contacts against it without a single entry being opened (an
    encrypted store would otherwise decrypt every entry for every plan).

    Attributes:
        entries: The ``(scope, index)`` pairs.
        index: The index of an address (pure: the same address, the same index).

    Example:
        >>> listed = IndexedSuppression(entries=frozenset({("*", "+886912345678")}), index=str)
        >>> SuppressionKey("*", "+886912345678") in listed, ("sms", "+886912345678") in listed
        (True, False)
    """

    entries: frozenset[tuple[str, str]]
    index: Callable[[str], str] = attrs.field(eq=False, repr=False)

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, tuple) or len(key) != 2:
            return False
        scope, address = key
        if not isinstance(address, str):
            return False
        return (scope, self.index(address)) in self.entries

    def __len__(self) -> int:
        return len(self.entries)


def _scope(scope: OptOutScope, channel: Channel, sender: str | None) -> str:
    if scope is OptOutScope.GLOBAL:
        return "*"
    if scope is OptOutScope.SENDER and sender:
        return f"{channel.value}/{sender}"
    return channel.value


def suppression_key(
    address: str,
    *,
    scope: OptOutScope | str,
    channel: Channel | str,
    sender: str | None = None,
) -> SuppressionKey:
    """The entry to record when ``address`` opts out of ``channel``/``sender``.

    A sender scope without a known sender falls back to the channel (broader, so safer).

    Example:
        >>> suppression_key("+886912345678", scope="sender", channel="sms", sender="Acme")
        SuppressionKey(scope='sms/Acme', address='+886912345678')
    """
    return SuppressionKey(_scope(OptOutScope(scope), Channel(channel), sender), address)


def suppression_keys(
    address: str, *, channel: Channel | str, sender: str | None = None
) -> tuple[SuppressionKey, ...]:
    """Every entry that blocks a message to ``address`` on ``channel`` from ``sender``:
    global, channel-wide, and (when there is a sender) that sender's."""
    channel = Channel(channel)
    keys = [SuppressionKey("*", address), SuppressionKey(channel.value, address)]
    if sender:
        keys.append(SuppressionKey(f"{channel.value}/{sender}", address))
    return tuple(keys)
