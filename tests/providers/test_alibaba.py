"""Tests of msgkit.providers.alibaba: signature, SendSms/SendBatchSms, errors, reconciliation,
template and signature review."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from urllib.parse import parse_qs

import httpx
import pytest
import respx
from hypothesis import example, given, settings
from hypothesis import strategies as st

from msgkit import AccountError, AuthError, ConfigError, RateLimitedError, RejectedError
from msgkit.core.delivery import MessageState
from msgkit.core.templates import ReviewStatus, Template, TemplateKind
from msgkit.exceptions import ProviderError
from msgkit.providers.alibaba import (
    AlibabaSms,
    china_time,
    from_config,
    message_key,
    number_key,
    number_to_e164,
    parse_alibaba_reports,
    percent_encode,
    rpc_signature,
)
from msgkit.providers.base import Outcome, SendRequest
from tests.providers.support import NOW, SECRET, alibaba, message, send

URL = "https://dysmsapi.aliyuncs.com/"

VECTOR = {
    "AccessKeyId": "testid",
    "Action": "DescribeRegions",
    "Format": "XML",
    "SignatureMethod": "HMAC-SHA1",
    "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf",
    "SignatureVersion": "1.0",
    "Timestamp": "2016-02-23T12:46:24Z",
    "Version": "2014-05-26",
}


def test_signature_vector_from_the_documentation() -> None:
    """rpc_signature gives the documented signature for the documented parameters."""
    assert rpc_signature(VECTOR, "testsecret") == "OLeaidS1JvxuMvnyHOwuJ+uX5qY="
    assert rpc_signature(VECTOR, "testsecret", method="GET") == "OLeaidS1JvxuMvnyHOwuJ+uX5qY="


def test_signature_ignores_an_existing_signature_parameter() -> None:
    """A Signature already in the parameters is not signed."""
    assert rpc_signature({**VECTOR, "Signature": "x"}, "testsecret") == rpc_signature(
        VECTOR, "testsecret"
    )


def test_percent_encoding_rules() -> None:
    """Space is %20, * is %2A, ~ stays, hex is upper case, text is UTF-8."""
    assert percent_encode("a b") == "a%20b"
    assert percent_encode("*") == "%2A"
    assert percent_encode("~-_.") == "~-_."
    assert percent_encode("阿") == "%E9%98%BF"
    assert percent_encode("/+=&") == "%2F%2B%3D%26"


@given(
    key=st.sampled_from(sorted(VECTOR)),
    value=st.text(min_size=1, max_size=20),
)
def test_any_changed_parameter_changes_the_signature(key: str, value: str) -> None:
    """Changing any parameter value changes the signature."""
    changed = {**VECTOR, key: VECTOR[key] + value}
    assert rpc_signature(changed, "testsecret") != rpc_signature(VECTOR, "testsecret")


def test_method_and_secret_are_signed() -> None:
    """POST and GET, and two secrets, give different signatures."""
    base = rpc_signature(VECTOR, "testsecret")
    assert rpc_signature(VECTOR, "testsecret", method="POST") != base
    assert rpc_signature(VECTOR, "other") != base


def _params(sent: SendRequest) -> dict[str, str]:
    if sent.request.method == "GET":
        query = parse_qs(sent.request.url.query.decode(), keep_blank_values=True)
    else:
        query = parse_qs(sent.request.content.decode(), keep_blank_values=True)
    return {k: v[0] for k, v in query.items()}


def test_requests_are_signed_and_carry_the_common_parameters() -> None:
    """Every request has the RPC common parameters and a Signature that verifies."""
    (sent,) = alibaba().build_send([message(1)])
    params = _params(sent)
    assert params["Action"] == "SendSms"
    assert params["Version"] == "2017-05-25"
    assert params["RegionId"] == "cn-hangzhou"
    assert params["Format"] == "JSON"
    assert params["AccessKeyId"] == "LTAI-test-id"
    assert params["SignatureMethod"] == "HMAC-SHA1"
    assert params["SignatureVersion"] == "1.0"
    assert params["SignatureNonce"] == "nonce-1"
    assert params["Timestamp"] == "2026-03-01T04:00:00Z"
    assert params["Signature"] == rpc_signature(params, SECRET, "POST")
    assert sent.request.method == "POST"
    assert SECRET not in sent.request.content.decode()


def test_get_requests_sign_with_get() -> None:
    """With http_method GET the parameters go in the query, signed for GET."""
    (sent,) = alibaba(http_method="GET").build_send([message(1)])
    params = _params(sent)
    assert sent.request.method == "GET"
    assert params["Signature"] == rpc_signature(params, SECRET, "GET")


def test_one_message_is_a_sendsms_with_its_id_as_outid() -> None:
    """A lone message: SendSms, national number, OutId = message id, params as JSON."""
    (sent,) = alibaba().build_send([message(7)])
    params = _params(sent)
    assert params["PhoneNumbers"] == "13800130007"
    assert params["OutId"] == "msg-0000000000000007"
    assert params["SignName"] == "阿里云"
    assert params["TemplateCode"] == "SMS_15305"
    assert json.loads(params["TemplateParam"]) == {"code": "7"}
    assert sent.message_ids == ("msg-0000000000000007",)


def test_international_numbers_keep_their_country_code() -> None:
    """Numbers outside mainland China go as country code + number, no +."""
    (sent,) = alibaba().build_send([message(1, to="+85251234567")])
    assert _params(sent)["PhoneNumbers"] == "85251234567"


def test_same_content_goes_as_one_sendsms() -> None:
    """Messages with the same template, signature and params share one SendSms."""
    batch = [message(i, params={"shop": "A"}, campaign_id="c7", step=1) for i in range(5)]
    (sent,) = alibaba().build_send(batch)
    params = _params(sent)
    assert params["Action"] == "SendSms"
    assert params["PhoneNumbers"].split(",") == [f"1380013{i:04d}" for i in range(5)]
    assert params["OutId"] == "b.c7.1"
    assert sent.message_ids == tuple(m.id for m in batch)


def test_personal_content_goes_as_sendbatchsms() -> None:
    """Messages with their own params or signatures go as one SendBatchSms."""
    batch = [message(i, sender="店A" if i % 2 else "店B") for i in range(3)]
    (sent,) = alibaba().build_send(batch)
    params = _params(sent)
    assert params["Action"] == "SendBatchSms"
    assert json.loads(params["PhoneNumberJson"]) == ["13800130000", "13800130001", "13800130002"]
    assert json.loads(params["SignNameJson"]) == ["店B", "店A", "店B"]
    assert json.loads(params["TemplateParamJson"]) == [{"code": "0"}, {"code": "1"}, {"code": "2"}]
    assert params["TemplateCode"] == "SMS_15305"
    assert "SmsUpExtendCodeJson" not in params


def test_extend_codes_are_sent() -> None:
    """options['extend_code'] becomes SmsUpExtendCode(Json)."""
    (one,) = alibaba().build_send([message(1, options={"extend_code": "12"})])
    assert _params(one)["SmsUpExtendCode"] == "12"
    (batch,) = alibaba().build_send(
        [message(1, options={"extend_code": "12"}), message(2, options={"extend_code": "34"})]
    )
    assert json.loads(_params(batch)["SmsUpExtendCodeJson"]) == ["12", "34"]


def test_large_batches_are_chunked() -> None:
    """1001 same messages: SendSms of 1000 and 1; 101 personal: SendBatchSms 100 and SendSms 1."""
    provider = alibaba()
    same = [message(i, params={"x": "1"}, to=f"+86139{i:08d}") for i in range(1001)]
    sizes = [len(s.message_ids) for s in provider.build_send(same)]
    assert sizes == [1000, 1]
    personal = [message(i, to=f"+86139{i:08d}") for i in range(101)]
    sent = provider.build_send(personal)
    assert [(s.context["action"], len(s.message_ids)) for s in sent] == [
        ("SendBatchSms", 100),
        ("SendSms", 1),
    ]


def test_a_number_never_appears_twice_in_one_request() -> None:
    """Two messages to the same number with the same content go in separate requests."""
    batch = [message(1, params={"x": "1"}), message(2, params={"x": "1"}, to="+8613800130001")]
    sent = alibaba().build_send(batch)
    assert len(sent) == 2


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 30),
            st.sampled_from(["SMS_1", "SMS_2"]),
            st.sampled_from(["A", "B"]),
            st.sampled_from(["s1", "s2"]),
        ),
        min_size=1,
        max_size=120,
    )
)
def test_every_message_is_sent_exactly_once_within_limits(
    specs: list[tuple[int, str, str, str]],
) -> None:
    """Any batch: each message in exactly one request, limits kept, no number twice."""
    batch = [
        message(i, to=f"+86139{n:08d}", template_code=code, params={"p": p}, sender=sign)
        for i, (n, code, p, sign) in enumerate(specs)
    ]
    sent = alibaba().build_send(batch)
    ids = [mid for s in sent for mid in s.message_ids]
    assert sorted(ids) == sorted(m.id for m in batch)
    for s in sent:
        numbers = list(s.context["numbers"].values())
        assert len(numbers) == len(set(numbers))
        limit = 100 if s.context["action"] == "SendBatchSms" else 1000
        assert len(s.message_ids) <= limit


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"template_code": None}, "template code"),
        ({"to": "13800138000"}, "E.164"),
    ],
)
def test_unexpressible_messages_are_refused(change: dict[str, object], words: str) -> None:
    """A message without template code or E.164 number raises RejectedError, naming it."""
    with pytest.raises(RejectedError, match=words) as info:
        alibaba().build_send([message(1, **change)])
    assert "msg-0000000000000001" in str(info.value)


def test_a_message_needs_a_signature() -> None:
    """Without a sender or a default signature, the message is refused."""
    with pytest.raises(RejectedError, match="signature"):
        alibaba(sign_name=None).build_send([message(1)])


# -- answers ---------------------------------------------------------------------------


def _answer(code: str, message_text: str = "", **extra: object) -> httpx.Response:
    body = {"Code": code, "Message": message_text or code, "RequestId": "REQ-1", **extra}
    return httpx.Response(200 if code == "OK" else 400, json=body)


@respx.mock
def test_accepted_messages_get_bizid_and_number_as_provider_id() -> None:
    """Code OK: every message accepted, provider id '{BizId}:{number}'."""
    respx.post(URL).mock(return_value=_answer("OK", BizId="9001^0"))
    batch = [message(i, params={"x": "1"}) for i in range(3)]
    found = send(alibaba(), batch)
    assert [r.outcome for r in found] == [Outcome.ACCEPTED] * 3
    assert [r.provider_message_id for r in found] == [
        message_key("9001^0", f"+861380013000{i}") for i in range(3)
    ]
    assert len({r.provider_message_id for r in found}) == 3
    assert all("13800130000" not in repr(r) for r in found)
    assert all(r.error is None for r in found)


@pytest.mark.parametrize(
    ("message_text", "seconds"),
    [
        ("触发分钟级流控Permits:1", 60.0),
        ("触发小时级流控Permits:5", 3600.0),
        ("触发天级流控Permits:10", 86400.0),
        ("触发业务流控", 86400.0),
    ],
)
@respx.mock
def test_flow_control_waits_for_its_window(message_text: str, seconds: float) -> None:
    """BUSINESS_LIMIT_CONTROL on one number: retry, not before its window resets."""
    respx.post(URL).mock(return_value=_answer("isv.BUSINESS_LIMIT_CONTROL", message_text))
    (result,) = send(alibaba(), [message(1)])
    assert result.outcome is Outcome.RETRY
    assert result.retry_after == seconds
    assert isinstance(result.error, RateLimitedError)
    assert result.error.retry_after == seconds
    assert result.error.request_id == "REQ-1"


@pytest.mark.parametrize(
    ("code", "outcome", "error_type"),
    [
        ("Throttling.User", Outcome.RETRY, RateLimitedError),
        ("isp.SYSTEM_ERROR", Outcome.RETRY, ProviderError),
        ("isv.AMOUNT_NOT_ENOUGH", Outcome.ACCOUNT, AccountError),
        ("isv.OUT_OF_SERVICE", Outcome.ACCOUNT, AccountError),
        ("isv.DAY_LIMIT_CONTROL", Outcome.ACCOUNT, AccountError),
        ("isv.MONTH_LIMIT_CONTROL", Outcome.ACCOUNT, AccountError),
        ("SignatureDoesNotMatch", Outcome.ACCOUNT, AuthError),
        ("InvalidAccessKeyId.NotFound", Outcome.ACCOUNT, AuthError),
        ("InvalidTimeStamp.Expired", Outcome.ACCOUNT, AuthError),
        ("isv.MOBILE_NUMBER_ILLEGAL", Outcome.FAILED, RejectedError),
        ("isv.BLACK_KEY_CONTROL_LIMIT", Outcome.FAILED, RejectedError),
        ("isv.TEMPLATE_MISSING_PARAMETERS", Outcome.FAILED, RejectedError),
        ("isv.INVALID_JSON_PARAM", Outcome.FAILED, RejectedError),
        ("isv.SMS_SIGNATURE_ILLEGAL", Outcome.FAILED, RejectedError),
        ("isv.SMS_TEMPLATE_ILLEGAL", Outcome.FAILED, RejectedError),
        ("isv.SOMETHING_NEW", Outcome.FAILED, RejectedError),
    ],
)
@respx.mock
def test_error_codes_are_classified(
    code: str, outcome: Outcome, error_type: type[ProviderError]
) -> None:
    """Each documented error code of a lone message maps to its outcome and error class."""
    respx.post(URL).mock(return_value=_answer(code))
    (result,) = send(alibaba(), [message(1)])
    assert result.outcome is outcome
    assert isinstance(result.error, error_type)
    assert result.error.provider_code == code
    assert result.error.provider == "ali"
    assert not result.isolate
    assert SECRET not in str(result.error)


@pytest.mark.parametrize(
    "code",
    ["isv.MOBILE_NUMBER_ILLEGAL", "isv.BUSINESS_LIMIT_CONTROL", "isv.BLACK_KEY_CONTROL_LIMIT"],
)
@respx.mock
def test_a_number_error_in_a_batch_isolates_every_message(code: str) -> None:
    """A per-number error for a request of several: all retried alone, none failed."""
    respx.post(URL).mock(return_value=_answer(code))
    found = send(alibaba(), [message(i, params={"x": "1"}) for i in range(3)])
    assert all(r.outcome is Outcome.RETRY and r.isolate for r in found)
    assert all(r.retry_after is None for r in found)


@respx.mock
def test_a_member_error_in_a_sendbatchsms_isolates() -> None:
    """A parameter error in a SendBatchSms may be one member's: all retried alone."""
    respx.post(URL).mock(return_value=_answer("isv.TEMPLATE_MISSING_PARAMETERS"))
    found = send(alibaba(), [message(i) for i in range(3)])
    assert all(r.isolate for r in found)


