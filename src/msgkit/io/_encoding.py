"""Which encoding a CSV file is in: its byte-order mark, UTF-8/16, or a legacy encoding.

Lists exported from older systems come in the legacy encoding of their country, as
Windows writes it: GB18030 (mainland China), cp950 (Taiwan: Big5 with the characters
Windows adds, such as 恒 裏 碁), Big5-HKSCS (Hong Kong), cp932 (Japan: Shift_JIS with
① 髙 ...), cp949 (Korea: EUC-KR and its extension), cp1252 (Western Europe, Excel's
"CSV" on Windows). Any of these can decode bytes meant for another into plausible-looking
nonsense, so a guess is accepted only when one reading clearly reads as real text: it is
made only of characters text in that encoding really uses (the frequent ones of its
character set), and either no other reading is, or — given at least 16 different
characters to judge by — charset-normalizer finds every other such reading clearly more
chaotic. UTF-8 is such a reading too: legacy bytes can be valid UTF-8 by chance (伟员 in
GB18030 reads ΰԱ). Otherwise the user is asked to say which it is, with the encodings
that decode the file named.
"""

from __future__ import annotations

import codecs
import re
import unicodedata

from charset_normalizer import from_bytes

from msgkit.exceptions import ConfigError, ImportFileError
from msgkit.io._source import SourceFile

__all__ = ["LEGACY", "decoding", "decoding_near", "detect_encoding"]

#: The legacy encodings tried when a file is not UTF-8 (readings that are the same text
#: count once, under the first of them).
LEGACY = ("gb18030", "cp950", "big5hkscs", "cp932", "cp949", "cp1252")

#: A given encoding is read as the superset Windows (and so Excel) writes.
_SUPERSET = {
    "big5": "cp950",
    "shift_jis": "cp932",
    "euc_kr": "cp949",
    "gb2312": "gb18030",
    "gbk": "gb18030",
}

_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16 LE, whose mark starts it
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_SCAN = 1 << 20
_SAMPLE = 1 << 16
_MAX_CHARS = 4000
# Readings this much more chaotic (charset-normalizer's "mess", in percent) are not real.
_CHAOS_MARGIN = 5.0
# Nor is it asked with fewer different characters than this: too little text to tell.
_MIN_DISTINCT = 16
_HIGH_BYTE = re.compile(rb"[\x80-\xff]")
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")
_SHOWN = re.compile(r"[^\s,;\t\"]*[^\x00-\x7f][^\s,;\t\"]*")
# Punctuation and letters that Western text in cp1252 really contains (not † ‡ ‰ ‹ › ƒ
# ¶ ¨ ¯ ¸: rare in lists, and what Japanese and Chinese bytes often read as).
_CP1252_EXTRA = frozenset("ŒœŠšŽžŸ‘’‚“”„–—…€•™°·«»¡¿ªº§©®±²³´µ¹¼½¾")


def _code(ch: str, encoding: str) -> int | None:
    try:
        return int.from_bytes(ch.encode(encoding), "big")
    except UnicodeEncodeError:
        return None


def _plausible_gb(ch: str) -> float:
    return 0.0 if _code(ch, "gb2312") is None else 1.0


def _plausible_big5(ch: str) -> float:
    code = _code(ch, "cp950")
    if code is None:
        return 0.0
    # Symbols and the frequent hanzi, and the seven Windows adds (碁 銹 裏 墻 恒 粧 嫺).
    return 1.0 if 0xA140 <= code <= 0xC67E or 0xF9D6 <= code <= 0xF9DC else 0.0


def _plausible_hk(ch: str) -> float:
    # Read as Big5-HKSCS only when cp950 cannot decode the file: Cantonese text, whose
    # characters (啲 哋 嘅, 佢 among Big5's less frequent) are real but rarer.
    plausible = _plausible_big5(ch)
    if plausible:
        return plausible
    code = _code(ch, "big5hkscs")
    return 0.0 if code is None or code > 0xFFFF else 0.75


def _plausible_sjis(ch: str) -> float:
    if "\u3040" <= ch <= "\u30ff":  # hiragana, katakana
        return 1.0
    if "\uff61" <= ch <= "\uff9f":  # half-width katakana: real, but also what noise becomes
        return 0.5
    code = _code(ch, "cp932")
    if code is None:
        return 0.0
    return (
        1.0
        if 0x8140 <= code <= 0x84BE  # symbols, full-width letters, Greek, Cyrillic
        or 0x8740 <= code <= 0x879C  # NEC specials: ① ② Ⅰ ㈱ ...
        or 0x889F <= code <= 0x9872  # JIS level 1 kanji
        or 0xED40 <= code <= 0xEEFC  # IBM extensions as NEC selected them: 髙 﨑 ...
        or 0xFA40 <= code <= 0xFC4B  # IBM extensions
        else 0.0
    )


