"""Phone numbers encrypted at rest, through the front door.

With ``MSGKIT_PHONE_KEY`` set, a whole campaign runs as it does without it — a CSV list
with a duplicate row and a number that opted out earlier, a campaign sent through a
Twilio-like server over real HTTP, signed delivery callbacks and a STOP reply posted to
the client's webhook app, two more campaigns to the same numbers under a frequency
cap, the report — with the same outcome (who got what, dedupe, suppression, cap), and
the database file (with its ``-wal`` and ``-shm``) holds none of the numbers in any
form. Without the key, or with another, the database is refused before anything is
read or sent, saying which variable to set.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

import msgkit
from msgkit.contacts import PhoneCipher
from msgkit.inbound import endpoints_from_config, twilio_signature
from msgkit.providers.alibaba import number_key
from msgkit.testing import FakeClock
from tests.e2e.conftest import tw_e164, tw_numbers
from tests.fakes.alibaba_server import FakeAlibaba
from tests.fakes.twilio_server import FakeTwilio
from tests.http_server import serve

pytestmark = pytest.mark.sqlite_only(
    "reads the SQLite file with its -wal and -shm; on PostgreSQL the encrypted store runs "
    "the contract suite and test_no_leaks scans every table"
)

SID = "AC" + "1" * 32
TOKEN = "twilio-auth-token-e2e"
SENDER = "+15005550006"
PUBLIC = "https://hooks.example.com"
KEY = PhoneCipher.new_key()
NATIONAL = tw_numbers(5, start=731)
NUMBERS = [tw_e164(n) for n in NATIONAL]
TWO_A_DAY = msgkit.FrequencyCap(limit=2, per="day", channel="sms")


def _settings(url: str) -> dict[str, Any]:
    return {
        "providers": {
            "tw": {
                "type": "twilio",
                "account_sid": SID,
                "sender": SENDER,
                "public_url": PUBLIC,
                "status_callback": f"{PUBLIC}/hooks/tw/status",
                "base_url": url,
            }
        }
    }


def _post(http: httpx.Client, hooks: str, path: str, form: dict[str, str]) -> None:
    """Post a signed Twilio webhook (its public URL signed, the local app reached)."""
    url = f"{PUBLIC}/hooks/tw/{path}"
    headers = {"X-Twilio-Signature": twilio_signature(url, form, TOKEN)}
    answer = http.post(url.replace(PUBLIC, hooks), data=form, headers=headers, timeout=10)
    assert answer.status_code == 200, answer.text


def _campaign(client: msgkit.Client, name: str, audience: str) -> msgkit.Campaign:
    campaign = client.create_campaign(
        name,
        f"{name}: 20% off this week",
        audience=audience,
        policy=msgkit.SendPolicy(caps=[TWO_A_DAY], apply_caps=True),
    )
    client.start(campaign)
    client.run(progress=False)
    return campaign


def _scenario(tmp_path: Path, env: dict[str, str]) -> dict[str, Any]:
    """The whole story on a fresh database in ``tmp_path``; what the user sees of it."""
    tmp_path.mkdir()
    clock = FakeClock(datetime.now(timezone.utc))  # Twilio's validity reads the wall clock
    fake = FakeTwilio()
    env = {"TWILIO_AUTH_TOKEN": TOKEN, **env}
    db = f"sqlite:///{tmp_path / 'msgkit.db'}"
    outcome: dict[str, Any] = {}
    with serve(fake) as url, httpx.Client() as http:
        config = _settings(url)
        client = msgkit.Client(store=db, config=config, env=env, clock=clock)
        with serve(client.inbound_app(endpoints_from_config(config["providers"], env))) as hooks:
            # The last number opted out before the list came in.
            form = {"From": NUMBERS[4], "To": SENDER, "Body": "STOP", "MessageSid": "SMin1"}
            _post(http, hooks, "inbound", form)
            # The list: a duplicate row (the first number again, in another form).
            rows = [(n, f"M{i}") for i, n in enumerate(NATIONAL)]
            rows.append((NUMBERS[0], "M0 again"))
            path = tmp_path / "members.csv"
            with path.open("w", encoding="utf-8", newline="") as handle:
                csv.writer(handle).writerows([("Mobile", "Name"), *rows])
            members = client.import_list(path, phone="Mobile", region="TW")
            outcome["import"] = (members.summary.rows, members.summary.accepted)
            outcome["list_rows"] = next(i["rows"] for i in client.lists() if i["id"] == members.id)

            first = _campaign(client, "First", members.id)
            # Twilio reports each message delivered; the second number answers STOP.
            for sent in fake.sent:
                status = {"MessageSid": sent["sid"], "MessageStatus": "delivered"}
                _post(
                    http,
                    hooks,
                    sent["StatusCallback"].split("/hooks/tw/")[1],
                    status | {"To": sent["To"]},
                )
            form = {"From": NUMBERS[1], "To": SENDER, "Body": "STOP", "MessageSid": "SMin2"}
            _post(http, hooks, "inbound", form)
            second = _campaign(client, "Second", members.id)
            third = _campaign(client, "Third", members.id)

        got: dict[str, list[str]] = {}
        for sent in fake.sent:
            got.setdefault(sent["To"], []).append(sent["Body"])
        outcome["got"] = got
        for campaign in (first, second, third):
            progress = client.progress(campaign)
            report = client.report(campaign)
            outcome[campaign.name] = (
                progress.by_reason,
                report.total.sent,
                report.total.delivered,
                report.opt_outs,
                report.replies,
            )
        outcome["replies"] = sorted((r["sender"], r["text"]) for r in client.replies())
        outcome["to"] = sorted({m.to for m in client.messages(first) if m.to})
        client.close()
    return outcome


def _forms(number: str) -> list[str]:
    """A number as it could be written down: E.164, without +, national digits."""
    national = next(n for n in NATIONAL if tw_e164(n) == number)
    return [number, number.lstrip("+"), national.replace("-", ""), national, number[4:]]


def _digest(number: str) -> bytes:
    """What someone with the database but not the key computes from a candidate number
    to find its messages: the unkeyed recipient digest of message keys."""
    return hashlib.blake2b(number.encode(), digest_size=16).hexdigest().encode()


def _database_bytes(tmp_path: Path) -> Iterator[tuple[str, bytes]]:
    for path in sorted(tmp_path.glob("msgkit.db*")):
        yield path.name, path.read_bytes()


EXPECTED: dict[str, Any] = {
    "import": (6, 5),  # the duplicate row is reported, not imported
    "list_rows": 5,  # the duplicate row is one contact
    "got": {
        NUMBERS[0]: ["First: 20% off this week", "Second: 20% off this week"],
        NUMBERS[1]: ["First: 20% off this week"],
        NUMBERS[2]: ["First: 20% off this week", "Second: 20% off this week"],
        NUMBERS[3]: ["First: 20% off this week", "Second: 20% off this week"],
    },
    "First": ({"suppressed": 1}, 4, 4, 1, 1),
    "Second": ({"suppressed": 2}, 3, 0, 0, 0),
    "Third": ({"suppressed": 2, "capped": 3}, 0, 0, 0, 0),
    "replies": sorted([(NUMBERS[4], "STOP"), (NUMBERS[1], "STOP")]),
    "to": sorted(NUMBERS[:4]),
}


def test_an_encrypted_store_runs_a_campaign_as_a_plain_one_and_keeps_no_number(
    tmp_path: Path,
) -> None:
    """With MSGKIT_PHONE_KEY the outcome is the same, and the database holds no number."""
    plain = _scenario(tmp_path / "plain", {})
    sealed = _scenario(tmp_path / "sealed", {"MSGKIT_PHONE_KEY": KEY})
    assert plain == EXPECTED
    assert sealed == EXPECTED
    # The plain database holds the numbers (the scan below can see them) ...
    assert any(NUMBERS[0].encode() in data for _, data in _database_bytes(tmp_path / "plain"))
    # ... the encrypted one holds none, in any form, in any of its files.
    found = [
        (name, form)
        for name, data in _database_bytes(tmp_path / "sealed")
        for number in NUMBERS
        for form in _forms(number)
        if form.encode() in data
    ]
    assert not found, found
    # Nor can its message keys be matched against candidate numbers: they are keyed.
    assert any(_digest(NUMBERS[0]) in data for _, data in _database_bytes(tmp_path / "plain"))
    matched = [
        (name, number)
        for name, data in _database_bytes(tmp_path / "sealed")
        for number in NUMBERS
        if _digest(number) in data
    ]
    assert not matched, matched


def test_an_encrypted_database_opened_without_its_key_is_refused(tmp_path: Path) -> None:
    """Without the key, or with another, the store is refused naming the variable."""
    db = f"sqlite:///{tmp_path / 'msgkit.db'}"
    with msgkit.Client(store=db, env={"MSGKIT_PHONE_KEY": KEY}) as client:
        client.create_list("m", [msgkit.Contact(phone=NUMBERS[0])])
    for env in ({}, {"MSGKIT_PHONE_KEY": PhoneCipher.new_key()}):
        with pytest.raises(msgkit.ConfigError, match="MSGKIT_PHONE_KEY") as refused:
            msgkit.Client(store=db, env=env)
        assert all(key not in str(refused.value) for key in (KEY, *env.values()))
    with msgkit.Client(store=db, env={"MSGKIT_PHONE_KEY": KEY}) as client:
        (contacts,) = [c for c in client.lists() if c["name"] == "m"]
        assert contacts["rows"] == 1


def test_a_plain_database_is_not_encrypted_halfway(tmp_path: Path) -> None:
    """A database of plain numbers opened with a key is refused, saying what to do."""
    db = f"sqlite:///{tmp_path / 'msgkit.db'}"
    with msgkit.Client(store=db, env={}) as client:
        client.create_list("m", [msgkit.Contact(phone=NUMBERS[0])])
    with pytest.raises(msgkit.ConfigError, match="plain text") as refused:
        msgkit.Client(store=db, env={"MSGKIT_PHONE_KEY": KEY})
    assert "new database" in str(refused.value)


@pytest.mark.parametrize("first_keyed", [False, True], ids=["plain-first", "keyed-first"])
def test_an_empty_database_is_keyed_or_plain_by_its_first_opener(
    tmp_path: Path, first_keyed: bool
) -> None:
    """A worker started without MSGKIT_PHONE_KEY before the first import with it (or the
    other way round): the database is what its first opener made it, even while empty,
    and the other process is refused -- clear and sealed numbers never mix (the plain
    first order was accepted before, and the plain process wrote numbers in clear)."""
    db = f"sqlite:///{tmp_path / 'msgkit.db'}"
    keyed, plain = {"MSGKIT_PHONE_KEY": KEY}, {}
    first, second = (keyed, plain) if first_keyed else (plain, keyed)
    with msgkit.Client(store=db, env=first) as worker:
        with pytest.raises(msgkit.ConfigError, match="MSGKIT_PHONE_KEY") as refused:
            msgkit.Client(store=db, env=second)
        assert "every process" in str(refused.value)
        assert KEY not in str(refused.value)
        worker.create_list("m", [msgkit.Contact(phone=NUMBERS[0])])
        (contacts,) = [c for c in worker.lists() if c["name"] == "m"]
        assert contacts["rows"] == 1
    national = NUMBERS[0].lstrip("+").encode()
    assert (national in (tmp_path / "msgkit.db").read_bytes()) is not first_keyed


@pytest.mark.parametrize(
    "value", ["not base64 at all!", "c2hvcnQ", "", "   "], ids=["text", "short", "empty", "blank"]
)
def test_a_bad_phone_key_fails_at_client_start_naming_the_variable(
    tmp_path: Path, value: str
) -> None:
    """A key that is not 16/24/32 bytes of base64 is refused when the client starts."""
    db = f"sqlite:///{tmp_path / 'msgkit.db'}"
    if not value.strip():
        # An empty variable is no key: the store is plain (and opens without one).
        with msgkit.Client(store=db, env={"MSGKIT_PHONE_KEY": value}) as client:
            client.create_list("m", [msgkit.Contact(phone=NUMBERS[0])])
        msgkit.Client(store=db, env={}).close()
        return
    with pytest.raises(msgkit.ConfigError, match="MSGKIT_PHONE_KEY") as refused:
        msgkit.Client(store=db, env={"MSGKIT_PHONE_KEY": value})
    assert value not in str(refused.value)
    assert "msgkit phone-key" in str(refused.value)
    assert not (tmp_path / "msgkit.db").exists()


def test_a_phone_key_in_the_configuration_file_is_refused(tmp_path: Path) -> None:
    """msgkit.toml never holds the key; phone_key_env names the variable instead."""
    db = f"sqlite:///{tmp_path / 'msgkit.db'}"
    with pytest.raises(msgkit.ConfigError, match="phone_key"):
        msgkit.Client(store=db, config={"phone_key": KEY}, env={})
    env = {"SHOP_PHONE_KEY": KEY}
    with msgkit.Client(store=db, config={"phone_key_env": "SHOP_PHONE_KEY"}, env=env) as client:
        client.create_list("m", [msgkit.Contact(phone=NUMBERS[0])])
    assert NUMBERS[0].encode() not in (tmp_path / "msgkit.db").read_bytes()


ALIBABA_TOKEN = "alibaba-path-token-e2e"


def _unkeyed_digests(number: str) -> list[bytes]:
    """What someone with the database but not the key computes from a candidate number
    to find its Alibaba messages: SHA-256 of any form of it, 12 hex characters (the
    provider id's digest without a key)."""
    forms = {*_forms(number), number_key(number)}
    return [hashlib.sha256(f.encode()).hexdigest()[:12].encode() for f in forms]


@pytest.mark.parametrize("phone_key", [None, KEY], ids=["plain", "encrypted"])
def test_alibaba_batch_receipts_match_without_an_unkeyed_digest_stored(
    tmp_path: Path, phone_key: str | None
) -> None:
    """An Alibaba batch (one BizId and OutId for all its numbers) is matched by its
    receipts (biz_id + phone_number) with or without the key; with it, the database
    holds no digest anyone can compute from a candidate number (before, the provider
    ids held SHA-256 of the number, 48 bits: the numbers could be found)."""
    env = {
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "alibaba-secret",
        "MSGKIT_ALIBABA_WEBHOOK_TOKEN": ALIBABA_TOKEN,
        **({} if phone_key is None else {"MSGKIT_PHONE_KEY": phone_key}),
    }
    fake = FakeAlibaba()
    clock = FakeClock(datetime.now(timezone.utc))
    db = f"sqlite:///{tmp_path / 'msgkit.db'}"
    with serve(fake) as url, httpx.Client() as http:
        config = {
            "providers": {
                "ali": {
                    "type": "alibaba",
                    "access_key_id": "LTAIkeyid",
                    "sign_name": "Shop",
                    "base_url": url,
                }
            }
        }
        client = msgkit.Client(store=db, config=config, env=env, clock=clock)
        members = client.create_list("m", [msgkit.Contact(phone=n) for n in NUMBERS])
        template = msgkit.Template(body="Your parcel is ready", code="SMS_1", review="approved")
        campaign = client.create_campaign("Parcel", template, audience=members, provider="ali")
        client.start(campaign)
        client.run(progress=False)
        sends = [
            (f"{i + 1}^0", request)
            for i, request in enumerate(fake.requests)
            if request.get("Action") == "SendSms"
        ]
        assert [len(r["PhoneNumbers"].split(",")) for _, r in sends] == [len(NUMBERS)]
        report = [
            {
                "phone_number": number,
                "success": True,
                "err_code": "DELIVERED",
                "biz_id": biz_id,
                "out_id": request["OutId"],
                "report_time": "2026-01-05 17:00:01",
            }
            for biz_id, request in sends
            for number in request["PhoneNumbers"].split(",")
        ]
        endpoints = endpoints_from_config(config["providers"], env)
        with serve(client.inbound_app(endpoints)) as hooks:
            answer = http.post(f"{hooks}/hooks/ali/{ALIBABA_TOKEN}/report", json=report)
            assert answer.status_code == 200, answer.text
        assert client.report(campaign).total.delivered == len(NUMBERS)
        client.close()
    stored = b"".join(data for _, data in _database_bytes(tmp_path))
    digests = [d for number in NUMBERS for d in _unkeyed_digests(number)]
    assert any(d in stored for d in digests) is (phone_key is None)
