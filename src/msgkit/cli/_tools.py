"""``msgkit measure``, ``msgkit phone`` and ``msgkit phone-key``: tools that need no store."""

from __future__ import annotations

import json

import click

from msgkit.cli._app import console, console_err
from msgkit.core.contacts import PhoneCipher, parse_phone
from msgkit.core.sms import SMART_REPLACEMENTS, measure

__all__ = ["register"]


@click.command("measure")
@click.argument("text")
@click.option("--scheme", type=click.Choice(["gsm", "cn"]), default="gsm", show_default=True)
@click.option("--signature", help="sender signature, counted as 【signature】")
@click.option("--smart", is_flag=True, help="replace look-alikes with GSM-7")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
def measure_command(
    text: str, scheme: str, signature: str | None, smart: bool, as_json: bool
) -> int:
    """The exact SMS length and parts of TEXT."""
    length = measure(text, scheme=scheme, signature=signature, smart=smart)  # type: ignore[arg-type]
    if as_json:
        click.echo(
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
    click.echo(f"encoding  {length.encoding}")
    click.echo(f"units     {length.units}")
    click.echo(f"segments  {length.segments}  ({' + '.join(map(str, length.part_units))})")
    if length.unicode_chars:
        shown = " ".join(repr(c) for c in length.unicode_chars)
        fixable = any(c in SMART_REPLACEMENTS for c in length.unicode_chars)
        click.echo(f"UCS-2 because of  {shown}" + ("  (try --smart)" if fixable else ""))
    if length.replacements:
        shown = ", ".join(f"{a!r}→{b!r}" for a, b in length.replacements)
        click.echo(f"replaced  {shown}")
    if length.too_long:
        console_err.print(f"too long: at most {length.max_units} characters")
        return 1
    return 0


@click.command("phone")
@click.argument("number")
@click.option("--region", help="region of national numbers, e.g. TW")
@click.option("--mobile", is_flag=True, help="require a mobile number")
def phone_command(number: str, region: str | None, mobile: bool) -> None:
    """Check and normalise a phone NUMBER."""
    phone = parse_phone(number, region, mobile_only=mobile)
    console.print(f"e164        {phone.e164}")
    console.print(f"region      {phone.region}")
    console.print(f"type        {phone.number_type}")
    console.print(f"time zones  {', '.join(phone.time_zones) or '-'}")


@click.command("phone-key")
def phone_key_command() -> None:
    """Print a new key to encrypt phone numbers at rest (set it as MSGKIT_PHONE_KEY).

    Keep it in a secret store, not in msgkit.toml nor in source control: a database
    created with it cannot be read without it.
    """
    click.echo(PhoneCipher.new_key())


def register(group: click.Group) -> None:
    """Add these commands to ``group``."""
    group.add_command(measure_command)
    group.add_command(phone_command)
    group.add_command(phone_key_command)
