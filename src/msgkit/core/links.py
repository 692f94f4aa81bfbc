"""Short links and per-recipient tracking parameters.

A campaign's links (``${link:name}`` placeholders and URLs written out in a template)
become short links on a domain of yours::

    https://go.example.com/l/Xb3k9QpA?p=r7TfK2mZ
    └──────── base_url ────┘└─ code ┘ └─ param ┘

- The **code** names one (campaign, link): the store maps it to the target URL
  (`ShortLinks.links_for` gives the rows to store before sending).
- The **param** names one (campaign, recipient): a click maps back to who clicked.

Both are keyed hashes (HMAC-SHA256 under your secret) written in base62, so they are
stable — re-planning after a crash gives the same text — and neither guessable nor
reversible without the secret. The param is 6 to 8 characters (default 8).

**Collisions.** Two different inputs can hash to the same string. For ``n`` values of
length ``L`` the chance that any two collide is about ``n² / (2 · 62^L)``: for params of
8 characters (62⁸ ≈ 2.2 · 10¹⁴), 2 · 10⁻⁵ for 100,000 recipients of one campaign,
2 · 10⁻³ for 1,000,000; for 6 characters, 0.09 already at 100,000. Codes (default 8) are
few — one per link per campaign — so collide far less often. Detection:

- within one plan, the planner keeps the params it gave out (8 bytes each) and, on a
  repeat, derives the next candidate (``attempt=1``, ...), so params are distinct
  within a campaign's plan;
- the store keeps a unique index on (campaign, param) and on code: a conflicting insert
  from a separate plan (a triggered message) is the collision, and it can re-derive
  with the next ``attempt`` the same way.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable, Iterable

import attrs

from msgkit.core.templates import Link, Template
from msgkit.exceptions import ConfigError

__all__ = ["BASE62", "ShortLink", "ShortLinks", "base62"]

#: The base62 alphabet: digits, upper case, lower case.
BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def base62(data: bytes, length: int) -> str:
    """The first ``length`` base62 digits of the number ``data`` encodes (big-endian).

    Example:
        >>> base62(bytes([0, 61]), 2)
        '0z'
    """
    # Only the last ``length`` digits are written: reduce first (small-int arithmetic),
    # then write two digits per division (a table of the 3,844 pairs).
    number = int.from_bytes(data, "big") % 62**length
    digits = []
    while length >= 2:
        number, pair = divmod(number, 3844)
        digits.append(_PAIRS[pair])
        length -= 2
    if length:
        digits.append(BASE62[number])
    return "".join(reversed(digits))


_PAIRS = [high + low for high in BASE62 for low in BASE62]


def _secret(value: bytes | str) -> bytes:
    raw = value.encode("utf-8") if isinstance(value, str) else bytes(value)
    if len(raw) < 16:
        raise ConfigError(
            "the link secret is too short (at least 16 bytes)",
            key="links.secret",
            hint="use ShortLinks.new_secret() and keep it out of source control",
        )
    return raw


def _base_url(value: str) -> str:
    url = value.strip().rstrip("/")
    scheme, sep, rest = url.partition("://")
    if scheme not in ("http", "https") or not sep or not rest or any(c in rest for c in "?# "):
        raise ConfigError(
            f"{value!r} is not a base URL for short links",
            key="links.base_url",
            hint="write scheme, domain and optional path, e.g. 'https://go.example.com/l'",
        )
    return url


def _length(low: int, high: int) -> Callable[[object, attrs.Attribute[int], int], None]:
    def check(_: object, attribute: attrs.Attribute[int], value: int) -> None:
        if not low <= value <= high:
            raise ConfigError(
                f"{attribute.name} must be {low} to {high}, not {value}",
                key=f"links.{attribute.name}",
            )

    return check


def _digest(secret: bytes, *parts: str) -> bytes:
    return hmac.digest(secret, "\0".join(parts).encode("utf-8"), "sha256")


@attrs.frozen(kw_only=True)
class ShortLink:
    """One short link of a campaign, as the store keeps it for the redirect.

    Attributes:
        code: The short code.
        campaign_id: The campaign.
        name: The link's name in the template (``track``, ``url1``...).
        target: Where the redirect goes.
    """

    code: str
    campaign_id: str
    name: str
    target: str


@attrs.frozen(kw_only=True, repr=False)
class ShortLinks:
    """How a campaign's links are shortened and tracked.

    Attributes:
        base_url: The redirect's prefix, e.g. ``"https://go.example.com/l"``.
        secret: The HMAC key (16 bytes or more; text is UTF-8 encoded). Never shown.
        code_length: Characters of a link code (6 to 12).
        param_length: Characters of a per-recipient parameter (6 to 8).
        param_name: The query parameter carrying it.

    Example:
        >>> links = ShortLinks(base_url="https://go.example.com/l", secret="s" * 32)
        >>> links
        ShortLinks(base_url='https://go.example.com/l', secret=***)
        >>> links.url(links.code("spring", "shop"), links.param("spring", "+886912345678"))
        'https://go.example.com/l/QVtBifKS?p=kCcoPGn4'
    """

    base_url: str = attrs.field(converter=_base_url)
    secret: bytes = attrs.field(converter=_secret)
    code_length: int = attrs.field(default=8, validator=_length(6, 12))
    param_length: int = attrs.field(default=8, validator=_length(6, 8))
    param_name: str = "p"

    @staticmethod
    def new_secret() -> str:
        """A new random secret (64 hex characters)."""
        return os.urandom(32).hex()

    def code(self, campaign_id: str, link_name: str, *, attempt: int = 0) -> str:
        """The short code of one link of one campaign."""
        digest = _digest(self.secret, "code", campaign_id, link_name, str(attempt))
        return base62(digest, self.code_length)

    def param(self, campaign_id: str, recipient: str, *, attempt: int = 0) -> str:
        """The tracking parameter of one recipient of one campaign.

        Args:
            campaign_id: The campaign.
            recipient: Who receives it: the address (E.164 or contact key).
            attempt: 0, or the retry number after a collision.
        """
        # _digest(secret, "param", campaign_id, recipient, str(attempt)), written out:
        # one per planned recipient.
        message = f"param\0{campaign_id}\0{recipient}\0{attempt}".encode()
        return base62(hmac.digest(self.secret, message, "sha256"), self.param_length)

    def url(self, code: str, param: str | None = None) -> str:
        """The short URL for a code, with a recipient's parameter when given."""
        if param is None:
            return f"{self.base_url}/{code}"
        return f"{self.base_url}/{code}?{self.param_name}={param}"

    def links_for(self, campaign_id: str, template: Template) -> tuple[ShortLink, ...]:
        """The short links of a campaign's template, one per link name, in order."""
        return tuple(
            ShortLink(
                code=self.code(campaign_id, link.name),
                campaign_id=campaign_id,
                name=link.name,
                target=link.url,
            )
            for link in _unique(template.link_list)
        )

    def __repr__(self) -> str:
        return f"ShortLinks(base_url={self.base_url!r}, secret=***)"


def _unique(links: Iterable[Link]) -> list[Link]:
    return list({link.name: link for link in links}.values())