@respx.mock
def test_a_content_error_in_a_sendsms_fails_every_message() -> None:
    """One content for all: a template error fails them all, nothing to isolate."""
    respx.post(URL).mock(return_value=_answer("isv.SMS_TEMPLATE_ILLEGAL"))
    found = send(alibaba(), [message(i, params={"x": "1"}) for i in range(3)])
    assert all(r.outcome is Outcome.FAILED and not r.isolate for r in found)


@pytest.mark.parametrize(
    ("response", "outcome"),
    [
        (httpx.Response(200, text="<html>gateway</html>"), Outcome.UNKNOWN),
        (httpx.Response(200, json={"RequestId": "R"}), Outcome.UNKNOWN),
        (httpx.Response(500, text="oops"), Outcome.UNKNOWN),
        (httpx.Response(503, text="busy"), Outcome.RETRY),
        (httpx.Response(429, headers={"Retry-After": "3"}), Outcome.RETRY),
        (httpx.Response(403, text="denied"), Outcome.ACCOUNT),
    ],
)
@respx.mock
def test_malformed_answers(response: httpx.Response, outcome: Outcome) -> None:
    """Answers without a Code are judged by HTTP status; a garbage 200 is unknown."""
    respx.post(URL).mock(return_value=response)
    (result,) = send(alibaba(), [message(1)])
    assert result.outcome is outcome
    assert result.error is not None


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (httpx.ReadTimeout("slow"), Outcome.UNKNOWN),
        (httpx.RemoteProtocolError("dropped"), Outcome.UNKNOWN),
        (httpx.ConnectError("refused"), Outcome.RETRY),
        (httpx.ConnectTimeout("slow"), Outcome.RETRY),
    ],
)
@respx.mock
def test_timeouts_are_unknown_connect_errors_retry(error: Exception, outcome: Outcome) -> None:
    """No idempotency: a request that may have arrived is unknown; one that never left retries."""
    respx.post(URL).mock(side_effect=error)
    found = send(alibaba(), [message(i, params={"x": "1"}) for i in range(2)])
    assert [r.outcome for r in found] == [outcome, outcome]