def _plausible_korean(ch: str) -> float:
    # The 2,350 Hangul syllables of KS X 1001 (the extension's 8,822 rarer ones and
    # Hanja, rare in lists, are what other text becomes when read as cp949).
    # (Python's euc_kr writes any other syllable as an 8-byte sequence: not these.)
    code = _code(ch, "euc_kr") if "\uac00" <= ch <= "\ud7a3" else None
    return 1.0 if code is not None and 0xB0A1 <= code <= 0xC8FE else 0.0


_JUDGES = {
    "gb18030": _plausible_gb,
    "cp950": _plausible_big5,
    "big5hkscs": _plausible_hk,
    "cp932": _plausible_sjis,
    "cp949": _plausible_korean,
}


# Latin Extended-B letters that text really uses: Pinyin tones, Romanian.
_LATIN_B = frozenset("ǍǎǏǐǑǒǓǔǕǖǗǘǙǚǛǜȘșȚț")


def _plausible_utf8(run: str) -> bool:
    """Whether a run of non-ASCII characters read as UTF-8 is real text.

    Legacy bytes that happen to be valid UTF-8 read as two-byte characters of mixed
    scripts (伟员 in GB18030 reads ΰԱ); real text has characters past U+07FF (CJK, Thai,
    emoji...), Latin-1 letters and signs, or letters of one script (Greek, Cyrillic,
    Hebrew, Arabic...), with combining accents.
    """
    scripts = set()
    for c in run:
        if c >= "\u0800" or "\u00a0" <= c <= "\u00ff":  # Latin-1: é, ×, °, ½ ...
            continue
        if "\u0180" <= c <= "\u02ff" and c not in _LATIN_B:  # IPA, rare Latin (ȣ)
            return False
        kind = unicodedata.category(c)
        if kind.startswith("M"):
            continue
        if not kind.startswith("L"):
            return False
        scripts.add(unicodedata.name(c, "?").split()[0])
    return len(scripts) <= 1


def _score(encoding: str, text: str) -> float:
    """The share of the non-ASCII characters that text in ``encoding`` plausibly contains."""
    total = 0.0
    count = 0
    for match in _NON_ASCII.finditer(text):
        run = match.group(0)
        if encoding == "cp1252":
            # Western text has an accented letter here and there, not long runs of them;
            # and no sign between two letters (but an apostrophe): «T«T is Big5 (俊俊).
            ok = len(run) <= 2 and all(c.isalpha() or c in _CP1252_EXTRA for c in run)
            ok = ok or (len(run) == 3 and run.isalpha())  # Núñez
            if ok and not any(c.isalpha() for c in run) and run != "’":
                start, end = match.span()
                ok = not (text[start - 1 : start].isalpha() and text[end : end + 1].isalpha())
            total += len(run) if ok else 0.0
            count += len(run)
        elif encoding == "utf-8":
            total += len(run) if _plausible_utf8(run) else 0.0
            count += len(run)
        else:
            total += sum(map(_JUDGES[encoding], run))
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
        name = codecs.lookup(given).name
    except LookupError:
        raise ConfigError(
            f"unknown encoding {given!r}",
            key="encoding",
            hint="use a Python codec name such as 'utf-8', 'gb18030', 'cp950', 'cp932', "
            "'cp949', 'cp1252'",
        ) from None
    return _SUPERSET.get(name, name)


