"""Twilio Programmable Messaging, sans-IO: the reference third-party SMS platform.

One request per message: ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json``, basic
auth (AccountSid, AuthToken), form-encoded ``To``, ``From`` (or ``MessagingServiceSid``
when the sender starts with ``MG``), ``Body``, ``MediaUrl`` (one per media URL),
``ValidityPeriod`` (seconds left until ``expires_at``, 1–36000) and ``StatusCallback``.
The status callback URL gets our message id as a ``msgkit_id`` query parameter, so a
callback names the message it is about without a lookup.

Errors (the JSON body's ``code``): 21610 the recipient replied STOP — failed and
suppressed; 21211, 21612, 21614, 21606, 21408, 21617, 30036 and other 4xx codes —
failed; 20429 or HTTP 429 — retry after the ``Retry-After``; 30001 (queue overflow) —
retry; 20003 and HTTP 401 — credentials, the account's; 20005 and other HTTP 403 — the
account's. Twilio takes no idempotency key for messages: a 500/502/504 or a timeout is
unknown.

Reconciliation lists the newest messages to the number (``To``, a page of
`STATUS_PAGE`, newest first) and matches on the body (and the sender when it is a
number): the newest match wins, and its ``date_created`` must not be older than the
message (`StatusResult.taken_at`), so an earlier message with the same text proves
nothing. The list is not filtered by ``DateSent``: Twilio sets that only when it
actually sends, so a message still queued at Twilio (a long code sends one a second)
would not be listed and would be sent again. A full page without a match cannot prove
the message absent (it may be further down): the query is asked again later and the
message stays unknown meanwhile — it is never re-sent on a partial answer. Two identical
texts to one number within a minute cannot be told apart; that is reported as found
(nobody is messaged twice).

The account's balance: ``GET /2010-04-01/Accounts/{AccountSid}/Balance.json`` answers
``{"balance": "12.34", "currency": "USD"}`` (`TwilioSms.build_balance`).
"""

from __future__ import annotations

import base64
import email.utils
import functools
import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qsl, quote_plus, urlencode, urlsplit, urlunsplit

import httpx

from msgkit.core.delivery import Channel, MessageState
from msgkit.core.pricing import Balance
from msgkit.exceptions import RejectedError
from msgkit.providers import content
from msgkit.providers.base import (
    Capabilities,
    OutboundMessage,
    Outcome,
    SendRequest,
    SendResult,
    StatusResult,
)
from msgkit.providers.common import (
    Clock,
    dig,
    e164_address,
    error_for,
    error_results,
    http_failure,
    json_body,
    prepared_request,
    results,
    retry_after,
    text_or_none,
    utc_now,
)

__all__ = ["DEFAULT_BASE_URL", "MESSAGE_ID_PARAM", "TwilioSms", "with_message_id"]

DEFAULT_BASE_URL = "https://api.twilio.com"
MAX_BODY = 1600
MAX_VALIDITY = 36000
#: The query parameter of the status callback URL that carries our message id.
MESSAGE_ID_PARAM = "msgkit_id"

_OPTED_OUT = 21610
_RETRY_CODES = frozenset({20429, 30001})
_AUTH_CODES = frozenset({20003})
_ACCOUNT_CODES = frozenset({20005, 20008, 30002})
_HINTS = {
    21610: "the recipient replied STOP to this sender: they are added to the suppression list",
    21211: "the To number is not valid",
    21614: "the number cannot receive SMS (a landline?)",
    21612: "Twilio cannot reach this number from this sender",
    21606: "the From number cannot send to this destination: use another sender",
    21408: "enable this region in the Twilio console's geo permissions",
    30036: "the message expired before Twilio could send it (ValidityPeriod)",
    20003: "check the Account SID and the auth token (its environment variable)",
    20429: "too many concurrent requests: msgkit waits and retries",
}
#: Messages listed per status query (Twilio's default page; at most 1000).
STATUS_PAGE = 50
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _created(record: Mapping[str, Any]) -> datetime | None:
    """A listed message's ``date_created`` (RFC 2822, e.g. ``Mon, 16 Aug 2010 03:45:01
    +0000``), or None when absent or unreadable."""
    text = text_or_none(record.get("date_created"))
    if text is None:
        return None
    try:
        created = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return created if created.tzinfo else created.replace(tzinfo=timezone.utc)


_STATES = {
    "delivered": MessageState.DELIVERED,
    "read": MessageState.DELIVERED,
    "undelivered": MessageState.UNDELIVERED,
    "failed": MessageState.FAILED,
    "canceled": MessageState.FAILED,
}