def test_capabilities() -> None:
    """Alibaba: SMS, 1000 a batch, cn counting, renders templates, review, status query."""
    caps = alibaba().capabilities
    assert (caps.max_batch, caps.scheme, caps.renders_templates) == (1000, "cn", True)
    assert (caps.idempotent, caps.status_query, caps.sender_review) == (False, True, True)
    assert caps.content.review
    assert caps.content.promotional_suffix == "拒收请回复R"
    promo = caps.content.kinds[TemplateKind.PROMOTIONAL]
    assert (promo.variables, promo.short_links, promo.short_params) == (False, True, False)
    cleared = alibaba(standard_account=False).capabilities.content.kinds
    assert cleared[TemplateKind.PROMOTIONAL].variables


def test_content_rules_are_enforceable() -> None:
    """A promotional template with variables, or without the unsubscribe text, is refused."""
    rules = alibaba().capabilities.content
    promo = Template(body="Sale for ${name}!", kind="promotional")
    found = promo.violations(rules)
    assert any("variables" in v for v in found)
    assert any("拒收请回复R" in v for v in found)
    assert (
        Template(body="大促开始，全场五折。拒收请回复R", kind="promotional").violations(rules) == ()
    )


# -- reconciliation --------------------------------------------------------------------


def test_status_query_asks_for_the_number_on_its_china_day() -> None:
    """QuerySendDetails: one number, SendDate in China time, 50 a page."""
    request = alibaba().build_status(message(1), datetime(2026, 3, 1, 20, 0, tzinfo=timezone.utc))
    assert request is not None
    params = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
    assert params["Action"] == "QuerySendDetails"
    assert params["PhoneNumber"] == "13800130001"
    assert params["SendDate"] == "20260302"
    assert params["PageSize"] == "50"


