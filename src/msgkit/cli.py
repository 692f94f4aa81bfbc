"""The ``msgkit`` command line."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from msgkit._version import __version__
from msgkit.core.contacts import parse_phone
from msgkit.core.sms import SMART_REPLACEMENTS, measure
from msgkit.exceptions import MsgkitError

__all__ = ["main"]


def _cmd_measure(args: argparse.Namespace) -> int:
    length = measure(args.text, scheme=args.scheme, signature=args.signature, smart=args.smart)
    if args.json:
        print(
            json.dumps(
                {
                    "encoding": length.encoding,
                    "units": length.units,
                    "segments": length.segments,
                    "part_units": length.part_units,
                    "parts": length.parts,
                    "unicode_chars": list(length.unicode_chars),
                    "too_long": length.too_long,
                },
                ensure_ascii=False,
            )
        )
        return 0
    print(f"encoding  {length.encoding}")
    print(f"units     {length.units}")
    print(f"segments  {length.segments}  ({' + '.join(map(str, length.part_units))})")
    if length.unicode_chars:
        shown = " ".join(repr(c) for c in length.unicode_chars)
        fixable = any(c in SMART_REPLACEMENTS for c in length.unicode_chars)
        print(f"UCS-2 because of  {shown}" + ("  (try --smart)" if fixable else ""))
    if length.replacements:
        shown = ", ".join(f"{a!r}→{b!r}" for a, b in length.replacements)
        print(f"replaced  {shown}")
    if length.too_long:
        print(f"too long: at most {length.max_units} characters", file=sys.stderr)
        return 1
    return 0


def _cmd_phone(args: argparse.Namespace) -> int:
    phone = parse_phone(args.number, args.region, mobile_only=args.mobile)
    print(f"e164        {phone.e164}")
    print(f"region      {phone.region}")
    print(f"type        {phone.number_type}")
    print(f"time zones  {', '.join(phone.time_zones) or '-'}")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="msgkit",
        description="Bulk and triggered messaging campaigns: SMS, LINE, web chat.",
    )
    parser.add_argument("--version", action="version", version=f"msgkit {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = commands.add_parser("measure", help="the exact SMS length and parts of a text")
    p.add_argument("text")
    p.add_argument("--scheme", choices=["gsm", "cn"], default="gsm")
    p.add_argument("--signature", help="sender signature, counted as 【signature】")
    p.add_argument("--smart", action="store_true", help="replace look-alikes with GSM-7")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_cmd_measure)

    p = commands.add_parser("phone", help="check and normalise a phone number")
    p.add_argument("number")
    p.add_argument("--region", help="region of national numbers, e.g. TW")
    p.add_argument("--mobile", action="store_true", help="require a mobile number")
    p.set_defaults(func=_cmd_phone)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        status: int = args.func(args)
    except MsgkitError as exc:
        print(f"msgkit: {exc}", file=sys.stderr)
        return 2
    return status


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
