"""Phone normalisation: msgkit's parse_phone against a plain phonenumbers loop.

Run: PYTHONPATH=src python benchmarks/phones.py [--small]

Generates 1,000,000 numbers (``--small``: 20,000) as recipient files hold them: national
numbers read with the file's region ("0912 345 678", "0912-345-678", "(415) 555-0100"),
international ones ("+886 912 345 678", "00886912345678", "+1 (415) 555-0100"), of many
regions, mostly mobiles, about 2 % invalid, 1 % repeated. Both sides run over the same
chunks, taking turns, so the machine's load falls on both alike.

The baseline is what a user would write with phonenumbers' public API to get what a
msgkit `Phone` holds: parse, is_valid_number, format E.164, region_code_for_number,
number_type, time_zones_for_number (and, for a refusal, the reason msgkit gives). Every
number's result is compared field by field with msgkit's; any difference, or no number
parsed, exits non-zero. The speed figures never do. For scale it also times the narrower
loop the issue quoted (parse, is_valid_number, E.164 only).
"""

from __future__ import annotations

import random
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType

from msgkit.core import _phonefast

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.phone_reference import msgkit_result, reference, written

# Where the numbers come from: (region, weight); the rest spread over every region.
REGIONS = [
    ("TW", 30),
    ("JP", 8),
    ("KR", 6),
    ("CN", 8),
    ("HK", 4),
    ("US", 8),
    ("GB", 4),
    ("DE", 3),
    ("FR", 3),
    ("IN", 5),
    ("BR", 3),
    ("AU", 3),
    ("SG", 2),
    ("TH", 2),
    ("CA", 1),
]
OTHERS = 10


def parse_validate_format(raw: str, region: str) -> str | None:
    """The narrower loop (no type, region or time zones): for scale only."""
    text = written(raw)
    try:
        number = phonenumbers.parse(text, None if text.startswith("+") else region)
    except NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def templates() -> tuple[list[str], list[list[tuple[str, str, str]]], list[int]]:
    """Per region: example numbers written nationally and internationally."""
    weighted = dict(REGIONS)
    others = sorted(set(phonenumbers.SUPPORTED_REGIONS) - set(weighted))
    names, forms, weights = [], [], []
    for region in [r for r, _ in REGIONS] + others:
        written = []
        for kind, share in ((PhoneNumberType.MOBILE, 6), (PhoneNumberType.FIXED_LINE, 1)):
            example = phonenumbers.example_number_for_type(region, kind)
            if example is None:
                continue
            national = phonenumbers.format_number(example, PhoneNumberFormat.NATIONAL)
            international = phonenumbers.format_number(example, PhoneNumberFormat.INTERNATIONAL)
            written += [(region, national, international)] * share
        if written:
            names.append(region)
            forms.append(written)
            weights.append(weighted.get(region, 0) * 100 or OTHERS * 100 // len(others) or 1)
    return names, forms, weights


def numbers(count: int, seed: int = 12) -> Iterator[tuple[str, str]]:
    """(raw, region) as a recipient file has them."""
    rng = random.Random(seed)
    names, forms, weights = templates()
    recent: list[tuple[str, str]] = []
    picks = rng.choices(range(len(names)), weights=weights, k=count)
    for n, pick in enumerate(picks):
        if recent and rng.random() < 0.01:
            yield rng.choice(recent)
            continue
        region, national, international = rng.choice(forms[pick])
        shape = rng.random()
        written = national if shape < 0.55 else international
        # New last digits: a different, mostly valid, number of the same shape.
        chars = list(written)
        places = [i for i, ch in enumerate(chars) if ch.isdigit()]
        for i in places[-min(5, len(places) - 3) :]:
            chars[i] = str(rng.randrange(10))
        raw = "".join(chars)
        separator = rng.choice([" ", "-", ".", "", " "])
        raw = raw.replace(" ", separator) if separator != " " else raw
        if shape >= 0.85:
            raw = "00" + raw[1:]  # 00 instead of +
        elif shape >= 0.8:
            raw = "+" + re.sub(r"\D", "", raw)  # E.164 as it is
        if rng.random() < 0.02:  # a typo: digits missing or extra
            raw = raw[:-2] if rng.random() < 0.5 else raw + "42"
        row = (raw, region)
        if n % 97 == 0:
            recent.append(row)
            if len(recent) > 1000:
                recent.pop(0)
        yield row


def chunks(count: int, size: int) -> Iterator[list[tuple[str, str]]]:
    chunk: list[tuple[str, str]] = []
    for row in numbers(count):
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def main() -> int:
    small = "--small" in sys.argv[1:]
    count = 20_000 if small else 1_000_000
    print(f"phone normalisation, {count:,} numbers (Python {sys.version.split()[0]})")
    spent = {"phonenumbers": 0.0, "msgkit": 0.0, "narrow": 0.0}
    refused = differences = fast = sampled = 0
    for chunk in chunks(count, 20_000):
        started = time.perf_counter()
        expected = [reference(raw, region) for raw, region in chunk]
        spent["phonenumbers"] += time.perf_counter() - started
        started = time.perf_counter()
        got = [msgkit_result(raw, region) for raw, region in chunk]
        spent["msgkit"] += time.perf_counter() - started
        started = time.perf_counter()
        for raw, region in chunk:
            parse_validate_format(raw, region)
        spent["narrow"] += time.perf_counter() - started
        for (raw, region), want, have in zip(chunk, expected, got, strict=True):
            if want != have:
                differences += 1
                if differences <= 10:
                    print(f"DIFFERENT {raw!r} ({region}): phonenumbers {want}, msgkit {have}")
        refused += sum(1 for want in expected if want[0] == "refused")
        if not sampled:  # how much the fast path answers (one chunk is enough)
            sampled = len(chunk)
            fast = sum(
                1
                for raw, region in chunk
                if _phonefast.fast_parse(written(raw), region) is not None
            )
    base = count / spent["phonenumbers"]
    rate = count / spent["msgkit"]
    print(f"  numbers refused (both sides): {refused:,} ({refused / count:.1%})")
    print(f"  answered by the fast path: {fast / sampled:.1%} (first {sampled:,})")
    narrow = count / spent["narrow"]
    print(f"  plain phonenumbers loop:  {base:>10,.0f} numbers/s  (what a Phone holds)")
    print(f"  msgkit parse_phone:       {rate:>10,.0f} numbers/s  {rate / base:.1f}x (target 5x)")
    print(
        f"  for scale, phonenumbers parse + is_valid + E.164 only: {narrow:,.0f} numbers/s "
        f"(msgkit {rate / narrow:.1f}x)"
    )
    if differences:
        print(f"FAILED: {differences:,} numbers differ from phonenumbers")
        return 1
    if refused == count:
        print("FAILED: no number parsed")
        return 1
    print("  every result identical to phonenumbers'")
    return 0


if __name__ == "__main__":
    sys.exit(main())