def _details(*records: dict[str, object], lower: bool = False) -> httpx.Response:
    key, inner = (
        ("smsSendDetailDTOs", "smsSendDetailDTO")
        if lower
        else (
            "SmsSendDetailDTOs",
            "SmsSendDetailDTO",
        )
    )
    body = {"Code": "OK", "RequestId": "R", "TotalCount": len(records), key: {inner: list(records)}}
    return httpx.Response(200, json=body)


def test_status_matches_outid() -> None:
    """The record whose OutId is the message id gives the state."""
    response = _details(
        {"OutId": "other", "SendStatus": 3, "PhoneNum": "13800130001"},
        {"OutId": "msg-0000000000000001", "SendStatus": 2, "ErrCode": "MK:0001"},
    )
    result = alibaba().parse_status(message(1), response)
    assert result.found
    assert result.state is MessageState.UNDELIVERED
    assert result.error_code == "MK:0001"


def test_same_content_of_two_campaigns_goes_in_two_requests() -> None:
    """A request never mixes campaigns or steps: its batch mark names whose messages."""
    batch = [
        message(i, params={"shop": "A"}, campaign_id=c, step=s)
        for i, (c, s) in enumerate([("c1", 0), ("c1", 0), ("c2", 0), ("c2", 0), ("c1", 1)])
    ]
    marks = sorted(_params(sent)["OutId"] for sent in alibaba().build_send(batch))
    assert marks == ["b.c1.0", "b.c2.0", "msg-0000000000000004"]


