"""Tests of msgkit.inbound.parsers: real payload shapes into typed events."""

from __future__ import annotations

import contextlib
import json
from datetime import datetime, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from msgkit.core.delivery import Channel
from msgkit.core.message import Receipt
from msgkit.exceptions import ProviderError
from msgkit.inbound import DeliveryReceipt, ReceiptState
from msgkit.inbound.parsers import (
    parse_alibaba_replies,
    parse_alibaba_reports,
    parse_chatwoot_event,
    parse_click,
    parse_line_events,
    parse_twilio_inbound,
    parse_twilio_status,
)
from msgkit.providers.alibaba import message_key
from tests.inbound.payloads import CHATWOOT, LINE_WEBHOOK, REPORT

NOW = datetime(2026, 3, 1, 4, 0, tzinfo=timezone.utc)


def test_alibaba_reports() -> None:
    """SmsReport items become receipts: state, ids, China times in UTC, parts."""
    delivered, failed = parse_alibaba_reports(json.dumps(REPORT).encode(), provider="ali")
    assert delivered.state is ReceiptState.DELIVERED
    assert delivered.message_id == "msg-0000000000000001"
    assert delivered.provider_message_id == message_key("900619746936498440^0", "13800138000")
    assert delivered.phone == "+8613800138000"
    assert delivered.occurred_at == datetime(2026, 3, 1, 4, 0, 5, tzinfo=timezone.utc)
    assert delivered.sent_at == datetime(2026, 3, 1, 4, 0, tzinfo=timezone.utc)
    assert (delivered.parts, delivered.error_code) == (1, None)
    assert failed.state is ReceiptState.UNDELIVERED
    assert failed.message_id is None  # a batch mark is not a message id
    assert failed.provider_message_id == message_key("900619746936498441", "+85251234567")
    assert (failed.error_code, failed.error_message, failed.parts) == ("MK:0001", "用户不存在", 2)
    assert failed.phone == "+85251234567"


def test_alibaba_report_keys_match_the_send_side() -> None:
    """The receipt's provider id equals the one the adapter gave the accepted message."""
    (receipt,) = parse_alibaba_reports(json.dumps(REPORT[:1]).encode(), provider="ali")
    assert receipt.provider_message_id == message_key("900619746936498440^0", "+8613800138000")


def test_alibaba_one_object_and_bad_items() -> None:
    """A lone object is read as one item; an unreadable item is skipped, the others kept."""
    (one,) = parse_alibaba_reports(json.dumps(REPORT[0]).encode(), provider="ali")
    assert one.state is ReceiptState.DELIVERED
    items = [REPORT[0], {"phone_number": ["x"]}, "garbage", {"success": True}]
    assert len(parse_alibaba_reports(json.dumps(items).encode(), provider="ali")) == 1


def test_alibaba_success_missing_reads_the_code() -> None:
    """Without success, err_code DELIVERED means delivered."""
    item = {"phone_number": "13800138000", "err_code": "DELIVERED", "biz_id": "1"}
    (receipt,) = parse_alibaba_reports(json.dumps([item]).encode(), provider="ali")
    assert receipt.state is ReceiptState.DELIVERED


@pytest.mark.parametrize("body", [b"not json", b'"text"', b"42"])
def test_alibaba_garbage_is_a_provider_error(body: bytes) -> None:
    """A body that is not a JSON array (or object) raises ProviderError."""
    with pytest.raises(ProviderError):
        parse_alibaba_reports(body, provider="ali")


@given(st.binary(max_size=80))
def test_parsers_only_raise_provider_errors(body: bytes) -> None:
    """Any bytes: events or a ProviderError, nothing else."""
    for parse in (
        lambda: parse_alibaba_reports(body, provider="p"),
        lambda: parse_alibaba_replies(body, provider="p"),
        lambda: parse_line_events(body, provider="p"),
        lambda: parse_chatwoot_event(body, provider="p", now=NOW),
    ):
        with contextlib.suppress(ProviderError):
            parse()


@pytest.mark.parametrize("sequence_id", ["1234", 1234])
def test_alibaba_replies_both_field_types(sequence_id: object) -> None:
    """SmsUp: sequence_id as string (new docs) or number (old); scope is the signature."""
    item = {
        "phone_number": "13800138000",
        "content": "TD",
        "send_time": "2026-03-01 12:00:00",
        "dest_code": "1234",
        "sequence_id": sequence_id,
        "sign_name": "阿里云",
    }
    (reply,) = parse_alibaba_replies(json.dumps([item]).encode(), provider="ali")
    assert (reply.from_address, reply.text, reply.scope) == ("+8613800138000", "TD", "阿里云")
    assert reply.provider_message_id == "1234"
    assert reply.channel is Channel.SMS
    assert reply.received_at == datetime(2026, 3, 1, 4, 0, tzinfo=timezone.utc)
    no_sign = {k: v for k, v in item.items() if k != "sign_name"}
    (scoped,) = parse_alibaba_replies(json.dumps([no_sign]).encode(), provider="ali")
    assert scoped.scope == "1234"