def _utf16_without_bom(head: bytes) -> str | None:
    """``utf-16-le`` or ``-be`` when the bytes are UTF-16 with no mark, else None.

    A CSV file always holds ASCII (delimiters, digits), which UTF-16 writes with a zero
    byte beside it: zeros at many odd (LE) or even (BE) offsets and at few of the others
    (only characters such as 一 U+4E00 put a zero there).
    """
    head = head[: len(head) // 2 * 2]
    if len(head) < 4:
        return None
    even, odd = head[0::2].count(0), head[1::2].count(0)
    pairs = len(head) // 2
    for zeros, others, codec in ((odd, even, "utf-16-le"), (even, odd, "utf-16-be")):
        if zeros >= pairs / 4 and others * 10 <= zeros and _decode(head, codec) is not None:
            return codec
    return None


def decoding(data: bytes) -> list[str]:
    """The encodings msgkit knows in which ``data`` decodes and reads as some real text,
    the likeliest first (UTF-8, then `LEGACY` by the share of plausible characters)."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        return ["utf-8"]
    scores: dict[str, float] = {}
    for candidate in LEGACY:
        try:
            text = data.decode(candidate)
        except UnicodeDecodeError:
            continue
        score = _score(candidate, text)
        if score > 0:
            scores[candidate] = score
    return sorted(scores, key=scores.__getitem__, reverse=True)


def decoding_near(source: SourceFile, offset: int) -> list[str]:
    """`decoding` of a bounded part of ``source``: the lines where non-ASCII bytes first
    appear and the lines around ``offset`` (64 KiB each at most), whatever the file's size.
    """
    handle = source.handle
    handle.seek(max(offset - _SAMPLE // 2, 0))
    start = handle.tell()
    window = handle.read(_SAMPLE)
    handle.seek(0)
    if start and (cut := window.find(b"\n")) >= 0:
        window = window[cut + 1 :]
    if len(window) == _SAMPLE and (cut := window.rfind(b"\n")) >= 0:
        window = window[: cut + 1]
    first = _sample(source) or b""
    return decoding(first + b"\n" + window if first else window)


def _least_chaotic(sample: bytes, readings: dict[str, str]) -> str | None:
    """The one reading charset-normalizer finds clearly less chaotic than the others."""
    chaos: dict[str, float] = {}
    for match in from_bytes(sample, cp_isolation=list(readings), enable_fallback=False):
        name = codecs.lookup(match.encoding).name
        if name in readings:
            chaos[name] = min(chaos.get(name, 100.0), match.percent_chaos)
    if not chaos:
        return None
    best = min(chaos, key=chaos.__getitem__)
    others = (chaos.get(c, 100.0) for c in readings if c != best)
    return best if all(c >= chaos[best] + _CHAOS_MARGIN for c in others) else None


def detect_encoding(source: SourceFile, given: str | None = None) -> str:
    """The codec to read ``source`` with.

    A byte-order mark decides (and is removed from the text). Otherwise a given
    encoding is used (Big5, Shift_JIS, EUC-KR, GBK as the supersets Windows writes);
    without one, UTF-16 is recognised by its zero bytes, UTF-8 is taken when the text
    decodes as UTF-8 and reads as real text, else the one legacy reading that does.

    Raises:
        ImportFileError: When the mark contradicts ``given``, or the encoding cannot be
            told apart; the hint names the encodings that decode the file.
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
    if wanted in ("utf-16", "utf-32"):  # no mark: the byte order from the zeros, else LE
        if wanted == "utf-16" and (found := _utf16_without_bom(source.head(_SAMPLE))):
            return found
        return f"{wanted}-le"
    if wanted is not None:
        return wanted
    utf16 = _utf16_without_bom(source.head(_SAMPLE))
    if utf16 is not None:
        return utf16
    sample = _sample(source)
    if sample is None:
        return "utf-8"
    scores: dict[str, float] = {}
    texts: dict[str, str] = {}
    for candidate in ("utf-8", *LEGACY):
        text = _decode(sample, candidate)
        if text is not None and text not in texts.values():
            texts[candidate] = text
            scores[candidate] = _score(candidate, text)
    if scores.get("utf-8", 0.0) >= 0.9:  # UTF-8 that reads as text is UTF-8
        return "utf-8"
    ranked = sorted(scores, key=scores.__getitem__, reverse=True)
    if ranked and scores[ranked[0]] >= 0.9 and all(scores[c] < 0.6 for c in ranked[1:]):
        return ranked[0]
    plausible = {c: texts[c] for c in ranked if scores[c] >= 0.9}
    distinct = set("".join(_NON_ASCII.findall(texts[ranked[0]]))) if ranked else set()
    if plausible and len(distinct) >= _MIN_DISTINCT:
        best = _least_chaotic(sample, plausible)
        if best is not None:
            return best
    readings = [
        f"as {c}: {m.group(0)[:24]!r}"
        for c in ranked[:3]
        if scores[c] > 0 and (m := _SHOWN.search(texts[c]))
    ]
    shown = "; ".join(readings)
    # Every reading that is real text (whichever it is, it is among them), else the best.
    named = [*plausible, *(c for c in ranked if 0 < scores[c] < 0.9)][:4] or ranked[:3]
    hint = (
        "pass " + " or ".join(f"encoding={c!r}" for c in named) + " (whichever the system "
        "that exported it uses), or save the file as CSV UTF-8"
        if named
        else "save the file as CSV UTF-8, or pass encoding='...' (the codec it was written in)"
    )
    raise ImportFileError(
        "cannot tell which encoding the file is in: it is not UTF-8"
        + (f", and it reads {shown}" if shown else ", nor any of " + ", ".join(LEGACY)),
        path=source.name,
        hint=hint,
    )