def test_status_ignores_another_campaigns_record_of_the_same_template() -> None:
    """A record of another campaign's batch (same number, template, day) proves nothing."""
    response = _details(
        {
            "OutId": "b.first-campaign.0",
            "SendStatus": "3",
            "TemplateCode": "SMS_15305",
            "SendDate": "2026-03-01 09:00:01",
        },
    )
    result = alibaba().parse_status(message(1, campaign_id="second-campaign"), response)
    assert not result.found


def test_status_matches_a_batch_mark_by_template() -> None:
    """A message sent in a batch is found by its campaign's batch mark and template code."""
    response = _details(
        {
            "OutId": "b.c7.0",
            "SendStatus": "3",
            "TemplateCode": "SMS_15305",
            "SendDate": "2026-03-01 12:00:01",
        },
        {"OutId": "b.c7.0", "SendStatus": "1", "TemplateCode": "SMS_999"},
        {"OutId": "b.c8.0", "SendStatus": "1", "TemplateCode": "SMS_15305"},
    )
    result = alibaba().parse_status(message(1, campaign_id="c7"), response)
    assert (result.found, result.state, result.error_code) == (True, MessageState.DELIVERED, None)


def test_status_accepts_lower_camel_case_records() -> None:
    """The older lower-camel-case field names are read too."""
    response = _details({"outId": "msg-0000000000000001", "sendStatus": 1}, lower=True)
    result = alibaba().parse_status(message(1), response)
    assert (result.found, result.state) == (True, MessageState.SUBMITTED)


