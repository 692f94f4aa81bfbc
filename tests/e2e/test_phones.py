"""Phone numbers: checks at import (invalid, non-mobile, national vs international,
region), `msgkit.contacts.parse_phone`, and masking wherever a number is shown."""

from __future__ import annotations

import csv
import io

import pytest

import msgkit
from msgkit.contacts import parse_phone
from msgkit.testing import Simulator
from tests.e2e.conftest import WriteCsv

AMY = "+886912345678"


def test_parse_phone_reads_numbers_as_people_write_them() -> None:
    """National, spaced, full-width and 00-prefixed numbers give one E.164 with its facts."""
    for raw in ("0912 345 678", "0912-345-678", "０９１２３４５６７８", "00886912345678"):
        assert parse_phone(raw, "TW").e164 == AMY
    phone = parse_phone("+886 912 345 678", "US")  # written with +: the region is ignored
    assert (phone.e164, phone.region, phone.is_mobile, phone.time_zones) == (
        AMY,
        "TW",
        True,
        ("Asia/Taipei",),
    )
    landline = parse_phone("02 2345 6789", "TW")
    assert (landline.e164, landline.is_mobile) == ("+886223456789", False)
    assert parse_phone("090-1234-5678", "JP").e164 == "+819012345678"


@pytest.mark.parametrize(
    ("raw", "region", "reason"),
    [
        ("12", "TW", "too_short"),
        ("0912345678", None, "no_region"),
        ("0912345678", "JP", "invalid_for_region"),
        ("", "TW", "empty"),
    ],
)
def test_parse_phone_says_why_a_number_is_refused(
    raw: str, region: str | None, reason: str
) -> None:
    """An unusable number raises InvalidPhoneError with a reason and a hint, number masked."""
    with pytest.raises(msgkit.InvalidPhoneError) as caught:
        parse_phone(raw, region)
    assert caught.value.reason == reason
    assert caught.value.hint
    assert "912345678" not in str(caught.value)


def test_parse_phone_mobile_only_and_unknown_region() -> None:
    """mobile_only refuses a landline as not_mobile; an unknown region is a ConfigError."""
    with pytest.raises(msgkit.InvalidPhoneError) as caught:
        parse_phone("02 2345 6789", "TW", mobile_only=True)
    assert caught.value.reason == "not_mobile"
    with pytest.raises(msgkit.ConfigError, match="unknown region 'XX'"):
        parse_phone("0912 345 678", "XX")


def test_import_reports_each_invalid_number_with_its_reason(
    client: msgkit.Client, sim: Simulator, write_csv: WriteCsv
) -> None:
    """Invalid numbers are rejected by row with the phone's own reason, and get nothing."""
    path = write_csv(
        [
            ("0912 345 678", "Amy"),
            ("12", "Bob"),
            ("0912 3456 7890 123", "Cat"),
            ("hello", "Dan"),
            ("+81 90-1234-5678", "Eri"),
        ]
    )
    members = client.import_list(path, phone="Mobile", variables={"name": "Name"}, region="TW")
    assert members.summary.accepted == 2
    assert members.summary.by_reason == {"invalid_phone": 3}
    assert sum(members.summary.phone_reasons.values()) == 3
    assert members.summary.phone_reasons["too_short"] == 1
    campaign = client.create_campaign("Hi", "Hi ${name}", audience=members.id)
    client.start(campaign)
    client.run(progress=False)
    assert {m.to: m.text for m in sim.messages.values()} == {
        AMY: "Hi Amy",
        "+819012345678": "Hi Eri",
    }


def test_national_numbers_need_a_region_international_ones_do_not(
    client: msgkit.Client, write_csv: WriteCsv
) -> None:
    """Without region= only +country numbers import; with it, national ones are read there."""
    path = write_csv([("0912 345 678", "Amy"), ("+81 90-1234-5678", "Eri")])
    bare = client.import_list(path, phone="Mobile", name="no region")
    assert (bare.summary.accepted, bare.summary.phone_reasons) == (1, {"no_region": 1})
    japan = client.import_list(path, phone="Mobile", region="JP", name="read in JP")
    assert japan.summary.phone_reasons == {"invalid_for_region": 1}
    taiwan = client.import_list(path, phone="Mobile", region="TW", name="read in TW")
    assert taiwan.summary.accepted == 2
    with pytest.raises(msgkit.ConfigError, match="region"):
        client.import_list(path, phone="Mobile", region="Taiwan")


def test_mobile_only_import_rejects_landlines(
    client: msgkit.Client, sim: Simulator, write_csv: WriteCsv
) -> None:
    """mobile_only=True rejects a landline at import as invalid_phone / not_mobile."""
    path = write_csv([("0912 345 678", "Amy"), ("02 2345 6789", "Office")])
    members = client.import_list(path, phone="Mobile", region="TW", mobile_only=True)
    assert members.summary.accepted == 1
    assert members.summary.phone_reasons == {"not_mobile": 1}
    [rejected] = list(csv.DictReader(io.StringIO(members.rejections_csv)))
    assert (rejected["row"], rejected["column"], rejected["Name"]) == ("3", "Mobile", "Office")
    campaign = client.create_campaign("Hi", "Hello", audience=members.id)
    client.start(campaign)
    client.run(progress=False)
    assert list(sim.recipients) == [AMY]


def test_a_landline_that_was_imported_is_not_sent_an_sms(
    client: msgkit.Client, sim: Simulator, write_csv: WriteCsv
) -> None:
    """Imported without mobile_only, a landline is skipped by the campaign with a reason."""
    path = write_csv([("0912 345 678", "Amy"), ("02 2345 6789", "Office")])
    members = client.import_list(path, phone="Mobile", region="TW")
    assert members.summary.accepted == 2
    campaign = client.create_campaign("Hi", "Hello", audience=members.id)
    client.start(campaign)
    client.run(progress=False)
    assert list(sim.recipients) == [AMY]
    skipped = client.progress(campaign).by_reason
    assert sum(skipped.values()) == 1
    assert set(skipped) <= {"invalid_number", "not_allowed"}


def test_numbers_are_masked_wherever_they_are_shown(
    client: msgkit.Client, write_csv: WriteCsv
) -> None:
    """Reprs of phones, contacts, messages and import results show +8869****5678 only."""
    path = write_csv([("0912 345 678", "Amy"), ("0912-345-678", "Amy again")])
    members = client.import_list(path, phone="Mobile", region="TW")
    campaign = client.create_campaign("Hi", "Hello", audience=members.id)
    started = client.start(campaign)
    [message] = client.messages(campaign)
    shown = [
        repr(parse_phone(AMY)),
        str(parse_phone(AMY)),
        repr(msgkit.Contact(phone=AMY, attributes={"name": "Amy"})),
        repr(message),
        repr(members),
        str(members),
        str(started),
        repr(started),
    ]
    rejection_detail = members.rejections_csv.splitlines()[1]
    shown.append(rejection_detail.split(",0912", 1)[0])  # the detail, not the original cells
    for text in shown:
        assert "912345678" not in text, text
    assert "+8869****5678" in repr(message)
    assert "+8869****5678" in rejection_detail
