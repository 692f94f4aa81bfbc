"""Alibaba Cloud SMS pushes: receipts (SmsReport) and replies (SmsUp). Pure: no I/O.

SMS pushes are not signed: the push URL carries a secret path token
(``/hooks/NAME/TOKEN/report``, ``/hooks/NAME/TOKEN/reply``), compared with
`msgkit.providers.webhooks.verify_token`. Alibaba wants HTTP 200
``{"code": 0, "msg": "成功"}`` (else it pushes again after 1, 5 and 10 minutes).

- **SmsReport**: ``[{phone_number, send_time, report_time, success, err_code, err_msg,
  sms_size, biz_id, out_id}]``; times are China time. ``out_id`` is our message id unless
  it is a batch mark (``b.``), and the provider id is `message_key` of ``biz_id`` and the
  number.
- **SmsUp**: ``[{phone_number, content, send_time, dest_code, sequence_id, sign_name?}]``;
  the scope is the signature when given, else the extension code.

Fields that come as numbers in some versions and strings in others (``sequence_id``,
``sms_size``, ``biz_id``) are accepted both ways; an item that cannot be read is skipped
and logged, the others are kept.
"""

from __future__ import annotations

import json
import logging

from pydantic import BaseModel, ConfigDict

from msgkit.core.delivery import Channel
from msgkit.core.events import DeliveryReceipt, ReceiptState, Reply
from msgkit.providers.alibaba.adapter import china_time, message_key, number_to_e164
from msgkit.providers.alibaba.settings import AlibabaSettings
from msgkit.providers.webhooks import (
    Answer,
    LenientText,
    WebhookRequest,
    WebhookRoute,
    Webhooks,
    our_id,
    read_items,
    verify_token,
)

__all__ = ["WEBHOOKS", "parse_alibaba_replies", "parse_alibaba_reports"]

log = logging.getLogger("msgkit.inbound")

ANSWER = Answer(
    body=json.dumps({"code": 0, "msg": "成功"}, ensure_ascii=False).encode("utf-8"),
    content_type="application/json; charset=utf-8",
)


class _Item(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _AlibabaReport(_Item):
    phone_number: LenientText
    send_time: LenientText = None
    report_time: LenientText = None
    success: bool | None = None
    err_code: LenientText = None
    err_msg: LenientText = None
    sms_size: int | None = None
    biz_id: LenientText = None
    out_id: LenientText = None


class _AlibabaUp(_Item):
    phone_number: LenientText
    content: LenientText = None
    send_time: LenientText = None
    dest_code: LenientText = None
    sequence_id: LenientText = None
    sign_name: LenientText = None


def parse_alibaba_reports(
    body: bytes, *, provider: str, digest_key: bytes | None = None
) -> list[DeliveryReceipt]:
    """Alibaba SmsReport pushes.

    Args:
        body: The pushed JSON.
        provider: The configured provider name.
        digest_key: What keyed the provider ids of the messages (`message_key`): the
            store's `digest_key`, which the webhook app passes on.

    Raises:
        ProviderError: The body is not a JSON array (or object).
    """
    receipts = []
    for item in read_items(body, _AlibabaReport, provider, "SmsReport"):
        raw = item.phone_number or ""
        delivered = item.success if item.success is not None else item.err_code == "DELIVERED"
        receipts.append(
            DeliveryReceipt(
                provider=provider,
                state=ReceiptState.DELIVERED if delivered else ReceiptState.UNDELIVERED,
                message_id=our_id(item.out_id),
                provider_message_id=(
                    message_key(item.biz_id, raw, digest_key=digest_key) if item.biz_id else None
                ),
                error_code=None if delivered else item.err_code,
                error_message=None if delivered else item.err_msg,
                phone=number_to_e164(raw, validate=False),
                occurred_at=china_time(item.report_time),
                sent_at=china_time(item.send_time),
                parts=item.sms_size,
            )
        )
    return receipts


def parse_alibaba_replies(body: bytes, *, provider: str) -> list[Reply]:
    """Alibaba SmsUp pushes (replies to our messages).

    Raises:
        ProviderError: The body is not a JSON array (or object).
    """
    replies = []
    for item in read_items(body, _AlibabaUp, provider, "SmsUp"):
        phone = number_to_e164(item.phone_number or "")
        if phone is None:
            log.warning("%s: skipped a reply from an unreadable number", provider)
            continue
        replies.append(
            Reply(
                provider=provider,
                channel=Channel.SMS,
                from_address=phone,
                text=item.content or "",
                scope=item.sign_name or item.dest_code,
                received_at=china_time(item.send_time),
                provider_message_id=item.sequence_id,
                phone=phone,
            )
        )
    return replies


def _verify(request: WebhookRequest) -> None:
    verify_token(request.params["token"], request.secret)


#: The webhooks of ``type = "alibaba"``: the token from ``webhook_token_env``.
WEBHOOKS = Webhooks(
    settings=AlibabaSettings,
    secret_setting="webhook_token_env",  # noqa: S106 (a setting name)
    routes=(
        WebhookRoute(
            path="{token}/report",
            verify=_verify,
            parse=lambda r: parse_alibaba_reports(
                r.body, provider=r.provider, digest_key=r.digest_key
            ),
            answer=ANSWER,
        ),
        WebhookRoute(
            path="{token}/reply",
            verify=_verify,
            parse=lambda r: parse_alibaba_replies(r.body, provider=r.provider),
            answer=ANSWER,
        ),
    ),
)