def test_status_not_found() -> None:
    """No matching record: the provider does not know the message."""
    result = alibaba().parse_status(message(1), _details())
    assert not result.found
    assert result.state is None


@pytest.mark.parametrize(
    ("response", "error_type"),
    [
        (_answer("Throttling.User"), RateLimitedError),
        (_answer("SignatureDoesNotMatch"), AuthError),
        (httpx.Response(200, text="garbage"), ProviderError),
    ],
)
def test_a_failed_status_query_raises(
    response: httpx.Response, error_type: type[ProviderError]
) -> None:
    """A failed query raises instead of answering 'not found'."""
    with pytest.raises(error_type):
        alibaba().parse_status(message(1), response)


# -- review ----------------------------------------------------------------------------


def test_template_submission() -> None:
    """CreateSmsTemplate gets the type, the body with ${vars} and link URLs, the remark."""
    template = Template(
        body="${name:-会员}您好，订单${order}已发货，查看${link:track}",
        links={"track": "https://t.example/o"},
        name="shipping",
    )
    request = alibaba().build_template_submit(
        template, remark="物流通知", related_sign_name="阿里云"
    )
    params = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
    assert params["Action"] == "CreateSmsTemplate"
    assert params["TemplateType"] == "1"
    assert params["TemplateName"] == "shipping"
    assert params["TemplateContent"] == "${name}您好，订单${order}已发货，查看https://t.example/o"
    assert params["RelatedSignName"] == "阿里云"
    promo = Template(body="大促。拒收请回复R", kind="promotional")
    intl = alibaba().build_template_submit(promo, remark="r", international=True)
    intl_params = {k: v[0] for k, v in parse_qs(intl.content.decode()).items()}
    assert (intl_params["TemplateType"], intl_params["IntlType"]) == ("3", "2")


def test_multimedia_templates_are_not_submitted_here() -> None:
    """Digital templates are created elsewhere: ConfigError says so."""
    with pytest.raises(ConfigError, match="multimedia"):
        alibaba().build_template_submit(Template(body="x", kind="multimedia"), remark="r")


def test_template_submit_answer() -> None:
    """The answer gives the template code, pending review, and the work order."""
    response = httpx.Response(
        200, json={"Code": "OK", "TemplateCode": "SMS_1000", "OrderId": "2005020", "RequestId": "R"}
    )
    result = alibaba().parse_template_submit(response)
    assert (result.code, result.status, result.order_id) == (
        "SMS_1000",
        ReviewStatus.PENDING,
        "2005020",
    )
    with pytest.raises(ProviderError):
        alibaba().parse_template_submit(httpx.Response(200, json={"Code": "OK"}))


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        ("0", ReviewStatus.PENDING),
        ("1", ReviewStatus.APPROVED),
        ("2", ReviewStatus.REJECTED),
        ("10", ReviewStatus.DRAFT),
        (2, ReviewStatus.REJECTED),
    ],
)
def test_template_review_status(raw: object, status: ReviewStatus) -> None:
    """GetSmsTemplate's TemplateStatus maps to ReviewStatus; a rejection keeps its reason."""
    provider = alibaba()
    request = provider.build_template_status("SMS_1000")
    assert parse_qs(request.content.decode())["TemplateCode"] == ["SMS_1000"]
    body = {
        "Code": "OK",
        "TemplateCode": "SMS_1000",
        "TemplateStatus": raw,
        "AuditInfo": {"RejectInfo": "模板内容中包含错别字。", "AuditDate": "2024-06-03 11:20:34"},
    }
    result = provider.parse_template_status(httpx.Response(200, json=body))
    assert result.status is status
    assert result.code == "SMS_1000"
    assert result.reason == ("模板内容中包含错别字。" if status is ReviewStatus.REJECTED else None)