def with_message_id(url: str, message_id: str) -> str:
    """A status callback URL that carries our message id.

    Example:
        >>> with_message_id("https://h.example/twilio/status?x=1", "m1")
        'https://h.example/twilio/status?x=1&msgkit_id=m1'
    """
    parts = urlsplit(url)
    query = [
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != MESSAGE_ID_PARAM
    ]
    query.append((MESSAGE_ID_PARAM, message_id))
    return urlunsplit(parts._replace(query=urlencode(query)))


def form_body(form: Sequence[tuple[str, str]]) -> bytes:
    """The form-encoded body of ``form``, whose names need no quoting (``To``,
    ``Body``...): ``urlencode(form)``, without quoting each name again (a third of
    its time a message)."""
    return "&".join([f"{name}={quote_plus(value)}" for name, value in form]).encode("ascii")


class TwilioSms:
    """The Twilio Messages adapter.

    Args:
        name: The configured provider name.
        account_sid: The Account SID.
        auth_token: The auth token (never shown).
        sender: The default ``From`` number or messaging service (``MG...``).
        status_callback: Where Twilio reports statuses (the inbound app's
            ``/hooks/NAME/status``), or None.
        base_url: The API host.
        clock: Gives the time ``ValidityPeriod`` counts from; injectable for tests.
    """

    def __init__(
        self,
        name: str = "twilio",
        *,
        account_sid: str,
        auth_token: str,
        sender: str | None = None,
        status_callback: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        clock: Clock = utc_now,
    ) -> None:
        self.name = name
        self.capabilities = Capabilities(
            channel=Channel.SMS,
            max_batch=1,
            scheme="gsm",
            content=content.THIRD_PARTY_SMS,
            idempotent=False,
            status_query=True,
            delivery_receipts=status_callback is not None,
            max_text=MAX_BODY,
            default_sender=sender,
        )
        self._sid = account_sid
        credentials = base64.b64encode(f"{account_sid}:{auth_token}".encode()).decode("ascii")
        self._authorization = f"Basic {credentials}"
        self._send_headers = (
            (b"Content-Type", b"application/x-www-form-urlencoded"),
            (b"Authorization", self._authorization.encode("ascii")),
        )
        self._sender = sender
        self._callback = status_callback
        self._account = f"{base_url.rstrip('/')}/2010-04-01/Accounts/{account_sid}"
        # Parsed once: httpx parses a URL given as text on every request it builds.
        self._base = httpx.URL(f"{self._account}/Messages.json")
        self._clock = clock

    def __repr__(self) -> str:
        return f"TwilioSms(name={self.name!r}, account_sid={self._sid!r}, auth_token=***)"

    def build_send(self, batch: Sequence[OutboundMessage]) -> list[SendRequest]:
        """One request per message.

        Raises:
            RejectedError: An address not in E.164, no sender, a body over 1600
                characters, or a message already expired.
        """
        return [self._message(message) for message in batch]

    def _message(self, message: OutboundMessage) -> SendRequest:
        to = e164_address(message, self.name)
        sender = message.sender or self._sender
        if not sender:
            raise RejectedError(
                f"message {message.id} has no sender",
                provider=self.name,
                hint="set sender (a number or MG... messaging service) for this provider",
            )
        if len(message.text) > MAX_BODY:
            raise RejectedError(
                f"message {message.id} has {len(message.text)} characters; Twilio takes {MAX_BODY}",
                provider=self.name,
                hint="shorten the template",
            )
        form: list[tuple[str, str]] = [("To", to), ("Body", message.text)]
        form.append(("MessagingServiceSid" if sender.startswith("MG") else "From", sender))
        form.extend(("MediaUrl", url) for url in message.media)
        if message.expires_at is not None:
            left = (message.expires_at - self._clock()).total_seconds()
            if left < 1:
                raise RejectedError(
                    f"message {message.id} expired before it was sent",
                    provider=self.name,
                    hint="expire messages before sending them",
                )
            form.append(("ValidityPeriod", str(min(MAX_VALIDITY, math.ceil(left)))))
        if self._callback:
            form.append(("StatusCallback", with_message_id(self._callback, message.id)))
        request = prepared_request("POST", self._base, self._send_headers, form_body(form))
        return SendRequest(request=request, message_ids=(message.id,))

    def parse_send(self, sent: SendRequest, response: httpx.Response) -> list[SendResult]:
        """One result; never raises, whatever the answer."""
        body = json_body(response)
        status = response.status_code
        sid = text_or_none(dig(body, "sid"))
        if 200 <= status < 300 and sid:
            if dig(body, "status") in ("failed", "undelivered"):
                return error_results(
                    sent,
                    Outcome.FAILED,
                    "Twilio failed the message",
                    provider=self.name,
                    code=text_or_none(dig(body, "error_code")),
                    provider_ids={sent.message_ids[0]: sid},
                )
            return results(sent, Outcome.ACCEPTED, provider_ids={sent.message_ids[0]: sid})
        raw_code = text_or_none(dig(body, "code"))
        code = int(raw_code) if raw_code is not None and raw_code.isdigit() else None
        # What only the HTTP status explains: no code, a 2xx without a sid, or a 5xx.
        unexplained = functools.partial(
            http_failure,
            sent,
            response,
            provider=self.name,
            idempotent=False,
            what="Twilio message",
            code=None if code is None else str(code),
        )
        if code is None or 200 <= status < 300:
            return unexplained()
        detail = text_or_none(dig(body, "message")) or f"error {code}"
        facts: dict[str, Any] = {"provider": self.name, "status": status, "code": str(code)}
        if code == _OPTED_OUT:
            return error_results(
                sent, Outcome.FAILED, detail, hint=_HINTS[code], suppress=True, **facts
            )
        if code in _RETRY_CODES or status == 429:
            wait = retry_after(response)
            return error_results(
                sent,
                Outcome.RETRY,
                detail,
                wait=wait,
                rate_limited=True,
                hint=_HINTS.get(code),
                **facts,
            )
        if code in _AUTH_CODES or status == 401:
            return error_results(
                sent, Outcome.ACCOUNT, detail, auth=True, hint=_HINTS.get(code), **facts
            )
        if code in _ACCOUNT_CODES or status == 403:
            return error_results(sent, Outcome.ACCOUNT, detail, **facts)
        if status >= 500:
            return unexplained()
        return error_results(sent, Outcome.FAILED, detail, hint=_HINTS.get(code), **facts)

    def build_status(self, message: OutboundMessage, sent_at: datetime) -> httpx.Request | None:
        """List the newest messages to the number, queued ones included (no ``DateSent``
        filter: a queued message has no ``date_sent`` yet)."""
        return httpx.Request(
            "GET",
            self._base,
            params={"To": message.to, "PageSize": str(STATUS_PAGE)},
            headers={"Authorization": self._authorization},
        )

    def parse_status(self, message: OutboundMessage, response: httpx.Response) -> StatusResult:
        """The newest message to the number with the same body (and sender).

        Raises:
            ProviderError: The query failed.
        """
        body = json_body(response)
        listed = dig(body, "messages")
        if not response.is_success or not isinstance(listed, list):
            outcome = Outcome.ACCOUNT if response.status_code in (401, 403) else Outcome.RETRY
            raise error_for(
                outcome,
                f"Twilio message list failed (HTTP {response.status_code})",
                provider=self.name,
                status=response.status_code,
                auth=response.status_code == 401,
            )
        sender = message.sender or self._sender
        matches = [
            m
            for m in listed
            if isinstance(m, Mapping)
            and m.get("body") == message.text
            and (not sender or sender.startswith("MG") or m.get("from") == sender)
        ]
        if not matches:
            if len(listed) >= STATUS_PAGE:
                raise error_for(
                    Outcome.RETRY,
                    f"the newest {len(listed)} messages to the number do not include it",
                    provider=self.name,
                    status=response.status_code,
                    hint="it may be further down the list: asked again later, "
                    "reported unknown if never found",
                )
            return StatusResult(message_id=message.id, found=False)
        newest = max(matches, key=lambda m: _created(m) or _EPOCH)
        state = _STATES.get(str(newest.get("status")), MessageState.SUBMITTED)
        return StatusResult(
            message_id=message.id,
            found=True,
            state=state,
            provider_message_id=text_or_none(newest.get("sid")),
            error_code=text_or_none(newest.get("error_code")),
            taken_at=_created(newest),
        )

    def build_balance(self) -> httpx.Request:
        """The account's balance query."""
        return httpx.Request(
            "GET",
            f"{self._account}/Balance.json",
            headers={"Authorization": self._authorization},
        )

    def parse_balance(self, response: httpx.Response) -> Balance:
        """The balance Twilio reports.

        Raises:
            ProviderError: The query failed (an `AuthError` for refused credentials) or
                answered no balance.
        """
        body = json_body(response)
        status = response.status_code
        if not response.is_success:
            outcome = Outcome.ACCOUNT if status in (401, 403) else Outcome.RETRY
            raw_code = text_or_none(dig(body, "code"))
            code = int(raw_code) if raw_code is not None and raw_code.isdigit() else None
            raise error_for(
                outcome,
                f"Twilio balance query failed (HTTP {status})",
                provider=self.name,
                status=status,
                code=raw_code,
                auth=status == 401 or code in _AUTH_CODES,
                hint=_HINTS.get(code) if code is not None else None,
            )
        try:
            return Balance(amount=dig(body, "balance"), currency=dig(body, "currency"))
        except ValueError as exc:
            raise error_for(
                Outcome.RETRY,
                f"Twilio answered no balance ({exc})",
                provider=self.name,
                status=status,
            ) from None
