"""Keep secrets and phone numbers out of the HTTP client's log lines.

httpx logs every request at INFO (``HTTP Request: GET https://…?token=…&to=+8869…``):
a gateway that takes its key, the number and the text in the query string (an
``http_sms`` provider with ``method = "GET"``) would write all three to the log. The
filter here, on the ``httpx`` logger, rewrites each URL in a record's arguments: every
query value becomes ``***`` and every run of seven or more digits in the path is masked.
It is installed once, when `msgkit.providers` is imported (`install`).
"""

from __future__ import annotations

import logging
import re
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import httpx

__all__ = ["RedactUrls", "install", "redact_url"]

_DIGITS = re.compile(r"\d{7,}")


def redact_url(url: str) -> str:
    """``url`` with its query values hidden and long digit runs (numbers) masked.

    Example:
        >>> redact_url("https://sms.example.com/send/886912345678?key=s3cr3t&to=1")
        'https://sms.example.com/send/***?key=***&to=***'
    """
    parts = urlsplit(url)
    path = _DIGITS.sub("***", parts.path)
    query = "&".join(f"{k}=***" for k, _ in parse_qsl(parts.query, keep_blank_values=True))
    netloc = parts.hostname or ""
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, path, query, ""))


class RedactUrls(logging.Filter):
    """Rewrites the URLs among a record's arguments with `redact_url`."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(a, httpx.URL) for a in record.args):
            record.args = tuple(
                redact_url(str(a)) if isinstance(a, httpx.URL) else a for a in record.args
            )
        return True


_FILTER = RedactUrls()


def install() -> None:
    """Add the filter to the ``httpx`` logger (once)."""
    logger = logging.getLogger("httpx")
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
