"""Alibaba Cloud SMS (Dysmsapi 2017-05-25), sans-IO.

Sending
    A batch whose messages share template, signature and parameters goes out as
    **SendSms** (up to 1000 numbers in ``PhoneNumbers``); messages with their own
    parameters or signatures go out as **SendBatchSms** (up to 100, one template,
    ``PhoneNumberJson`` / ``SignNameJson`` / ``TemplateParamJson``). A number never
    appears twice in one request. Requests are POSTed form-encoded (the RPC style takes
    GET or POST; POST keeps 1000 numbers out of the URL), signed with `rpc_signature`.

Matching receipts
    One request gets one ``BizId`` whatever its size, and one ``OutId``. So the
    provider id of each message is ``"{BizId}:{digest of the number}"`` (`message_key`;
    a digest, so that ids in logs do not show numbers), which the receipt (``biz_id`` +
    ``phone_number``) gives back exactly. ``OutId`` is our message
    id when the request carries one message, and ``"b.{campaign id}.{step}"`` (a batch
    mark: message ids have no ``.``) when it carries several; a request never mixes
    campaigns or steps, so the mark says whose batch a record belongs to.

Errors (``Code`` of the answer)
    - per number (``isv.MOBILE_NUMBER_ILLEGAL``, ``isv.BLACK_KEY_CONTROL_LIMIT`` — the
      number is blacklisted —, ``isv.BUSINESS_LIMIT_CONTROL``): failed for a lone
      message; in a request of several, Alibaba does not say which number, so every
      message is sent again alone (``isolate``). ``BUSINESS_LIMIT_CONTROL`` is the
      per-number flow control; its message names the window ("触发分钟级流控",
      "小时级", "天级"), and the message is not retried before it resets: 60 s, 1 h,
      24 h (24 h also when the window is not named: Alibaba's documentation counts the
      day both as a calendar day and as a rolling 24 h; 24 h is safe under both).
    - per message content in a SendBatchSms (a parameter or signature of one member):
      ``isolate`` as well; the same code for a SendSms fails every message.
    - ``Throttling*``, ``isp.*``, ``SignatureNonceUsed``: retry.
    - no balance, daily/monthly caps set in the console, credentials, clock skew,
      permissions: account-level, stop the campaign.
    - anything else refused: failed.
    There is no idempotency: a timeout or garbage answer is ``unknown`` and is
    reconciled with QuerySendDetails before anything is sent again.

Reconciliation (QuerySendDetails)
    One number, one day (``SendDate`` in China time), 50 records a page. The detail
    records are ``SmsSendDetailDTOs.SmsSendDetailDTO[]`` with ``PhoneNum``,
    ``SendStatus`` (1 waiting for the receipt, 2 failed, 3 delivered), ``ErrCode``,
    ``TemplateCode``, ``Content``, ``SendDate``, ``ReceiveDate``, ``OutId`` — checked
    against the generated SDK model (aliyun/alibabacloud-csharp-sdk,
    ``dysmsapi-20170525/core/Models/QuerySendDetailsResponseBody.cs``); older docs write
    the same names in lower camel case, which is accepted too. The records carry no
    ``BizId``. A message is matched on ``OutId`` = its id; one sent in a batch is matched
    on its own campaign's batch mark and its template code — never on another
    campaign's record for the same number and template, which proves nothing about this
    message. When several records of its own batch mark could be it (a trigger that
    messaged the number twice that day), the answer is "found" (the conservative
    answer: nobody is messaged twice).

Review of templates and signatures
    Templates: **CreateSmsTemplate** (``TemplateName``, ``TemplateContent``,
    ``TemplateType`` 0 verification / 1 notification / 2 promotional / 3 international
    with ``IntlType``, ``Remark``, ``RelatedSignName``, ``ApplySceneContent``; answers
    ``TemplateCode`` and ``OrderId``) and **GetSmsTemplate** (``TemplateCode``; answers
    ``TemplateStatus`` "0" under review, "1" approved, "2" rejected with
    ``AuditInfo.RejectInfo``, "10" review cancelled). Signatures: **CreateSmsSign**
    (``SignName``, ``SignSource`` 0–5, ``QualificationId``, ``SignType``,
    ``ThirdParty``, ``Remark``, ``ApplySceneContent``) and **GetSmsSign** (``SignName``;
    answers ``SignStatus`` with the same codes). Source: the generated SDK models
    (``CreateSmsTemplateRequest.cs``, ``GetSmsTemplateResponseBody.cs``,
    ``CreateSmsSignRequest.cs``, ``GetSmsSignResponseBody.cs``) and help.aliyun.com's
    CreateSmsTemplate page, which replaces the deprecated AddSmsTemplate /
    QuerySmsTemplate. A cancelled review reads as `ReviewStatus.DRAFT`.

Uncertain
    Digital (multimedia) templates are created with CreateDigitalSmsTemplate (files
    as base64), which this module does not build; how an approved digital template is
    sent was not found in the documentation searched. msgkit sends its template code
    through SendSms like any other: check with Alibaba before relying on it.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, Literal
from urllib.parse import quote

import attrs
import httpx

from msgkit.core.contacts import is_e164, parse_phone
from msgkit.core.delivery import Channel, MessageState
from msgkit.core.templates import ReviewStatus, Template, TemplateKind, Variable
from msgkit.exceptions import ConfigError, InvalidPhoneError, RejectedError
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
    results,
    text_or_none,
    utc_now,
)

__all__ = [
    "API_VERSION",
    "DEFAULT_BASE_URL",
    "AlibabaSms",
    "ReviewResult",
    "china_time",
    "message_key",
    "number_key",
    "number_to_e164",
    "percent_encode",
    "rpc_signature",
]

API_VERSION = "2017-05-25"
DEFAULT_BASE_URL = "https://dysmsapi.aliyuncs.com"
SEND_SMS_MAX = 1000
SEND_BATCH_MAX = 100
#: China Standard Time: Alibaba's dates (SendDate, receipts) are written in it.
CHINA = timezone(timedelta(hours=8), "CST")


def percent_encode(value: str) -> str:
    """Percent-encode as the RPC signature wants: UTF-8, only ``A-Za-z0-9-_.~`` kept.

    Example:
        >>> percent_encode("a b*c~")
        'a%20b%2Ac~'
    """
    return quote(value, safe="-_.~")


def rpc_signature(params: Mapping[str, str], access_key_secret: str, method: str = "GET") -> str:
    """The Alibaba Cloud RPC signature (v1, HMAC-SHA1) of a request's parameters.

    Every parameter but ``Signature`` is sorted by name, percent-encoded and joined
    into the canonical query; the string to sign is
    ``METHOD&%2F&percent_encode(canonical query)``; the key is the secret plus ``&``.

    Args:
        params: The request parameters, common ones included.
        access_key_secret: The AccessKey secret.
        method: The HTTP method the request is sent with.

    Returns:
        The base64 signature, to send as ``Signature``.

    Example:
        >>> rpc_signature({"AccessKeyId": "testid", "Action": "DescribeRegions",
        ...     "Format": "XML", "SignatureMethod": "HMAC-SHA1",
        ...     "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf",
        ...     "SignatureVersion": "1.0", "Timestamp": "2016-02-23T12:46:24Z",
        ...     "Version": "2014-05-26"}, "testsecret")
        'OLeaidS1JvxuMvnyHOwuJ+uX5qY='
    """
    canonical = "&".join(
        f"{percent_encode(k)}={percent_encode(v)}"
        for k, v in sorted(params.items())
        if k != "Signature"
    )
    to_sign = f"{method.upper()}&{percent_encode('/')}&{percent_encode(canonical)}"
    digest = hmac.new(
        (access_key_secret + "&").encode("utf-8"), to_sign.encode("utf-8"), hashlib.sha1
    ).digest()
    return base64.b64encode(digest).decode("ascii")


def _number(e164: str) -> str:
    """How Alibaba wants a number: 11 national digits in mainland China, else the
    country code and number without ``+``."""
    if e164.startswith("+86") and len(e164) == 14:
        return e164[3:]
    return e164[1:]


def number_key(raw: str) -> str:
    """A number as Alibaba writes it back in receipts, normalised like `_number`.

    Example:
        >>> number_key("+86 138-0013-8000"), number_key("85212345678")
        ('13800138000', '85212345678')
    """
    digits = raw if raw.isdigit() else "".join(ch for ch in raw if ch.isdigit())
    if digits.startswith("0086"):
        digits = digits[2:]
    if digits.startswith("86") and len(digits) == 13:
        return digits[2:]
    return digits


def number_to_e164(raw: str, *, validate: bool = True) -> str | None:
    """A number as Alibaba writes it (``13800138000``, ``85212345678``) in E.164, or None.

    Args:
        raw: The number from a receipt or a reply.
        validate: Check it with `parse_phone` (about 50 µs); without, a number of the
            right shape is trusted — right for receipts, which name numbers we sent to.

    Example:
        >>> number_to_e164("13800138000"), number_to_e164("85251234567"), number_to_e164("1")
        ('+8613800138000', '+85251234567', None)
    """
    key = number_key(raw)
    candidate = f"+86{key}" if len(key) == 11 and key.startswith("1") else f"+{key}"
    if not validate:
        return candidate if is_e164(candidate) else None
    try:
        return parse_phone(candidate).e164
    except InvalidPhoneError:
        return None


def message_key(biz_id: str, number: str, *, digest_key: bytes | None = None) -> str:
    """Our provider id of one Alibaba message: its request's ``BizId`` and a digest of
    its number (12 hex characters: unique within a request, no number in logs).

    A receipt names the message by ``biz_id`` and ``phone_number`` only (a request's
    ``OutId`` is shared by its numbers), so the number is what tells its messages apart.
    Without ``digest_key`` the digest is SHA-256's: anyone can compute it from a
    candidate number, which is right only where the numbers are stored in clear anyway.
    An encrypted store keys it (``digest_key``, the store's `digest_key`: BLAKE2b keyed),
    so that its stored ids cannot be matched against candidate numbers.

    Example:
        >>> message_key("123^0", "+8613800138000") == message_key("123^0", "13800138000")
        True
        >>> message_key("123^0", "13800138000")
        '123^0:...'
        >>> key = bytes(32)
        >>> message_key("1^0", "13800138000", digest_key=key) != message_key("1^0", "13800138000")
        True
    """
    data = number_key(number).encode("ascii")
    if digest_key is None:
        digest = hashlib.sha256(data).hexdigest()[:12]
    else:
        digest = hashlib.blake2b(data, key=digest_key, digest_size=6).hexdigest()
    return f"{biz_id}:{digest}"


def china_time(value: Any) -> datetime | None:
    """A time as Alibaba writes it (``2026-03-01 12:00:00``, China time), in UTC, or None."""
    text = text_or_none(value)
    return None if text is None else _china_time(text)


@functools.lru_cache(maxsize=4096)
def _china_time(text: str) -> datetime | None:
    """`china_time` of a text (the receipts of a push share a few seconds: cached)."""
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        parsed = None
    if parsed is not None:
        aware = parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=CHINA)
        return aware.astimezone(timezone.utc)
    for fmt in ("%Y-%m-%d %H:%M", "%Y%m%d%H%M%S"):
        try:
            return (
                datetime.strptime(text.strip(), fmt).replace(tzinfo=CHINA).astimezone(timezone.utc)
            )
        except ValueError:
            continue
    return None


@attrs.frozen(kw_only=True)
class ReviewResult:
    """Where a template or signature stands in Alibaba's review.

    Attributes:
        code: The template code (``SMS_...``) or the signature name.
        status: Pending, approved, rejected, or draft (review cancelled).
        reason: Why it was rejected, when it was.
        order_id: Alibaba's work order, to quote when asking to speed the review up.
    """

    code: str
    status: ReviewStatus
    reason: str | None = None
    order_id: str | None = None


_REVIEW = {
    "0": ReviewStatus.PENDING,
    "1": ReviewStatus.APPROVED,
    "2": ReviewStatus.REJECTED,
    "10": ReviewStatus.DRAFT,
}

# Error codes, as wire.md and the API error code page list them.
_NUMBER_CODES = frozenset(
    {
        "isv.MOBILE_NUMBER_ILLEGAL",
        "isv.BLACK_KEY_CONTROL_LIMIT",
        "isv.BUSINESS_LIMIT_CONTROL",
        "isv.DOMESTIC_NUMBER_NOT_SUPPORTED",
        "isv.MOBILE_COUNT_OVER_LIMIT",
    }
)
_MEMBER_CODES = frozenset(
    {
        "isv.TEMPLATE_MISSING_PARAMETERS",
        "isv.INVALID_JSON_PARAM",
        "isv.TEMPLATE_PARAMS_ILLEGAL",
        "isv.PARAM_LENGTH_LIMIT",
        "isv.PARAM_NOT_SUPPORT_URL",
        "isv.SMS_SIGNATURE_ILLEGAL",
        "isv.SMS_SIGN_ILLEGAL",
        "isv.SIGN_STATE_ILLEGAL",
        "isv.SMS_SIGNATURE_SCENE_ILLEGAL",
        "isv.SMS_CONTENT_ILLEGAL",
    }
)
_RETRY_CODES = frozenset(
    {
        "Throttling",
        "Throttling.User",
        "Throttling.Api",
        "SignatureNonceUsed",
        "ServiceUnavailable",
        "InternalError",
    }
)
_AUTH_CODES = frozenset(
    {
        "SignatureDoesNotMatch",
        "IncompleteSignature",
        "InvalidAccessKeyId.NotFound",
        "InvalidAccessKeyId.Inactive",
        "InvalidAccessKeyId",
        "InvalidTimeStamp.Expired",
        "isp.RAM_PERMISSION_DENY",
        "Forbidden.RAM",
    }
)
_ACCOUNT_CODES = frozenset(
    {
        "isv.AMOUNT_NOT_ENOUGH",
        "isv.OUT_OF_SERVICE",
        "isv.DAY_LIMIT_CONTROL",
        "isv.MONTH_LIMIT_CONTROL",
        "isv.ACCOUNT_ABNORMAL",
        "isv.ACCOUNT_NOT_EXISTS",
        "isv.PRODUCT_UN_SUBSCRIPT",
        "isv.PRODUCT_UNSUBSCRIBE",
        "isv.DENY_IP_RANGE",
    }
)
_CODE_HINTS = {
    "isv.AMOUNT_NOT_ENOUGH": "top up the Alibaba Cloud account, then resume",
    "isv.OUT_OF_SERVICE": "the account is out of service (no balance): top it up, then resume",
    "isv.DAY_LIMIT_CONTROL": "the daily cap set in the SMS console is reached: raise it or "
    "resume tomorrow",
    "isv.MONTH_LIMIT_CONTROL": "the monthly cap set in the SMS console is reached: raise it",
    "InvalidTimeStamp.Expired": "this machine's clock is off: synchronise it (NTP)",
    "SignatureDoesNotMatch": "check the AccessKey secret (its environment variable)",
    "isv.BUSINESS_LIMIT_CONTROL": "the per-number flow control of Alibaba: the message waits "
    "for the window to reset",
    "isv.TEMPLATE_MISSING_PARAMETERS": "give every variable of the template a value",
    "isv.SMS_TEMPLATE_ILLEGAL": "use an approved template code of this account",
    "isv.SMS_SIGNATURE_ILLEGAL": "use an approved signature of this account",
}
_WINDOWS = (("分钟", 60.0), ("小时", 3600.0), ("天", 86400.0))
_DAY = 86400.0


def _classify(code: str) -> tuple[Outcome, bool]:
    """The outcome of an error code, and whether the credentials are at fault."""
    if code in _AUTH_CODES:
        return Outcome.ACCOUNT, True
    if code in _ACCOUNT_CODES:
        return Outcome.ACCOUNT, False
    if code in _RETRY_CODES or code.startswith("isp.") or code == "isv.BUSINESS_LIMIT_CONTROL":
        return Outcome.RETRY, False
    return Outcome.FAILED, False


def _flow_window(message: str) -> float:
    for word, seconds in _WINDOWS:
        if word in message:
            return seconds
    lowered = message.lower()
    for word, seconds in (("minute", 60.0), ("hour", 3600.0), ("day", _DAY)):
        if word in lowered:
            return seconds
    return _DAY


@attrs.frozen
class _Prepared:
    message: OutboundMessage
    number: str
    sign: str
    params: str
    extend: str | None

    @property
    def content_key(self) -> tuple[object, ...]:
        return (*self.batch_key, self.sign, self.params, self.extend)

    @property
    def batch_key(self) -> tuple[str | None, str, int]:
        """What the members of one request share: the template, the campaign and step
        (so that the batch mark in ``OutId`` names whose messages a record is)."""
        return (self.message.template_code, self.message.campaign_id, self.message.step)


def _chunks(members: Sequence[_Prepared], size: int) -> list[list[_Prepared]]:
    """Chunks of at most ``size``, no number twice in a chunk, order kept."""
    chunks: list[list[_Prepared]] = []
    numbers: list[set[str]] = []
    for member in members:
        for chunk, seen in zip(chunks, numbers, strict=True):
            if len(chunk) < size and member.number not in seen:
                chunk.append(member)
                seen.add(member.number)
                break
        else:
            chunks.append([member])
            numbers.append({member.number})
    return chunks


class AlibabaSms:
    """The Alibaba Cloud SMS adapter.

    Args:
        name: The configured provider name.
        access_key_id: The AccessKey id.
        access_key_secret: The AccessKey secret (never shown).
        sign_name: The signature used when a message names none.
        base_url: The API endpoint.
        region_id: ``RegionId`` of every call.
        standard_account: Whether promotional templates are limited to fixed text
            (see `msgkit.providers.content.alibaba`).
        http_method: ``POST`` (default) or ``GET``.
        clock: Gives the time of ``Timestamp``; injectable for tests.
        nonce: Gives each ``SignatureNonce``; injectable for tests.
        digest_key: Keys the number's digest in provider ids (`message_key`). The
            client sets it to its store's `digest_key` (None for a plain store), as the
            webhook app does for the receipts: leave it to them.
    """

    def __init__(
        self,
        name: str = "alibaba",
        *,
        access_key_id: str,
        access_key_secret: str,
        sign_name: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        region_id: str = "cn-hangzhou",
        standard_account: bool = True,
        http_method: Literal["GET", "POST"] = "POST",
        clock: Clock = utc_now,
        nonce: Callable[[], str] = lambda: uuid.uuid4().hex,
        digest_key: bytes | None = None,
    ) -> None:
        self.name = name
        self.digest_key = digest_key
        self.capabilities = Capabilities(
            channel=Channel.SMS,
            max_batch=SEND_SMS_MAX,
            scheme="cn",
            content=content.alibaba(standard_account=standard_account),
            renders_templates=True,
            rate_per_second=5000.0,
            idempotent=False,
            status_query=True,
            delivery_receipts=True,
            sender_review=True,
            max_text=500,
            default_sender=sign_name,
        )
        self._key_id = access_key_id
        self._secret = access_key_secret
        self._sign_name = sign_name
        self._url = base_url.rstrip("/") + "/"
        self._region = region_id
        self._method = http_method
        self._clock = clock
        self._nonce = nonce

    def __repr__(self) -> str:
        return f"AlibabaSms(name={self.name!r}, access_key_id={self._key_id!r}, secret=***)"

    # -- requests ---------------------------------------------------------------------

    def request(self, action: str, params: Mapping[str, str]) -> httpx.Request:
        """A signed RPC request for any Dysmsapi action."""
        now = self._clock().astimezone(timezone.utc)
        full = {
            "Action": action,
            "Version": API_VERSION,
            "RegionId": self._region,
            "Format": "JSON",
            "AccessKeyId": self._key_id,
            "SignatureMethod": "HMAC-SHA1",
            "SignatureVersion": "1.0",
            "SignatureNonce": self._nonce(),
            "Timestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            **params,
        }
        full["Signature"] = rpc_signature(full, self._secret, self._method)
        if self._method == "GET":
            return httpx.Request("GET", self._url, params=full)
        return httpx.Request("POST", self._url, data=full)

    def _prepare(self, message: OutboundMessage) -> _Prepared:
        if not message.template_code:
            raise RejectedError(
                f"message {message.id} has no template code",
                provider=self.name,
                hint="Alibaba sends approved templates only: give the template its code",
            )
        e164_address(message, self.name)
        sign = message.sender or self._sign_name
        if not sign:
            raise RejectedError(
                f"message {message.id} has no signature",
                provider=self.name,
                hint="set sign_name for this provider, or a sender on the campaign",
            )
        params = (
            json.dumps(
                dict(message.params), ensure_ascii=False, sort_keys=True, separators=(",", ":")
            )
            if message.params
            else ""
        )
        extend = message.options.get("extend_code")
        return _Prepared(message, _number(message.to), sign, params, extend and str(extend))

    def build_send(self, batch: Sequence[OutboundMessage]) -> list[SendRequest]:
        """SendSms for messages of the same content, SendBatchSms for the others.

        Raises:
            RejectedError: A message has no template code, signature or E.164 number.
        """
        prepared = [self._prepare(message) for message in batch]
        same: dict[tuple[object, ...], list[_Prepared]] = {}
        for item in prepared:
            same.setdefault(item.content_key, []).append(item)
        requests: list[SendRequest] = []
        alone: dict[tuple[str | None, str, int], list[_Prepared]] = {}
        for members in same.values():
            if len(members) > 1:
                requests.extend(self._send_sms(c) for c in _chunks(members, SEND_SMS_MAX))
            else:
                alone.setdefault(members[0].batch_key, []).append(members[0])
        for members in alone.values():
            for chunk in _chunks(members, SEND_BATCH_MAX):
                requests.append(
                    self._send_sms(chunk) if len(chunk) == 1 else self._send_batch(chunk)
                )
        return requests

    @staticmethod
    def _out_id(chunk: Sequence[_Prepared]) -> str:
        first = chunk[0].message
        return first.id if len(chunk) == 1 else batch_mark(first)

    def _sent(self, action: str, chunk: Sequence[_Prepared], params: dict[str, str]) -> SendRequest:
        params["OutId"] = self._out_id(chunk)
        return SendRequest(
            request=self.request(action, params),
            message_ids=tuple(item.message.id for item in chunk),
            context={
                "action": action,
                "numbers": {item.message.id: item.number for item in chunk},
            },
        )

    def _send_sms(self, chunk: Sequence[_Prepared]) -> SendRequest:
        first = chunk[0]
        params = {
            "PhoneNumbers": ",".join(item.number for item in chunk),
            "SignName": first.sign,
            "TemplateCode": str(first.message.template_code),
        }
        if first.params:
            params["TemplateParam"] = first.params
        if first.extend:
            params["SmsUpExtendCode"] = first.extend
        return self._sent("SendSms", chunk, params)

    def _send_batch(self, chunk: Sequence[_Prepared]) -> SendRequest:
        def array(values: list[Any]) -> str:
            return json.dumps(values, ensure_ascii=False, separators=(",", ":"))

        params = {
            "PhoneNumberJson": array([item.number for item in chunk]),
            "SignNameJson": array([item.sign for item in chunk]),
            "TemplateCode": str(chunk[0].message.template_code),
            "TemplateParamJson": array([json.loads(item.params or "{}") for item in chunk]),
        }
        if any(item.extend for item in chunk):
            params["SmsUpExtendCodeJson"] = array([item.extend or "" for item in chunk])
        return self._sent("SendBatchSms", chunk, params)

    # -- responses --------------------------------------------------------------------

    def parse_send(self, sent: SendRequest, response: httpx.Response) -> list[SendResult]:
        """One result per message; never raises, whatever the answer."""
        body = json_body(response)
        code = text_or_none(dig(body, "Code"))
        request_id = text_or_none(dig(body, "RequestId"))
        if code is None:
            return http_failure(
                sent, response, provider=self.name, idempotent=False, what="SendSms"
            )
        message = text_or_none(dig(body, "Message")) or code
        numbers: Mapping[str, str] = sent.context.get("numbers", {})
        if code == "OK":
            biz_id = text_or_none(dig(body, "BizId"))
            ids = {
                mid: (
                    message_key(biz_id, numbers.get(mid, ""), digest_key=self.digest_key)
                    if biz_id
                    else None
                )
                for mid in sent.message_ids
            }
            return results(sent, Outcome.ACCEPTED, provider_ids=ids)
        several = len(sent.message_ids) > 1
        batch = sent.context.get("action") == "SendBatchSms"
        facts: dict[str, Any] = {
            "provider": self.name,
            "status": response.status_code,
            "code": code,
            "request_id": request_id,
        }
        if several and (code in _NUMBER_CODES or (batch and code in _MEMBER_CODES)):
            return error_results(
                sent,
                Outcome.RETRY,
                f"Alibaba refused the request for one of its {len(sent.message_ids)} "
                f"messages: {message}",
                hint="each message is sent again on its own",
                isolate=True,
                **facts,
            )
        outcome, auth = _classify(code)
        wait = _flow_window(message) if code == "isv.BUSINESS_LIMIT_CONTROL" else None
        return error_results(
            sent,
            outcome,
            message,
            wait=wait,
            auth=auth,
            rate_limited=code.startswith("Throttling") or wait is not None,
            hint=_CODE_HINTS.get(code),
            **facts,
        )

    # -- reconciliation ---------------------------------------------------------------

    def build_status(self, message: OutboundMessage, sent_at: datetime) -> httpx.Request | None:
        """QuerySendDetails for the message's number on the day it was sent (China time)."""
        day = sent_at.astimezone(CHINA).strftime("%Y%m%d")
        return self.request(
            "QuerySendDetails",
            {
                "PhoneNumber": _number(message.to),
                "SendDate": day,
                "PageSize": "50",
                "CurrentPage": "1",
            },
        )

    def parse_status(self, message: OutboundMessage, response: httpx.Response) -> StatusResult:
        """Find the message among the day's records of its number.

        Raises:
            ProviderError: The query failed (throttled, refused, unreadable).
        """
        body = self._checked(response, "QuerySendDetails")
        records = _detail_records(body)
        exact = [r for r in records if _field(r, "OutId") == message.id]
        mark = batch_mark(message)
        candidates = exact or [
            r
            for r in records
            if _field(r, "OutId") == mark and _field(r, "TemplateCode") == message.template_code
        ]
        if not candidates:
            # Sent by an earlier msgkit, whose batch mark ("b." and the batch's first id)
            # does not name the campaign: a record with it and the same template counts
            # when it is not older than the message (checked by the engine), so a batch
            # in flight across an upgrade is not sent twice.
            candidates = [
                r
                for r in records
                if (_field(r, "OutId") or "").startswith("b.")
                and (_field(r, "OutId") or "").count(".") == 1
                and _field(r, "TemplateCode") == message.template_code
            ]
        if not candidates:
            return StatusResult(message_id=message.id, found=False)
        record = max(candidates, key=lambda r: _field(r, "SendDate") or "")
        status = _field(record, "SendStatus")
        state = {
            "1": MessageState.SUBMITTED,
            "2": MessageState.UNDELIVERED,
            "3": MessageState.DELIVERED,
        }.get(status or "", MessageState.SUBMITTED)
        return StatusResult(
            message_id=message.id,
            found=True,
            state=state,
            error_code=_field(record, "ErrCode") if state is not MessageState.DELIVERED else None,
            taken_at=china_time(_field(record, "SendDate")),
        )

    def _checked(self, response: httpx.Response, action: str) -> Any:
        """The body of a successful answer to a query or review call, else raise."""
        body = json_body(response)
        code = text_or_none(dig(body, "Code"))
        if code == "OK" and response.is_success:
            return body
        if code is None:
            auth = response.status_code in (401, 403)
            outcome = Outcome.ACCOUNT if auth else Outcome.RETRY
            message = f"unreadable answer (HTTP {response.status_code})"
        else:
            outcome, auth = _classify(code)
            message = text_or_none(dig(body, "Message")) or code
        raise error_for(
            outcome,
            f"{action}: {message}",
            provider=self.name,
            status=response.status_code,
            code=code,
            request_id=text_or_none(dig(body, "RequestId")),
            auth=auth,
            rate_limited=(code or "").startswith("Throttling"),
            hint=_CODE_HINTS.get(code or ""),
        )

    # -- review of templates and signatures -------------------------------------------

    def build_template_submit(
        self,
        template: Template,
        *,
        remark: str,
        name: str | None = None,
        related_sign_name: str | None = None,
        apply_scene: str | None = None,
        international: bool = False,
    ) -> httpx.Request:
        """CreateSmsTemplate: submit a template for review.

        Variables keep their ``${name}`` form (defaults are applied by msgkit when it
        fills ``TemplateParam``), link placeholders become their target URL.

        Raises:
            ConfigError: For a multimedia template (created with
                CreateDigitalSmsTemplate, not built here).
        """
        kinds = {TemplateKind.NOTIFICATION: "1", TemplateKind.PROMOTIONAL: "2"}
        if template.kind not in kinds:
            raise ConfigError(
                "multimedia templates are not submitted through CreateSmsTemplate",
                key="template.kind",
                hint="create digital templates in the Alibaba console",
            )
        body = "".join(
            token
            if isinstance(token, str)
            else f"${{{token.name}}}"
            if isinstance(token, Variable)
            else token.url
            for token in template.tokens
        )
        params = {
            "TemplateName": (name or template.name or template.code or "msgkit")[:30],
            "TemplateContent": body,
            "TemplateType": "3" if international else kinds[template.kind],
            "Remark": remark,
        }
        if international:
            params["IntlType"] = kinds[template.kind]
        if related_sign_name:
            params["RelatedSignName"] = related_sign_name
        if apply_scene:
            params["ApplySceneContent"] = apply_scene
        return self.request("CreateSmsTemplate", params)

    def parse_template_submit(self, response: httpx.Response) -> ReviewResult:
        """The code of the submitted template, pending review.

        Raises:
            ProviderError: The submission was refused.
        """
        body = self._checked(response, "CreateSmsTemplate")
        code = text_or_none(dig(body, "TemplateCode"))
        if code is None:
            raise error_for(
                Outcome.RETRY, "CreateSmsTemplate answered no TemplateCode", provider=self.name
            )
        return ReviewResult(
            code=code, status=ReviewStatus.PENDING, order_id=text_or_none(dig(body, "OrderId"))
        )

    def build_template_status(self, template_code: str) -> httpx.Request:
        """GetSmsTemplate: ask where a template stands in review."""
        return self.request("GetSmsTemplate", {"TemplateCode": template_code})

    def parse_template_status(self, response: httpx.Response) -> ReviewResult:
        """The review status of a template.

        Raises:
            ProviderError: The query failed.
        """
        body = self._checked(response, "GetSmsTemplate")
        return self._review(body, "TemplateCode", "TemplateStatus")

    def build_signature_submit(
        self,
        sign_name: str,
        *,
        source: int,
        qualification_id: int,
        remark: str,
        apply_scene: str | None = None,
        verification_only: bool = False,
        third_party: bool = False,
    ) -> httpx.Request:
        """CreateSmsSign: submit a signature for review.

        Args:
            sign_name: The signature, without ``【】``.
            source: 0 company, 1 website, 2 app, 3 official account or mini program,
                4 e-commerce shop, 5 trademark.
            qualification_id: The approved qualification it is backed by.
            remark: The scenario, for the reviewers.
            apply_scene: A link showing the scenario (site, app store page).
            verification_only: A verification-code signature instead of a general one.
            third_party: The signature is used for another company.
        """
        params = {
            "SignName": sign_name,
            "SignSource": str(source),
            "QualificationId": str(qualification_id),
            "SignType": "0" if verification_only else "1",
            "ThirdParty": "true" if third_party else "false",
            "Remark": remark,
        }
        if apply_scene:
            params["ApplySceneContent"] = apply_scene
        return self.request("CreateSmsSign", params)

    def parse_signature_submit(self, response: httpx.Response) -> ReviewResult:
        """The submitted signature, pending review.

        Raises:
            ProviderError: The submission was refused.
        """
        body = self._checked(response, "CreateSmsSign")
        return ReviewResult(
            code=text_or_none(dig(body, "SignName")) or "",
            status=ReviewStatus.PENDING,
            order_id=text_or_none(dig(body, "OrderId")),
        )

    def build_signature_status(self, sign_name: str) -> httpx.Request:
        """GetSmsSign: ask where a signature stands in review."""
        return self.request("GetSmsSign", {"SignName": sign_name})

    def parse_signature_status(self, response: httpx.Response) -> ReviewResult:
        """The review status of a signature.

        Raises:
            ProviderError: The query failed.
        """
        body = self._checked(response, "GetSmsSign")
        return self._review(body, "SignName", "SignStatus")

    def _review(self, body: Any, code_field: str, status_field: str) -> ReviewResult:
        raw = text_or_none(dig(body, status_field))
        status = _REVIEW.get(raw or "")
        if status is None:
            raise error_for(
                Outcome.RETRY,
                f"unknown review status {raw!r}",
                provider=self.name,
                code=raw,
                request_id=text_or_none(dig(body, "RequestId")),
            )
        reason = text_or_none(dig(body, "AuditInfo.RejectInfo")) or text_or_none(
            dig(body, "Reason")
        )
        return ReviewResult(
            code=text_or_none(dig(body, code_field)) or "",
            status=status,
            reason=reason if status is ReviewStatus.REJECTED else None,
            order_id=text_or_none(dig(body, "OrderId")),
        )


def batch_mark(message: OutboundMessage) -> str:
    """The ``OutId`` of a request of several messages: their campaign and step (message
    ids have no ``.``, so a mark is never taken for one)."""
    return f"b.{message.campaign_id}.{message.step}"[:255]


def _field(record: Mapping[str, Any], name: str) -> str | None:
    value = record.get(name)
    if value is None:
        value = record.get(name[0].lower() + name[1:])
    return text_or_none(value)


def _detail_records(body: Any) -> list[Mapping[str, Any]]:
    if not isinstance(body, Mapping):
        return []
    outer = body.get("SmsSendDetailDTOs", body.get("smsSendDetailDTOs"))
    inner = (
        outer.get("SmsSendDetailDTO", outer.get("smsSendDetailDTO"))
        if isinstance(outer, Mapping)
        else outer
    )
    if not isinstance(inner, list):
        return []
    return [record for record in inner if isinstance(record, Mapping)]