def test_alibaba_reply_from_an_unreadable_number_is_skipped() -> None:
    """A reply whose number cannot be parsed is skipped."""
    item = {"phone_number": "12", "content": "R"}
    assert parse_alibaba_replies(json.dumps([item]).encode(), provider="ali") == []


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("delivered", ReceiptState.DELIVERED),
        ("read", ReceiptState.DELIVERED),
        ("undelivered", ReceiptState.UNDELIVERED),
        ("failed", ReceiptState.FAILED),
        ("sent", ReceiptState.SENT),
        ("canceled", ReceiptState.FAILED),
        ("queued", None),
        ("sending", None),
        ("accepted", None),
    ],
)
def test_twilio_status_callbacks(status: str, state: ReceiptState | None) -> None:
    """Twilio statuses map to receipts; the ones that say nothing new give none."""
    form = {
        "MessageSid": "SM1",
        "MessageStatus": status,
        "ErrorCode": "30003",
        "To": "+14155550001",
        "AccountSid": "AC1",
    }
    found = parse_twilio_status(form, {"msgkit_id": "m-1"}, provider="tw", now=NOW)
    if state is None:
        assert found == []
        return
    (receipt,) = found
    assert (receipt.state, receipt.message_id, receipt.provider_message_id) == (state, "m-1", "SM1")
    assert receipt.phone == "+14155550001"
    assert receipt.occurred_at == NOW
    failed = state in (ReceiptState.FAILED, ReceiptState.UNDELIVERED)
    assert receipt.error_code == ("30003" if failed else None)


def test_twilio_inbound() -> None:
    """An incoming message is a reply scoped to our number or messaging service."""
    form = {"From": "+14155550001", "To": "+14155550100", "Body": "STOP", "MessageSid": "SM9"}
    (reply,) = parse_twilio_inbound(form, provider="tw", now=NOW)
    assert (reply.from_address, reply.text, reply.scope) == ("+14155550001", "STOP", "+14155550100")
    (service,) = parse_twilio_inbound(
        {**form, "MessagingServiceSid": "MG1"}, provider="tw", now=NOW
    )
    assert service.scope == "MG1"
    assert parse_twilio_inbound({**form, "From": "nobody"}, provider="tw", now=NOW) == []


def test_line_delivery_events() -> None:
    """Delivery events are receipts tagged with our id; other events are ignored."""
    (receipt,) = parse_line_events(json.dumps(LINE_WEBHOOK).encode(), provider="line")
    assert (receipt.state, receipt.message_id) == (ReceiptState.DELIVERED, "line-0000000000000001")
    assert receipt.occurred_at == datetime(2026, 3, 1, 4, 0, tzinfo=timezone.utc)
    assert parse_line_events(b'{"destination":"U","events":[]}', provider="line") == []
    with pytest.raises(ProviderError):
        parse_line_events(b'{"destination":"U"}', provider="line")


def test_chatwoot_incoming_messages_are_replies() -> None:
    """An incoming message_created is a reply from the contact, scoped to the inbox."""
    (reply,) = parse_chatwoot_event(json.dumps(CHATWOOT).encode(), provider="chat", now=NOW)
    assert (reply.from_address, reply.scope, reply.conversation_id) == ("42", "3", "77")
    assert reply.text == "No more messages please 🙏"
    assert reply.channel is Channel.WEBCHAT
    assert reply.phone == "+886912345678"
    assert reply.provider_message_id == "1234"
    assert reply.received_at == NOW


@pytest.mark.parametrize(
    "change",
    [
        {"message_type": "outgoing"},
        {"private": True},
        {"event": "conversation_created"},
        {"sender": {"id": 1, "type": "user"}},
    ],
)
def test_chatwoot_other_events_are_ignored(change: dict[str, object]) -> None:
    """Outgoing, private, other events and agent messages give no reply."""
    body = json.dumps({**CHATWOOT, **change}).encode()
    assert parse_chatwoot_event(body, provider="chat", now=NOW) == []


def test_clicks() -> None:
    """A short-link click keeps its code, parameter, time and browser."""
    click = parse_click("ab12", {"p": "u77"}, now=NOW, user_agent="Mobile Safari")
    assert (click.code, click.param, click.clicked_at, click.user_agent) == (
        "ab12",
        "u77",
        NOW,
        "Mobile Safari",
    )
    assert parse_click("ab12", {}, now=NOW).param is None


def test_receipt_events_and_keys() -> None:
    """A receipt is a `Receipt` observation; the same receipt twice has the same key."""
    receipt = DeliveryReceipt(provider="ali", state="failed", error_code="E1")
    assert receipt.observation == Receipt(report="failed", error_code="E1", source="ali receipt")
    a, b = (parse_alibaba_reports(json.dumps(REPORT[:1]).encode(), provider="ali")[0] for _ in "ab")
    assert a.key == b.key
    assert "13800138000" not in repr(a)
    assert isinstance(a, DeliveryReceipt)
