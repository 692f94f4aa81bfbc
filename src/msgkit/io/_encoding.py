"""Which encoding a CSV file is in: its byte-order mark, UTF-8, or a legacy encoding.

Lists exported from older systems come in the legacy encoding of their country:
GB18030 (mainland China), Big5 (Taiwan, Hong Kong), Shift_JIS (Japan), cp1252 (Western
Europe, Excel's "CSV" on Windows). Any of these can decode bytes meant for another into
plausible-looking nonsense, so a guess is accepted only when one candidate clearly reads
as real text and the others do not; otherwise the user is asked to say which it is.
"""

from __future__ import annotations

import codecs
import re

from msgkit.exceptions import ConfigError, ImportFileError
from msgkit.io._source import SourceFile

__all__ = ["LEGACY", "detect_encoding"]

#: The legacy encodings tried when a file is not UTF-8, in no particular order.
LEGACY = ("gb18030", "big5", "shift_jis", "cp1252")

_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_SCAN = 1 << 20
_SAMPLE = 1 << 16
_MAX_CHARS = 4000
_HIGH_BYTE = re.compile(rb"[\x80-\xff]")
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")
_SHOWN = re.compile(r"[^\s,;\t\"]*[^\x00-\x7f][^\s,;\t\"]*")
# Punctuation and letters that Western text in cp1252 really contains.
_CP1252_EXTRA = frozenset("ŒœŠšŽžŸƒ‘’‚“”„–—…€•†‡‰‹›™°·«»¡¿ªº§¶©®±²³´µ¹¼½¾¨¯¸")


def _plausible_gb(ch: str) -> float:
    try:
        ch.encode("gb2312")
    except UnicodeEncodeError:
        return 0.0
    return 1.0


def _plausible_big5(ch: str) -> float:
    try:
        code = int.from_bytes(ch.encode("big5"), "big")
    except UnicodeEncodeError:
        return 0.0
    return 1.0 if 0xA140 <= code <= 0xC67E else 0.0  # symbols and the frequent hanzi


def _plausible_sjis(ch: str) -> float:
    if "\u3040" <= ch <= "\u30ff":  # hiragana, katakana
        return 1.0
    if "\uff61" <= ch <= "\uff9f":  # half-width katakana: real, but also what noise becomes
        return 0.5
    try:
        code = int.from_bytes(ch.encode("shift_jis"), "big")
    except UnicodeEncodeError:
        return 0.0
    return 1.0 if 0x8140 <= code <= 0x84BE or 0x889F <= code <= 0x9872 else 0.0


def _score(encoding: str, text: str) -> float:
    """The share of the non-ASCII characters that text in ``encoding`` plausibly contains."""
    total = 0.0
    count = 0
    for run in _NON_ASCII.findall(text):
        if encoding == "cp1252":
            # Western text has an accented letter here and there, not long runs of them.
            ok = len(run) <= 2 and all(c.isalpha() or c in _CP1252_EXTRA for c in run)
            total += len(run) if ok else 0.0
            count += len(run)
        else:
            judge = {"gb18030": _plausible_gb, "big5": _plausible_big5}.get(
                encoding, _plausible_sjis
            )
            total += sum(judge(c) for c in run)
            count += len(run)
        if count >= _MAX_CHARS:
            break
    return total / count if count else 0.0


def _decode(sample: bytes, encoding: str) -> str | None:
    try:
        return codecs.getincrementaldecoder(encoding)("strict").decode(sample, final=False)
    except UnicodeDecodeError:
        return None


def _sample(source: SourceFile) -> bytes | None:
    """Up to 64 KiB of whole lines from where non-ASCII bytes first appear, or None."""
    handle = source.handle
    handle.seek(0)
    offset = 0
    try:
        while chunk := handle.read(_SCAN):
            if not chunk.isascii():
                first = _HIGH_BYTE.search(chunk).start()  # type: ignore[union-attr]
                start = chunk.rfind(b"\n", 0, first) + 1
                handle.seek(offset + start)
                sample = handle.read(_SAMPLE)
                cut = sample.rfind(b"\n")
                return sample[: cut + 1] if cut > 0 and len(sample) == _SAMPLE else sample
            offset += len(chunk)
        return None
    finally:
        handle.seek(0)


def _normalise(given: str) -> str:
    try:
        return codecs.lookup(given).name
    except LookupError:
        raise ConfigError(
            f"unknown encoding {given!r}",
            key="encoding",
            hint="use a Python codec name such as 'utf-8', 'gb18030', 'big5', 'shift_jis', "
            "'cp1252'",
        ) from None


def detect_encoding(source: SourceFile, given: str | None = None) -> str:
    """The codec to read ``source`` with.

    A byte-order mark decides (and is removed from the text). Otherwise a given
    encoding is used as it is; without one, UTF-8 is taken when the text decodes as
    UTF-8, else the one legacy encoding in which it reads as real text.

    Raises:
        ImportFileError: When the mark contradicts ``given``, or the encoding cannot be
            told apart; the hint says to pass ``encoding=...``.
        ConfigError: When ``given`` is not a codec Python knows.
    """
    start = source.head(4)
    wanted = _normalise(given) if given is not None else None
    for bom, codec in _BOMS:
        if start.startswith(bom):
            family = codec.split("-sig")[0]
            if wanted is not None and not wanted.startswith(family):
                raise ImportFileError(
                    f"encoding={given!r} was given, but the file starts with a {family.upper()} "
                    "byte-order mark",
                    path=source.name,
                    hint=f"pass encoding={family!r}, or leave encoding out",
                )
            return codec
    if wanted is not None:
        return wanted
    sample = _sample(source)
    if sample is None or _decode(sample, "utf-8") is not None:
        return "utf-8"
    scores: dict[str, float] = {}
    texts: dict[str, str] = {}
    for candidate in LEGACY:
        text = _decode(sample, candidate)
        if text is not None:
            texts[candidate] = text
            scores[candidate] = _score(candidate, text)
    ranked = sorted(scores, key=scores.__getitem__, reverse=True)
    if ranked and scores[ranked[0]] >= 0.9 and all(scores[c] < 0.6 for c in ranked[1:]):
        return ranked[0]
    readings = [
        f"as {c}: {m.group(0)[:24]!r}"
        for c in ranked[:3]
        if scores[c] > 0 and (m := _SHOWN.search(texts[c]))
    ]
    shown = "; ".join(readings)
    raise ImportFileError(
        "cannot tell which encoding the file is in: it is not UTF-8"
        + (f", and it reads {shown}" if shown else ", nor any of " + ", ".join(LEGACY)),
        path=source.name,
        hint="pass encoding='gb18030', 'big5', 'shift_jis' or 'cp1252' (whichever the system "
        "that exported it uses), or save the file as CSV UTF-8",
    )