def test_signature_review() -> None:
    """CreateSmsSign and GetSmsSign: parameters out, status back."""
    provider = alibaba()
    request = provider.build_signature_submit(
        "阿里云",
        source=2,
        qualification_id=8563,
        remark="登录验证码",
        apply_scene="https://a.example",
    )
    params = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
    assert (params["Action"], params["SignName"], params["SignSource"]) == (
        "CreateSmsSign",
        "阿里云",
        "2",
    )
    assert (params["QualificationId"], params["SignType"], params["ThirdParty"]) == (
        "8563",
        "1",
        "false",
    )
    submitted = provider.parse_signature_submit(
        httpx.Response(200, json={"Code": "OK", "SignName": "阿里云", "OrderId": "1"})
    )
    assert submitted.status is ReviewStatus.PENDING
    status_request = provider.build_signature_status("阿里云")
    assert parse_qs(status_request.content.decode())["Action"] == ["GetSmsSign"]
    approved = provider.parse_signature_status(
        httpx.Response(200, json={"Code": "OK", "SignName": "阿里云", "SignStatus": 1})
    )
    assert approved.status is ReviewStatus.APPROVED


def test_unknown_review_status_raises() -> None:
    """A status code msgkit does not know is an error, not a guess."""
    with pytest.raises(ProviderError, match="unknown review status"):
        alibaba().parse_template_status(
            httpx.Response(200, json={"Code": "OK", "TemplateStatus": "7"})
        )


# -- keys, config ----------------------------------------------------------------------


def test_message_keys_match_receipts() -> None:
    """The provider id of a sent message equals the one built from its receipt."""
    assert message_key("9^0", "+8613800138000") == message_key("9^0", "13800138000")
    assert number_key("0086 138 0013 8000") == "13800138000"
    assert number_key("85212345678") == "85212345678"


_CN_MOBILE = st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True)
_DIGEST_KEY = st.binary(min_size=16, max_size=32)


@given(_CN_MOBILE, _CN_MOBILE, _DIGEST_KEY, _DIGEST_KEY)
def test_a_keyed_message_key_matches_its_receipt_and_no_unkeyed_digest(
    number: str, other: str, key: bytes, another: bytes
) -> None:
    """Keyed, the id is the same for every form of the number (the receipt's and the
    sent one's), differs between numbers as without a key, and is neither the unkeyed
    id nor the id under another key: it cannot be computed from a candidate number."""
    keyed = message_key("9^0", number, digest_key=key)
    assert keyed == message_key("9^0", f"+86{number}", digest_key=key)
    assert keyed == message_key("9^0", f"0086 {number}", digest_key=key)
    assert keyed.startswith("9^0:")
    assert len(keyed) == len(message_key("9^0", number))
    assert keyed != message_key("9^0", number)
    if another != key:
        assert keyed != message_key("9^0", number, digest_key=another)
    if other != number:
        assert keyed != message_key("9^0", other, digest_key=key)


@respx.mock
def test_a_keyed_adapter_and_its_receipts_agree_on_the_provider_id() -> None:
    """The adapter with the store's digest key gives ids its receipts (parsed with the
    same key) give back; without the key the receipt gives another id."""
    respx.post(URL).mock(return_value=_answer("OK", BizId="9001^0"))
    key = bytes(range(32))
    found = send(alibaba(digest_key=key), [message(i, params={"x": "1"}) for i in range(3)])
    report = [
        {"phone_number": f"861380013000{i}", "success": True, "biz_id": "9001^0", "out_id": "b.c.0"}
        for i in range(3)
    ]
    body = json.dumps(report).encode()
    keyed = parse_alibaba_reports(body, provider="ali", digest_key=key)
    plain = parse_alibaba_reports(body, provider="ali")
    assert [r.provider_message_id for r in found] == [r.provider_message_id for r in keyed]
    assert not {r.provider_message_id for r in found} & {r.provider_message_id for r in plain}


