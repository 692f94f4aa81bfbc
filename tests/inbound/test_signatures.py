"""Tests of msgkit.inbound.signatures: the vectors, and a changed byte never verifies."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from msgkit import SignatureError
from msgkit.inbound import (
    twilio_signature,
    verify_chatwoot_signature,
    verify_line_signature,
    verify_token,
    verify_twilio_signature,
)

# -- LINE ------------------------------------------------------------------------------

LINE_SECRET = "8f3e2b1c9d0a4e5f6a7b8c9d0e1f2a3b"
LINE_BODY = b'{"destination":"U1","events":[{"type":"delivery","delivery":{"data":"t"}}]}'


def _line_sign(body: bytes, secret: str = LINE_SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def test_line_signature_verifies() -> None:
    """base64(HMAC-SHA256(channel secret, raw body)) verifies."""
    verify_line_signature(LINE_BODY, _line_sign(LINE_BODY), LINE_SECRET)


def test_line_known_vector() -> None:
    """A fixed vector, computed independently: printf "{}" | openssl dgst -sha256 -hmac secret."""
    assert _line_sign(b"{}", "secret") == "dzJZAsrKgS3CWXM6rNBGtzgXNyx3e42VtAJkdHRRbhM="
    verify_line_signature(b"{}", "dzJZAsrKgS3CWXM6rNBGtzgXNyx3e42VtAJkdHRRbhM=", "secret")


@given(st.binary(min_size=1, max_size=200), st.data())
def test_line_a_changed_byte_never_verifies(body: bytes, data: st.DataObject) -> None:
    """Flip any bit of the body: the signature no longer verifies."""
    signature = _line_sign(body)
    index = data.draw(st.integers(0, len(body) - 1))
    bit = data.draw(st.integers(0, 7))
    changed = bytearray(body)
    changed[index] ^= 1 << bit
    with pytest.raises(SignatureError):
        verify_line_signature(bytes(changed), signature, LINE_SECRET)


@given(st.text(min_size=1, max_size=40))
def test_line_wrong_secret_or_signature(other: str) -> None:
    """Another secret, or garbage in the header, never verifies."""
    assume(other != LINE_SECRET)
    with pytest.raises(SignatureError):
        verify_line_signature(LINE_BODY, _line_sign(LINE_BODY, other), LINE_SECRET)
    with pytest.raises(SignatureError):
        verify_line_signature(LINE_BODY, other, LINE_SECRET)


# -- Twilio ----------------------------------------------------------------------------

TW_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
TW_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+14158675310",
    "Digits": "1234",
    "From": "+14158675310",
    "To": "+18005551212",
}
TW_SIGNATURE = "GvWf1cFY/Q7PnoempGyD5oXAezc="


def test_twilio_vector_from_the_documentation() -> None:
    """The documented URL, parameters and token give the documented signature."""
    assert twilio_signature(TW_URL, TW_PARAMS, "12345") == TW_SIGNATURE
    verify_twilio_signature(TW_URL, TW_PARAMS, TW_SIGNATURE, "12345")


@pytest.mark.parametrize(
    ("signed", "received"),
    [
        ("https://mycompany.com:443/myapp.php?foo=1&bar=2", TW_URL),
        (TW_URL, "https://mycompany.com:443/myapp.php?foo=1&bar=2"),
        ("http://example.com:80/hook", "http://example.com/hook"),
        ("http://example.com/hook", "http://example.com:8080/hook"),
    ],
)
def test_twilio_port_variants(signed: str, received: str) -> None:
    """Signed with or without the port, the URL verifies either way."""
    signature = twilio_signature(signed, TW_PARAMS, "12345")
    verify_twilio_signature(received, TW_PARAMS, signature, "12345")


def test_twilio_repeated_names_use_distinct_sorted_values() -> None:
    """A repeated name contributes each distinct value, sorted."""
    params = {"MediaUrl": ["https://b", "https://a", "https://b"], "To": "+1"}
    data = "https://h/x" + "MediaUrlhttps://a" + "MediaUrlhttps://b" + "To+1"
    expected = base64.b64encode(hmac.new(b"tok", data.encode(), hashlib.sha1).digest()).decode()
    assert twilio_signature("https://h/x", params, "tok") == expected
    verify_twilio_signature("https://h/x", params, expected, "tok")
    with pytest.raises(SignatureError):
        verify_twilio_signature(
            "https://h/x", {"MediaUrl": "https://a", "To": "+1"}, expected, "tok"
        )


JSON_BODY = '{"CallSid":"CA1234567890ABCDE","Caller":"+12349013030"}'
JSON_URL = (
    "https://example.com/myapp?bodySHA256="
    "5ccde7145dfb8f56479710896586cb9d5911809d83afbe34627818790db0aec9"
)


def test_twilio_json_variant() -> None:
    """JSON callbacks: the body matches the documented bodySHA256, the URL alone is signed."""
    signature = twilio_signature(JSON_URL, {}, "12345")
    verify_twilio_signature(JSON_URL, JSON_BODY, signature, "12345")
    verify_twilio_signature(JSON_URL, JSON_BODY.encode(), signature, "12345")
    with pytest.raises(SignatureError, match="bodySHA256"):
        verify_twilio_signature(JSON_URL, JSON_BODY.replace("3030", "3031"), signature, "12345")
    with pytest.raises(SignatureError, match="bodySHA256"):
        verify_twilio_signature("https://example.com/myapp", JSON_BODY, signature, "12345")


@given(st.sampled_from(sorted(TW_PARAMS)), st.text(min_size=1, max_size=5))
def test_twilio_a_changed_parameter_never_verifies(name: str, extra: str) -> None:
    """Change any parameter value: the signature no longer verifies."""
    changed = {**TW_PARAMS, name: TW_PARAMS[name] + extra}
    with pytest.raises(SignatureError):
        verify_twilio_signature(TW_URL, changed, TW_SIGNATURE, "12345")


@given(st.integers(8, len(TW_URL) - 1), st.characters(codec="ascii"))
def test_twilio_a_changed_url_never_verifies(index: int, char: str) -> None:
    """Change a character of the URL's path or query: no longer verifies."""
    assume(TW_URL[index] != char)
    url = TW_URL[:index] + char + TW_URL[index + 1 :]
    with pytest.raises(SignatureError):
        verify_twilio_signature(url, TW_PARAMS, TW_SIGNATURE, "12345")