def test_from_config_reads_secrets_from_the_environment() -> None:
    """from_config builds the adapter; the secret comes from the named variable."""
    provider = from_config(
        "sms",
        {
            "type": "alibaba",
            "access_key_id": "LTAI",
            "access_key_secret_env": "ALI_SECRET",
            "sign_name": "阿里云",
            "base_url": "http://localhost:9999/",
        },
        {"ALI_SECRET": SECRET},
    )
    assert isinstance(provider, AlibabaSms)
    assert SECRET not in repr(provider)
    (sent,) = provider.build_send([message(1)])
    assert str(sent.request.url) == "http://localhost:9999/"


def test_missing_secret_names_the_variable() -> None:
    """A missing secret is a ConfigError naming the variable and the setting."""
    with pytest.raises(ConfigError) as info:
        from_config("sms", {"type": "alibaba", "access_key_id": "LTAI"}, {})
    assert "ALIBABA_CLOUD_ACCESS_KEY_SECRET" in str(info.value)
    assert info.value.key == "providers.sms.access_key_secret_env"


def test_an_inline_secret_is_refused_without_echoing_it() -> None:
    """A secret written in the file is an unknown setting; the error never shows it."""
    with pytest.raises(ConfigError) as info:
        from_config(
            "sms",
            {"type": "alibaba", "access_key_id": "LTAI", "access_key_secret": SECRET},
            {"ALIBABA_CLOUD_ACCESS_KEY_SECRET": "x"},
        )
    assert SECRET not in str(info.value)
    assert "environment" in str(info.value)
    assert info.value.key == "providers.sms.access_key_secret"


def test_clock_is_used_for_the_timestamp() -> None:
    """Timestamp is the clock's time in UTC."""
    assert NOW.tzinfo is not None
    (sent,) = alibaba().build_send([message(1)])
    assert _params(sent)["Timestamp"] == NOW.strftime("%Y-%m-%dT%H:%M:%SZ")


@example("490201000")  # phonenumbers drops the trunk zero: not a number as we send it
@settings(max_examples=200)
@given(
    st.one_of(
        st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True),
        st.from_regex(r"852[5-9][0-9]{7}", fullmatch=True),
        st.from_regex(r"[0-9]{1,16}", fullmatch=True),
    )
)
def test_unvalidated_numbers_equal_validated_ones(raw: str) -> None:
    """Where phonenumbers accepts a receipt's number as written (in its normalised form,
    as we sent it: no trunk zero after the country code), the fast path gives the same
    E.164."""
    checked = number_to_e164(raw)
    if checked is not None and checked[1:] in (raw, "86" + raw):
        assert number_to_e164(raw, validate=False) == checked


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-01 12:00:00", datetime(2026, 3, 1, 4, 0, tzinfo=timezone.utc)),
        ("2026-03-01 12:00", datetime(2026, 3, 1, 4, 0, tzinfo=timezone.utc)),
        ("20260301120000", datetime(2026, 3, 1, 4, 0, tzinfo=timezone.utc)),
        ("2026-03-01T12:00:00+08:00", datetime(2026, 3, 1, 4, 0, tzinfo=timezone.utc)),
        ("yesterday", None),
        (None, None),
    ],
)
def test_china_times(text: str | None, expected: datetime | None) -> None:
    """Alibaba's China-time stamps become aware UTC datetimes."""
    assert china_time(text) == expected


def test_a_batch_sent_by_an_earlier_version_is_found_by_its_old_mark() -> None:
    """A record with the old mark ("b." and a first id) and the same template counts, so a
    batch in flight across an upgrade is not sent twice (its age is the engine's check)."""
    response = _details(
        {
            "OutId": "b.msg-0000000000000000",
            "SendStatus": "3",
            "TemplateCode": "SMS_15305",
            "SendDate": "2026-03-01 12:00:01",
        },
    )
    result = alibaba().parse_status(message(1, campaign_id="c7"), response)
    assert (result.found, result.state) == (True, MessageState.DELIVERED)
    assert result.taken_at is not None