def test_twilio_wrong_token() -> None:
    """Another token does not verify; the error names neither token nor signature."""
    with pytest.raises(SignatureError) as info:
        verify_twilio_signature(TW_URL, TW_PARAMS, TW_SIGNATURE, "54321")
    assert "54321" not in str(info.value)
    assert TW_SIGNATURE not in str(info.value)


# -- Chatwoot --------------------------------------------------------------------------

CW_SECRET = "whsec-chatwoot"
NOW = datetime(2026, 3, 1, 4, 0, tzinfo=timezone.utc)
STAMP = str(int(NOW.timestamp()))


def _cw_sign(body: bytes, stamp: str = STAMP, secret: str = CW_SECRET) -> str:
    digest = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def test_chatwoot_signature_verifies() -> None:
    """sha256=HMAC-SHA256(secret, "{timestamp}.{body}") verifies within the window."""
    body = b'{"event":"message_created"}'
    verify_chatwoot_signature(body, _cw_sign(body), STAMP, CW_SECRET, now=NOW)
    verify_chatwoot_signature(
        body, _cw_sign(body).upper().replace("SHA256=", "sha256="), STAMP, CW_SECRET, now=NOW
    )
    later = NOW + timedelta(seconds=299)
    verify_chatwoot_signature(body, _cw_sign(body), STAMP, CW_SECRET, now=later)


@pytest.mark.parametrize(
    ("stamp", "words"),
    [
        (str(int(NOW.timestamp()) - 301), "too old"),
        (str(int(NOW.timestamp()) + 301), "too old"),
        ("yesterday", "not a number"),
    ],
)
def test_chatwoot_replays_are_refused(stamp: str, words: str) -> None:
    """A timestamp outside five minutes, or not a number, is refused."""
    body = b"{}"
    with pytest.raises(SignatureError, match=words):
        verify_chatwoot_signature(body, _cw_sign(body, stamp), stamp, CW_SECRET, now=NOW)


@given(st.binary(min_size=1, max_size=100), st.data())
def test_chatwoot_a_changed_byte_never_verifies(body: bytes, data: st.DataObject) -> None:
    """Flip any bit of the body: no longer verifies."""
    signature = _cw_sign(body)
    index = data.draw(st.integers(0, len(body) - 1))
    changed = bytearray(body)
    changed[index] ^= 1 << data.draw(st.integers(0, 7))
    with pytest.raises(SignatureError):
        verify_chatwoot_signature(bytes(changed), signature, STAMP, CW_SECRET, now=NOW)


def test_chatwoot_timestamp_is_signed() -> None:
    """Moving the timestamp (even within the window) breaks the signature."""
    body = b"{}"
    other = str(int(STAMP) + 1)
    with pytest.raises(SignatureError, match="does not match"):
        verify_chatwoot_signature(body, _cw_sign(body), other, CW_SECRET, now=NOW)


# -- path tokens -----------------------------------------------------------------------


@given(st.text(max_size=30))
def test_tokens(given_token: str) -> None:
    """Only the exact token verifies; an empty expected token never does."""
    expected = "tok-4f1c2a"
    if given_token == expected:
        verify_token(given_token, expected)
    else:
        with pytest.raises(SignatureError):
            verify_token(given_token, expected)
    with pytest.raises(SignatureError):
        verify_token(given_token, "")


@pytest.mark.parametrize(
    "url",
    ["https://Hooks.Example.com/x?a=1", "http://user@[::1]:8080/x", "https://h.example/x"],
)
def test_twilio_hosts_are_kept_as_written(url: str) -> None:
    """The host's case, user info and IPv6 brackets are signed as Twilio saw them."""
    signature = twilio_signature(url, {"a": "1"}, "tok")
    verify_twilio_signature(url, {"a": "1"}, signature, "tok")
