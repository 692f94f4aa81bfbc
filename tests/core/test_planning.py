"""Tests of msgkit.core.planning: one planned message or one skip per contact, streamed."""

from __future__ import annotations

import gc
import itertools
import re
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from msgkit import (
    Campaign,
    Channel,
    ConfigError,
    Contact,
    NotAllowedError,
    Phone,
    SkipReason,
    Template,
    TemplateKind,
)
from msgkit.core.fatigue import FrequencyCap, SentRecord, check_caps
from msgkit.core.links import ShortLinks
from msgkit.core.optout import SuppressionKey
from msgkit.core.planning import (
    PlanItem,
    PlannedMessage,
    PlanSummary,
    Route,
    Skip,
    at_send,
    caps_in_force,
    message_id,
    message_key,
    plan,
    plan_one,
    plan_tests,
    send_time,
    summarize,
)
from msgkit.core.policy import SendPolicy, SendSpeed
from msgkit.core.pricing import Prices
from msgkit.core.templates import ContentRules, KindRules
from msgkit.core.windows import CHINA_PROMOTIONAL, CHINA_ZONE, ContactSchedule, recipient_zone

UTC = timezone.utc
NOW = datetime(2024, 1, 15, 3, 0, tzinfo=UTC)  # Monday: 11:00 in Taipei, 22:00 Sunday in Bogota
TAIPEI = "+886912345678"
BOGOTA = "+573001234567"
BEIJING = "+8613800138000"
NEW_YORK = "+12125550123"
LANDLINE = "+886223456789"
SECRET = "0123456789abcdef0123456789abcdef"
LINKS = ShortLinks(base_url="https://go.example.com/l", secret=SECRET)
ID = re.compile(r"[A-Za-z0-9_-]{16,64}")


def campaign(
    body: str = "Hi ${name}, our sale starts today",
    *,
    kind: str = "promotional",
    targets: dict[str, str] | None = None,
    **policy: Any,
) -> Campaign:
    return Campaign(
        name="Spring sale",
        id="spring",
        tags={"promo"},
        template=Template(body=body, kind=kind, code="SMS_1", links=targets or {}),
        policy=SendPolicy(**policy),
    )


def person(phone: str, name: str = "Amy", **extra: Any) -> Contact:
    return Contact(phone=phone, attributes={"name": name}, **extra)


def items(c: Campaign, audience: Any, **kwargs: Any) -> list[PlanItem]:
    return list(plan(c, audience, now=kwargs.pop("now", NOW), **kwargs))


def planned(item: PlanItem) -> PlannedMessage:
    assert isinstance(item, PlannedMessage), item
    return item


def skipped(item: PlanItem, reason: SkipReason) -> Skip:
    assert isinstance(item, Skip), item
    assert item.reason is reason, item
    return item


# --- what a planned message carries -------------------------------------------------------


def test_a_planned_message_carries_everything_the_outbox_needs() -> None:
    """A contact becomes a message with id, key, address, text, length, times and kind."""
    route = Route(channel="sms", provider="sms-main", sender="Acme")
    (item,) = items(campaign(), [person(TAIPEI)], route=route)
    message = planned(item)
    assert ID.fullmatch(message.id)
    assert message.id == message_id(message.key)
    assert message.key == message_key("spring", TAIPEI, 0)
    assert message.key.startswith("spring:")
    assert message.key.endswith(":0")
    assert TAIPEI not in message.key
    assert (message.campaign_id, message.contact_key, message.step) == ("spring", TAIPEI, 0)
    assert (message.channel, message.provider, message.sender) == (Channel.SMS, "sms-main", "Acme")
    assert message.to == TAIPEI
    assert message.text == "Hi Amy, our sale starts today"
    assert (message.kind, message.template_code) == (TemplateKind.PROMOTIONAL, "SMS_1")
    assert message.params == {"name": "Amy"}
    assert (message.encoding, message.segments) == ("GSM-7", 1)
    assert message.not_before == NOW
    assert message.expires_at == NOW + timedelta(days=3)
    assert not message.deferred
    assert not message.test
    assert (message.links, message.link_param) == ({}, None)
    assert message.counts_toward_caps


def test_a_planned_message_carries_the_template_media() -> None:
    """The template's media URLs go with every message planned from it."""
    media = ("https://cdn.example.com/a.png", "https://cdn.example.com/b.png")
    c = attrs.evolve(campaign(), template=Template(body="Hi ${name}", code="SMS_1", media=media))
    (item,) = items(c, [person(TAIPEI)], route=Route(channel="sms", provider="sms"))
    assert planned(item).media == media
    (plain,) = items(campaign(), [person(TAIPEI)], route=Route(channel="sms", provider="sms"))
    assert planned(plain).media == ()


def test_replanning_gives_the_same_ids() -> None:
    """Planning again (after a crash) gives the same keys and ids."""
    audience = [person(TAIPEI), person(BOGOTA), person(NEW_YORK)]
    first = [(i.key, planned(i).id) for i in items(campaign(), audience)]
    again = [
        (i.key, planned(i).id) for i in items(campaign(), audience, now=NOW + timedelta(hours=1))
    ]
    assert first == again


def test_recipient_of_the_key_is_the_address() -> None:
    """Two contacts with one number: the later is a duplicate with a key of its own (so the
    outbox keeps it), and the message's key follows the number whichever comes first."""
    a = person(TAIPEI, key="member-1")
    b = person(TAIPEI, key="member-2")
    first, second = items(campaign(), [a, b])
    assert planned(first).contact_key == "member-1"
    assert skipped(second, SkipReason.DUPLICATE).key != first.key
    assert items(campaign(), [a, b])[1].key == second.key  # deterministic
    reverse_first, _ = items(campaign(), [b, a])
    assert reverse_first.key == first.key


def test_addresses_are_checked() -> None:
    """No phone, a landline, and a region the channel does not reach are skipped."""
    web_contact = Contact(key="visitor-9")
    no_phone, landline = items(campaign(), [web_contact, person(LANDLINE)])
    assert "no phone number" in skipped(no_phone, SkipReason.NO_ADDRESS).detail
    detail = skipped(landline, SkipReason.INVALID_NUMBER).detail
    assert "fixed line" in detail
    assert LANDLINE not in detail  # masked
    line = Route(channel="line", regions={"JP", "TH", "TW"})
    tw, us = items(campaign(kind="notification"), [person(TAIPEI), person(NEW_YORK)], route=line)
    assert planned(tw).channel is Channel.LINE
    assert planned(tw).encoding is None
    assert "does not reach numbers of US" in skipped(us, SkipReason.NOT_ALLOWED).detail


def test_web_chat_goes_to_the_contact_key() -> None:
    """On web chat the address is the contact key; no phone needed."""
    c = campaign(kind="notification")
    (item,) = items(
        c, [Contact(key="visitor-9", attributes={"name": "Vi"})], route=Route(channel="webchat")
    )
    assert planned(item).to == "visitor-9"
    assert planned(item).segments == 1


def test_suppression_scopes() -> None:
    """Global, channel and same-sender opt-outs skip; another sender's does not."""
    route = Route(channel="sms", sender="Acme")
    numbers = [TAIPEI, BOGOTA, NEW_YORK, BEIJING]
    suppression = {
        SuppressionKey("*", TAIPEI),
        SuppressionKey("sms", BOGOTA),
        SuppressionKey("sms/Acme", NEW_YORK),
        SuppressionKey("sms/Other", BEIJING),
    }
    c = campaign(kind="notification")
    results = items(c, [person(n) for n in numbers], route=route, suppression=suppression)
    assert [r.reason for r in results[:3] if isinstance(r, Skip)] == [SkipReason.SUPPRESSED] * 3
    assert "everything" in results[0].detail  # type: ignore[union-attr]
    assert planned(results[3]).to == BEIJING


class HoldOut:
    """A control group fake: holds out the keys it is given."""

    def __init__(self, *keys: str) -> None:
        self.keys = set(keys)

    def holds_out(self, contact_key: str) -> bool:
        return contact_key in self.keys


class Only:
    """A segment fake: matches contacts whose attribute has a value."""

    def __init__(self, name: str, value: object) -> None:
        self.name, self.value = name, value
        self.seen_now: list[datetime] = []

    def matches(self, contact: Contact, *, now: datetime) -> bool:
        self.seen_now.append(now)
        return contact.attributes.get(self.name) == self.value


def test_control_group_and_segment() -> None:
    """Held-out contacts are skipped and counted; contacts outside the segment yield nothing."""
    audience = [person(TAIPEI, "A"), person(BOGOTA, "B"), person(NEW_YORK, "C", key="c")]
    segment = Only("name", "A")
    (only,) = items(campaign(), audience, segment=segment)
    assert planned(only).to == TAIPEI
    assert segment.seen_now == [NOW] * 3
    summary = summarize(plan(campaign(), audience, now=NOW, control=HoldOut("c")))
    assert (summary.planned, summary.held_out) == (2, 1)


def test_missing_variables_and_values() -> None:
    """A missing variable skips the contact; campaign values fill in; contact values win."""
    c = campaign("Hi ${name}, code ${code}")
    (missing,) = items(c, [person(TAIPEI)])
    assert "${code}" in skipped(missing, SkipReason.MISSING_VARIABLE).detail
    filled = items(c, [person(TAIPEI), person(BOGOTA)], values={"code": "SPRING"})
    assert planned(filled[0]).text == "Hi Amy, code SPRING"
    assert planned(filled[1]).params == {"name": "Amy", "code": "SPRING"}


def test_contact_value_beats_campaign_value() -> None:
    """A contact's attribute overrides the campaign-wide value of the same name."""
    c = campaign("Hi ${name}")
    (item,) = items(c, [person(TAIPEI, "Bo")], values={"name": "there"})
    assert planned(item).text == "Hi Bo"


# --- links and length ------------------------------------------------------------------


def test_short_links_with_tracking_parameter() -> None:
    """Links become short links with the recipient's param; the length counts the short form."""
    long_url = "https://shop.example.com/" + "spring-sale/" * 12
    c = campaign("Sale: ${link:shop}", targets={"shop": long_url}, links=LINKS)
    (item,) = items(c, [person(TAIPEI)])
    message = planned(item)
    code = LINKS.code("spring", "shop")
    param = LINKS.param("spring", TAIPEI)
    assert message.text == f"Sale: https://go.example.com/l/{code}?p={param}"
    assert message.links == {"shop": code}
    assert message.link_param == param
    assert message.segments == 1  # the long URL would have needed 2
    assert len(long_url) > 160


def test_links_without_tracking_or_without_shortening() -> None:
    """link_params=False keeps the short link without a param; no ShortLinks keeps the URL."""
    url = "https://shop.example.com/sale"
    plain = campaign(f"Sale {url}", link_params=False, links=LINKS)
    (item,) = items(plain, [person(TAIPEI)])
    assert planned(item).text == f"Sale https://go.example.com/l/{LINKS.code('spring', 'url1')}"
    assert planned(item).link_param is None
    (kept,) = items(campaign(f"Sale {url}"), [person(TAIPEI)])
    assert planned(kept).text == f"Sale {url}"
    assert planned(kept).links == {}


def test_link_codes_from_the_store_win() -> None:
    """Codes the store resolved after a collision replace the derived ones."""
    c = campaign("Sale ${link:shop}", targets={"shop": "https://x.example"}, links=LINKS)
    (item,) = items(c, [person(TAIPEI)], link_codes={"shop": "Other123"})
    assert "/Other123?p=" in planned(item).text
    assert planned(item).links == {"shop": "Other123"}


@attrs.frozen(kw_only=True, repr=False)
class CollidingLinks(ShortLinks):
    """Short links whose first param is the same for everyone (a forced collision)."""

    def param(self, campaign_id: str, recipient: str, *, attempt: int = 0) -> str:
        return (
            "SAME0000" if attempt == 0 else super().param(campaign_id, recipient, attempt=attempt)
        )


def test_param_collisions_are_resolved_within_a_plan() -> None:
    """When two recipients' params collide, the later gets the next candidate."""
    links = CollidingLinks(base_url="https://go.example.com/l", secret=SECRET)
    c = campaign("Sale ${link:shop}", targets={"shop": "https://x.example"}, links=links)
    first, second = (planned(i) for i in items(c, [person(TAIPEI), person(BOGOTA)]))
    assert first.link_param == "SAME0000"
    assert second.link_param == links.param("spring", BOGOTA, attempt=1)


def test_too_long_is_not_allowed() -> None:
    """Over 500 characters with the signature (scheme cn), or over the provider's maximum."""
    c = campaign("${name}", kind="notification")
    cn = Route(channel="sms", scheme="cn", sender="Acme")
    ok, too_long = items(c, [person(TAIPEI, "中" * 494), person(BOGOTA, "中" * 495)], route=cn)
    assert planned(ok).segments == 8  # 494 + 【Acme】 = 500 characters, parts of 67
    assert "500" in skipped(too_long, SkipReason.NOT_ALLOWED).detail
    capped = Route(channel="line", max_text=10)
    (item,) = items(c, [person(TAIPEI, "x" * 11)], route=capped)
    assert "at most 10" in skipped(item, SkipReason.NOT_ALLOWED).detail


def test_template_the_route_refuses_raises_at_once() -> None:
    """A template the channel refuses raises when plan() is called, before any contact."""
    strict = ContentRules(kinds={TemplateKind.PROMOTIONAL: KindRules(variables=False)})
    route = Route(channel="sms", content=strict)

    def audience() -> Iterator[Contact]:
        raise AssertionError("the audience must not be read")
        yield  # pragma: no cover

    with pytest.raises(NotAllowedError, match="may not contain variables"):
        plan(campaign(), audience(), now=NOW, route=route)
    reviewed = ContentRules(review=True)
    with pytest.raises(NotAllowedError, match="approved"):
        plan(campaign(), [], now=NOW, route=Route(channel="sms", content=reviewed))
    draft = campaign()
    assert draft.template is not None
    approved = draft.edit(template=draft.template.reviewed("submit").reviewed("approve"))
    assert items(approved, [person(TAIPEI)], route=Route(channel="sms", content=reviewed))
    with pytest.raises(ConfigError, match="no template"):
        plan(Campaign(name="empty"), [], now=NOW)
    with pytest.raises(ValueError, match="naive"):
        plan(campaign(), [], now=datetime(2024, 1, 1))  # noqa: DTZ001


# --- when ------------------------------------------------------------------------------

DAYTIME = ContactSchedule.parse("daily 09:00-20:00")


def test_recipients_in_utc_plus_8_and_utc_minus_5() -> None:
    """At 03:00 UTC Taipei gets it now, Bogota at its 09:00 (14:00 UTC), deferred."""
    taipei, bogota = items(campaign(schedule=DAYTIME), [person(TAIPEI), person(BOGOTA)])
    assert planned(taipei).not_before == NOW
    assert not planned(taipei).deferred
    assert planned(bogota).not_before == datetime(2024, 1, 15, 14, 0, tzinfo=UTC)
    assert planned(bogota).deferred


def test_zone_order_contact_then_phone_then_default() -> None:
    """The contact's zone beats the phone's; a contact without either uses the default."""
    c = campaign(schedule=DAYTIME, time_zone="America/Bogota", kind="notification")
    moved = person(TAIPEI, time_zone="America/Bogota")
    (item,) = items(c, [moved])
    assert planned(item).not_before == datetime(2024, 1, 15, 14, 0, tzinfo=UTC)
    (web,) = items(c, [Contact(key="v1", attributes={"name": "V"})], route=Route(channel="webchat"))
    assert planned(web).not_before == datetime(2024, 1, 15, 14, 0, tzinfo=UTC)


def test_dst_change_new_york() -> None:
    """The night New York springs forward, 09:00 local is 13:00 UTC (not 14:00)."""
    saturday_night = datetime(2024, 3, 10, 2, 0, tzinfo=UTC)
    (item,) = items(campaign(schedule=DAYTIME), [person(NEW_YORK)], now=saturday_night)
    assert planned(item).not_before == datetime(2024, 3, 10, 13, 0, tzinfo=UTC)


def test_window_crossing_midnight_in_plan() -> None:
    """A 22:00-02:00 window: a contact planned at 21:00 local waits until 22:00."""
    c = campaign(schedule=ContactSchedule.parse("daily 22:00-02:00"))
    nine_pm_taipei = datetime(2024, 1, 15, 13, 0, tzinfo=UTC)
    (item,) = items(c, [person(TAIPEI)], now=nine_pm_taipei)
    assert planned(item).not_before == datetime(2024, 1, 15, 14, 0, tzinfo=UTC)
    one_am = datetime(2024, 1, 15, 17, 0, tzinfo=UTC)
    (item,) = items(c, [person(TAIPEI)], now=one_am)
    assert planned(item).not_before == one_am


def test_china_rule() -> None:
    """A promotional SMS to +86 at 21:00 Beijing waits for 08:00; a notification does not."""
    nine_pm_beijing = datetime(2024, 1, 15, 13, 0, tzinfo=UTC)
    (promo,) = items(campaign(), [person(BEIJING)], now=nine_pm_beijing)
    assert planned(promo).not_before == datetime(2024, 1, 16, 0, 0, tzinfo=UTC)
    assert planned(promo).deferred
    (note,) = items(campaign(kind="notification"), [person(BEIJING)], now=nine_pm_beijing)
    assert planned(note).not_before == nine_pm_beijing
    # The rule follows Beijing time even for a contact whose own zone is elsewhere.
    abroad = person(BEIJING, time_zone="America/Bogota")
    (item,) = items(campaign(), [abroad], now=nine_pm_beijing)
    assert planned(item).not_before == datetime(2024, 1, 16, 0, 0, tzinfo=UTC)


def test_stale_campaign_expires_instead_of_sending() -> None:
    """A campaign scheduled long ago, planned after downtime, expires; unless still valid."""
    c = campaign(validity=timedelta(hours=6)).schedule(NOW - timedelta(days=2))
    (item,) = items(c, [person(TAIPEI)])
    assert "validity ended" in skipped(item, SkipReason.EXPIRED).detail
    fresh = campaign(validity=timedelta(days=3)).schedule(NOW - timedelta(days=2))
    (item,) = items(fresh, [person(TAIPEI)])
    assert planned(item).not_before == NOW
    assert planned(item).expires_at == NOW + timedelta(days=1)


def test_start_argument_anchors_validity() -> None:
    """Re-planning with the original start keeps the original expiry."""
    c = campaign(validity=timedelta(hours=6))
    (item,) = items(c, [person(TAIPEI)], start=NOW - timedelta(hours=5))
    assert planned(item).expires_at == NOW + timedelta(hours=1)
    (item,) = items(c, [person(TAIPEI)], start=NOW - timedelta(hours=7))
    skipped(item, SkipReason.EXPIRED)


def test_window_after_expiry_expires() -> None:
    """A message whose window opens only after the end date is expired, with the reason."""
    c = campaign(schedule=DAYTIME, ends_at=NOW + timedelta(hours=5))
    taipei, bogota = items(c, [person(TAIPEI), person(BOGOTA)])
    assert planned(taipei).expires_at == NOW + timedelta(hours=5)
    assert "no opening" in skipped(bogota, SkipReason.EXPIRED).detail


def test_future_send_at_is_the_earliest() -> None:
    """A campaign scheduled for later plans its messages for then, not deferred."""
    c = campaign().schedule(NOW + timedelta(hours=2))
    (item,) = items(c, [person(TAIPEI)])
    assert planned(item).not_before == NOW + timedelta(hours=2)
    assert not planned(item).deferred
    assert planned(item).expires_at == NOW + timedelta(hours=2, days=3)


# --- caps ------------------------------------------------------------------------------


def history(*hours_ago: float, channel: str = "sms") -> list[SentRecord]:
    return [
        SentRecord(at=NOW - timedelta(hours=h), channel=channel, tags={"promo"}) for h in hours_ago
    ]


def test_capped_contacts_are_skipped_with_when() -> None:
    """Over a cap, a contact is skipped as capped, saying when it would be allowed."""
    c = campaign(caps=[FrequencyCap(limit=1, per="day")])
    capped, free = items(c, [(person(TAIPEI), history(1)), (person(BOGOTA), [])])
    detail = skipped(capped, SkipReason.CAPPED).detail
    assert "at most 1 message per day" in detail
    assert "2024-01-15 16:00 UTC" in detail  # midnight in Taipei
    planned(free)


def test_defer_when_capped() -> None:
    """With when_capped='defer', the message waits for the cap and the window together."""
    c = campaign(caps=[FrequencyCap(limit=1, per="day")], when_capped="defer", schedule=DAYTIME)
    (item,) = items(c, [(person(TAIPEI), history(1))])
    # Allowed at Taipei's midnight, then the window opens at 09:00 Taipei.
    assert planned(item).not_before == datetime(2024, 1, 16, 1, 0, tzinfo=UTC)
    assert planned(item).deferred
    short = campaign(
        caps=[FrequencyCap(limit=1, per="day")], when_capped="defer", validity=timedelta(hours=3)
    )
    (item,) = items(short, [(person(TAIPEI), history(1))])
    assert "after the campaign ends" in skipped(item, SkipReason.CAPPED).detail


def test_notifications_are_exempt_unless_opted_in() -> None:
    """Notification campaigns ignore caps by default; apply_caps decides explicitly."""
    caps = [FrequencyCap(limit=1, per="day")]
    (note,) = items(campaign(kind="notification", caps=caps), [(person(TAIPEI), history(1))])
    assert not planned(note).counts_toward_caps
    (opted_in,) = items(
        campaign(kind="notification", caps=caps, apply_caps=True), [(person(TAIPEI), history(1))]
    )
    skipped(opted_in, SkipReason.CAPPED)
    (exempt,) = items(campaign(caps=caps, apply_caps=False), [(person(TAIPEI), history(1))])
    assert not planned(exempt).counts_toward_caps


def test_history_is_not_read_without_caps() -> None:
    """Without caps, a contact's history iterable is never consumed."""

    def untouchable() -> Iterator[SentRecord]:
        raise AssertionError("history read")
        yield  # pragma: no cover

    (item,) = items(campaign(), [(person(TAIPEI), untouchable())])
    planned(item)


# --- test sends, triggers, fallback -------------------------------------------------------


def test_test_sends() -> None:
    """Test sends go to the test numbers now, marked test, bypassing schedule and caps."""
    c = campaign(
        "Hi ${name:-tester}",
        test_numbers=[TAIPEI, BOGOTA],
        schedule=DAYTIME,
        caps=[FrequencyCap(limit=1)],
    )
    first = list(plan_tests(c, now=NOW, suppression={("*", BOGOTA)}))
    message = planned(first[0])
    assert message.test
    assert not message.counts_toward_caps
    assert message.text == "Hi tester"
    assert message.not_before == NOW
    assert skipped(first[1], SkipReason.SUPPRESSED).test
    assert message.key != message_key("spring", TAIPEI)
    again = list(plan_tests(c, now=NOW, round=2))
    assert planned(again[0]).key != message.key
    summary = summarize(first + again + items(c, [person(BOGOTA)]))
    assert (summary.tests, summary.planned, summary.skipped_total) == (3, 1, 0)


def test_plan_one_with_trigger_and_fallback_step() -> None:
    """Each trigger is its own message; a fallback step has its own key and route."""
    c = campaign(kind="notification")
    order1 = planned(plan_one(c, person(TAIPEI), now=NOW, trigger="order-1"))
    order2 = planned(plan_one(c, person(TAIPEI), now=NOW, trigger="order-2"))
    assert order1.key != order2.key
    assert order1.key == message_key("spring", TAIPEI, 0, trigger="order-1")
    fallback = planned(
        plan_one(
            c,
            person(TAIPEI),
            now=NOW,
            step=1,
            route=Route(channel="sms", provider="sms-backup"),
            template=Template(body="SMS: ${name}"),
        )
    )
    assert (fallback.step, fallback.provider, fallback.text) == (1, "sms-backup", "SMS: Amy")
    assert fallback.key == message_key("spring", TAIPEI, 1)


# --- summary and reprs -------------------------------------------------------------------


def test_summary_counts_while_streaming() -> None:
    """track() passes items through and counts planned, skipped, segments and cost."""
    c = campaign("${name}", schedule=DAYTIME)
    audience = [person(TAIPEI, "x" * 200), person(BOGOTA), Contact(key="nobody")]
    summary = PlanSummary(price_per_segment=Decimal("0.05"))
    seen = list(summary.track(plan(c, audience, now=NOW)))
    assert len(seen) == 3
    assert (summary.planned, summary.deferred, summary.segments) == (2, 1, 3)
    assert summary.skipped == {SkipReason.NO_ADDRESS: 1}
    assert summary.contacts == 3
    assert summary.cost == Decimal("0.15")
    assert summary.first_send == NOW
    assert summary.last_send == datetime(2024, 1, 15, 14, 0, tzinfo=UTC)
    assert summary.send_time(SendSpeed(messages=1, per=timedelta(minutes=1))) == timedelta(
        minutes=2
    )
    assert summary.send_time(None) is None
    assert PlanSummary().cost is None


def test_summary_prices_each_message_by_country_and_channel() -> None:
    """With prices, each SMS costs its parts times its country's price; a country with
    no price makes the cost unknown and is named in unpriced."""
    c = campaign("${name}")
    audience = [person(TAIPEI, "x" * 200), person(BOGOTA), person(NEW_YORK)]
    prices = Prices(default="0.05", countries={"TW": "0.04"}, currency="USD")
    summary = summarize_with(PlanSummary(prices=prices), plan(c, audience, now=NOW))
    assert summary.segments == 4
    assert (summary.cost, summary.currency, summary.unpriced) == (Decimal("0.18"), "USD", {})
    assert "cost 0.18 USD" in str(summary)
    partial = summarize_with(
        PlanSummary(prices=Prices(countries={"TW": "0.04"})), plan(c, audience, now=NOW)
    )
    assert partial.cost is None
    assert partial.priced_cost == Decimal("0.08")
    assert partial.unpriced == {"CO": 1, "US": 1}
    assert "no price for CO, US" in str(partial)
    assert "no prices configured" in str(summarize(plan(c, audience, now=NOW)))


def test_planned_messages_carry_their_region() -> None:
    """A planned message knows its recipient's phone region (for prices)."""
    message = planned(items(campaign(), [person(BOGOTA)])[0])
    assert message.region == "CO"


@given(
    main=st.lists(st.integers(min_value=1, max_value=4), max_size=8),
    fallback=st.lists(st.integers(min_value=1, max_value=4), max_size=8),
    price=st.decimals(min_value=0, max_value=1, places=3),
)
def test_a_fallback_summary_counts_later_steps_apart(
    main: list[int], fallback: list[int], price: Decimal
) -> None:
    """Items of step 1 go to the fallback summary; step 0 stays in the main one."""
    summary = PlanSummary(prices=Prices(default=price), fallback=PlanSummary(prices=Prices()))
    for step, parts in [(0, p) for p in main] + [(1, p) for p in fallback]:
        summary.add(_message(step, parts))
    assert (summary.planned, summary.segments) == (len(main), sum(main))
    assert summary.cost == price * sum(main)
    assert summary.fallback is not None
    assert (summary.fallback.planned, summary.fallback.segments) == (len(fallback), sum(fallback))
    assert summary.fallback.cost is None if fallback else summary.fallback.cost == 0
    assert summary.fallback.unpriced == ({"TW": len(fallback)} if fallback else {})


def _message(step: int, segments: int) -> PlannedMessage:
    return PlannedMessage(
        id="x",
        key=f"k:{step}",
        campaign_id="c",
        contact_key=TAIPEI,
        step=step,
        channel=Channel.SMS,
        provider=None,
        to=TAIPEI,
        text="t",
        kind=TemplateKind.NOTIFICATION,
        template_code=None,
        params={},
        sender=None,
        encoding="GSM-7",
        segments=segments,
        not_before=NOW,
        expires_at=None,
        region="TW",
    )


def summarize_with(summary: PlanSummary, items: Iterator[PlanItem]) -> PlanSummary:
    for item in items:
        summary.add(item)
    return summary


def test_reprs_mask_numbers() -> None:
    """Planned messages and skips print masked numbers."""
    message, skip = items(campaign(), [person(TAIPEI), Contact(phone=BOGOTA)])
    assert TAIPEI not in repr(message)
    assert "+8869****5678" in repr(message)
    assert BOGOTA not in repr(skip)


def test_campaign_policy_default_and_edit() -> None:
    """Campaigns get a default policy; edit() replaces it; the link secret never shows."""
    c = Campaign(name="x")
    assert c.policy == SendPolicy()
    edited = c.edit(policy=SendPolicy(links=LINKS, test_numbers=TAIPEI))
    assert edited.policy.test_numbers[0].e164 == TAIPEI
    assert SECRET not in repr(edited)
    assert TAIPEI not in repr(edited)


# --- properties ----------------------------------------------------------------------------

ZONES = ["Asia/Taipei", "America/Bogota", "America/New_York", "Europe/Berlin", "Asia/Shanghai"]


def tw_phone(n: int) -> Phone:
    e164 = f"+8869{n:08d}"
    return Phone(
        e164=e164, region="TW", country_code=886, number_type="mobile", time_zones=("Asia/Taipei",)
    )


PHONES = [TAIPEI, BOGOTA, BEIJING, NEW_YORK, "+491701234567", LANDLINE]
contacts_ = st.builds(
    Contact,
    phone=st.sampled_from([*PHONES, None]),
    key=st.uuids().map(str),
    attributes=st.fixed_dictionaries({}, optional={"name": st.sampled_from(["A", "Bé", "中"])}),
    time_zone=st.sampled_from([None, *ZONES]),
)
windows_ = st.sampled_from(
    [
        None,
        DAYTIME,
        ContactSchedule.parse("Mon-Fri 09:00-20:00; Sat 10:00-14:00"),
        ContactSchedule.parse("daily 22:00-02:00"),
        ContactSchedule.parse("Tue 02:00-03:00", blackout=["2024-03-12"]),
    ]
)
moments = st.one_of(
    st.datetimes(
        datetime(2024, 1, 1),  # noqa: DTZ001 - hypothesis bounds are naive
        datetime(2024, 12, 31),  # noqa: DTZ001
        timezones=st.just(UTC),
    ),
    st.sampled_from([datetime(2024, 3, 10, 2, tzinfo=UTC), datetime(2024, 3, 30, 22, tzinfo=UTC)]),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    audience=st.lists(contacts_, max_size=12),
    schedule=windows_,
    now=moments,
    send_delay=st.sampled_from([None, timedelta(hours=-30), timedelta(hours=5)]),
    validity=st.sampled_from([None, timedelta(hours=2), timedelta(days=1), timedelta(days=3)]),
    kind=st.sampled_from(["promotional", "notification"]),
)
def test_planned_times_are_inside_the_window_and_before_expiry(
    *,
    audience: list[Contact],
    schedule: ContactSchedule | None,
    now: datetime,
    send_delay: timedelta | None,
    validity: timedelta | None,
    kind: str,
) -> None:
    """Every planned send time is in the recipient's window, outside China's quiet hours
    when they apply, not before the start, and before expiry."""
    c = campaign(
        "Hi ${name:-you}",
        kind=kind,
        schedule=schedule,
        validity=validity,
        time_zone="Europe/Berlin",
    )
    if send_delay is not None:
        c = c.schedule(now + send_delay)
    for contact, item in zip(audience, plan(c, audience, now=now), strict=True):
        if not isinstance(item, PlannedMessage):
            continue
        zone_name = recipient_zone(contact, "Europe/Berlin")
        assert item.not_before >= now
        if c.send_at is not None:
            assert item.not_before >= c.send_at
        if schedule is not None:
            assert schedule.is_open(item.not_before, zone_name)
        if kind == "promotional" and item.to.startswith("+86"):
            assert CHINA_PROMOTIONAL.is_open(item.not_before, CHINA_ZONE)
        if item.expires_at is not None:
            assert item.not_before < item.expires_at


class Parity:
    """A control group fake holding out keys whose first hex digit is even."""

    def holds_out(self, contact_key: str) -> bool:
        return int(contact_key[0], 16) % 2 == 0


class HasName:
    """A segment fake: contacts with a name."""

    def matches(self, contact: Contact, *, now: datetime) -> bool:
        return "name" in contact.attributes


@settings(max_examples=150, deadline=None)
@given(
    audience=st.lists(contacts_, max_size=20, unique_by=lambda c: c.key),
    suppressed=st.sets(st.sampled_from(PHONES)),
    use_control=st.booleans(),
    use_segment=st.booleans(),
)
def test_each_contact_is_planned_or_skipped_once(
    audience: list[Contact], suppressed: set[str], use_control: bool, use_segment: bool
) -> None:
    """Every contact in the segment gets exactly one outcome; no address is planned twice."""
    suppression = {SuppressionKey("*", n) for n in suppressed}
    results = items(
        campaign("Hi ${name:-you}"),
        audience,
        suppression=suppression,
        control=Parity() if use_control else None,
        segment=HasName() if use_segment else None,
    )
    expected = [c.key for c in audience if not use_segment or "name" in c.attributes]
    assert [r.contact_key for r in results] == expected
    planned_keys = [r.contact_key for r in results if isinstance(r, PlannedMessage)]
    skipped_keys = [r.contact_key for r in results if isinstance(r, Skip)]
    assert not set(planned_keys) & set(skipped_keys)
    addresses = [r.to for r in results if isinstance(r, PlannedMessage)]
    assert len(addresses) == len(set(addresses))
    assert not set(addresses) & suppressed


records_ = st.lists(
    st.builds(
        SentRecord,
        at=st.integers(-10 * 24 * 60, 0).map(lambda m: NOW + timedelta(minutes=m)),
        channel=st.sampled_from([Channel.SMS, Channel.LINE]),
        tags=st.sampled_from([(), ("promo",)]),
    ),
    max_size=12,
)
caps_ = st.lists(
    st.builds(
        FrequencyCap,
        limit=st.integers(1, 3),
        per=st.sampled_from(["day", timedelta(hours=6), timedelta(days=1), timedelta(weeks=1)]),
        channel=st.sampled_from([None, Channel.SMS]),
        tag=st.sampled_from([None, "promo"]),
    ),
    min_size=1,
    max_size=3,
)


@settings(max_examples=150, deadline=None)
@given(
    caps=caps_,
    histories=st.lists(records_, min_size=1, max_size=6),
    mode=st.sampled_from(["skip", "defer"]),
    schedule=windows_,
)
def test_caps_are_never_exceeded(
    caps: list[FrequencyCap],
    histories: list[list[SentRecord]],
    mode: str,
    schedule: ContactSchedule | None,
) -> None:
    """For any history, a planned message stays within every cap at its send time; a
    skipped-as-capped one would not have."""
    c = campaign(
        "Hi ${name:-you}",
        caps=caps,
        when_capped=mode,
        schedule=schedule,
        validity=timedelta(days=10),
    )
    audience = [(Contact(phone=tw_phone(i)), h) for i, h in enumerate(histories)]
    for (_, past), item in zip(audience, plan(c, audience, now=NOW), strict=True):
        if isinstance(item, PlannedMessage):
            check = check_caps(
                caps,
                past,
                at=item.not_before,
                zone_name="Asia/Taipei",
                channel=Channel.SMS,
                tags=frozenset({"promo"}),
            )
            assert check.allowed, (check.detail, item)
        else:
            assert item.reason in (SkipReason.CAPPED, SkipReason.EXPIRED), item
            if mode == "skip" and schedule is None:
                assert not check_caps(
                    caps,
                    past,
                    at=NOW,
                    zone_name="Asia/Taipei",
                    channel=Channel.SMS,
                    tags=frozenset({"promo"}),
                ).allowed


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(0, 10**8 - 1), min_size=1, max_size=50, unique=True))
def test_short_params_are_stable_and_distinct(numbers: list[int]) -> None:
    """Planning twice gives every recipient the same param, and no two the same."""
    c = campaign("Sale ${link:shop}", targets={"shop": "https://x.example"}, links=LINKS)
    audience = [Contact(phone=tw_phone(n)) for n in numbers]
    first = [planned(i).link_param for i in plan(c, audience, now=NOW)]
    again = [planned(i).link_param for i in plan(c, list(reversed(audience)), now=NOW)]
    assert first == list(reversed(again))
    assert len(set(first)) == len(first)
    assert first == [LINKS.param("spring", f"+8869{n:08d}") for n in numbers]


# --- streaming -----------------------------------------------------------------------------


def test_planning_is_lazy() -> None:
    """The planner pulls one contact per item asked for."""
    pulled = 0

    def audience() -> Iterator[Contact]:
        nonlocal pulled
        for n in itertools.count():
            pulled += 1
            yield Contact(phone=tw_phone(n))

    stream = plan(campaign("Hi"), audience(), now=NOW)
    assert pulled == 0
    next(stream)
    assert pulled == 1
    list(itertools.islice(stream, 9))
    assert pulled == 10


def _contacts(count: int) -> Iterator[tuple[Contact, tuple[SentRecord, ...]]]:
    for n in range(count):
        yield Contact(phone=tw_phone(n), key=f"member-{n}", attributes={"name": f"N{n}"}), ()


def test_plans_100_000_contacts_without_holding_them() -> None:
    """100,000 contacts stream through with flat memory: the number of live memory blocks
    after 100,000 is what it was after 10,000 (holding them would add several per contact)."""
    c = campaign(
        "Hi ${name}, sale: ${link:shop}",
        targets={"shop": "https://shop.example.com/spring"},
        schedule=DAYTIME,
        caps=[FrequencyCap(limit=2, per="day")],
        links=LINKS,
    )
    summary = PlanSummary(price_per_segment="0.01")
    blocks: list[int] = []
    gc.collect()
    for count, _ in enumerate(summary.track(plan(c, _contacts(100_000), now=NOW)), 1):
        if count % 10_000 == 0:
            blocks.append(sys.getallocatedblocks())
    assert summary.planned == 100_000
    assert summary.segments == 100_000
    assert summary.cost == Decimal("1000.00")
    assert len(blocks) == 10
    assert blocks[-1] - blocks[0] < 5_000, blocks  # 90,000 contacts later


# -- outside the schedule, and the rule of when at send time ----------------------------


def test_outside_schedule_skip_is_a_skip_with_its_reason() -> None:
    """With outside_schedule='skip', Bogota (22:00) is skipped; Taipei (11:00) is planned."""
    c = campaign(schedule=DAYTIME, outside_schedule="skip")
    taipei, bogota = items(c, [person(TAIPEI), person(BOGOTA)])
    assert planned(taipei).not_before == NOW
    assert isinstance(bogota, Skip)
    assert bogota.reason is SkipReason.OUTSIDE_SCHEDULE
    assert "America/Bogota" in bogota.detail


def test_outside_schedule_must_be_defer_or_skip() -> None:
    """Any other value of outside_schedule is refused."""
    with pytest.raises(ValueError, match="outside_schedule"):
        SendPolicy(outside_schedule="drop")  # type: ignore[arg-type]


def test_planned_messages_carry_the_recipients_zone() -> None:
    """The zone the send time was chosen in travels with the message."""
    [item] = items(campaign(schedule=DAYTIME), [person(BOGOTA)])
    assert planned(item).time_zone == "America/Bogota"


def test_caps_in_force() -> None:
    """Notifications are exempt unless asked; tests never capped; caps bind by channel."""
    cap = FrequencyCap(limit=1, channel="sms")
    policy = SendPolicy(caps=[cap])
    assert caps_in_force(policy, kind="promotional", channel="sms", tags=frozenset()) == (cap,)
    assert caps_in_force(policy, kind="notification", channel="sms", tags=frozenset()) == ()
    assert caps_in_force(policy, kind="promotional", channel="line", tags=frozenset()) == ()
    assert (
        caps_in_force(policy, kind="promotional", channel="sms", tags=frozenset(), test=True) == ()
    )
    forced = SendPolicy(caps=[cap], apply_caps=True)
    assert caps_in_force(forced, kind="notification", channel="sms", tags=frozenset()) == (cap,)


def test_at_send_defers_skips_or_expires() -> None:
    """Just before sending: now if allowed, later if deferring, else the reason."""
    evening = datetime(2024, 1, 15, 13, 0, tzinfo=UTC)  # 21:00 in Taipei
    deferring = campaign(schedule=DAYTIME)
    facts: dict[str, Any] = {
        "channel": "sms",
        "kind": "promotional",
        "zone_name": "Asia/Taipei",
        "region": "TW",
    }
    assert at_send(deferring, now=NOW, expires_at=None, **facts).at == NOW
    later = at_send(deferring, now=evening, expires_at=None, **facts)
    assert later.at == datetime(2024, 1, 16, 1, 0, tzinfo=UTC)
    expired = at_send(deferring, now=evening, expires_at=evening + timedelta(hours=1), **facts)
    assert expired.reason is SkipReason.EXPIRED
    skipping = campaign(schedule=DAYTIME, outside_schedule="skip")
    assert at_send(skipping, now=evening, expires_at=None, **facts).reason is (
        SkipReason.OUTSIDE_SCHEDULE
    )
    assert at_send(skipping, now=evening, expires_at=None, test=True, **facts).at == evening
    capped = campaign(caps=[FrequencyCap(limit=1)])
    sent = [SentRecord(at=NOW - timedelta(minutes=5), channel="sms")]
    check = at_send(capped, now=NOW, expires_at=None, history=sent, **facts)
    assert check.reason is SkipReason.CAPPED
    deferring_cap = campaign(caps=[FrequencyCap(limit=1)], when_capped="defer")
    moved = at_send(deferring_cap, now=NOW, expires_at=None, history=sent, **facts)
    assert moved.at == datetime(2024, 1, 15, 16, 0, tzinfo=UTC)  # Taipei's midnight


@settings(max_examples=200, deadline=None)
@given(
    schedule=windows_.filter(lambda w: w is not None),
    at=moments,
    zone_name=st.sampled_from(ZONES),
    validity=st.sampled_from([None, timedelta(hours=2), timedelta(days=3)]),
)
def test_skipping_outside_the_schedule_differs_only_where_it_is_closed(
    schedule: ContactSchedule, at: datetime, zone_name: str, validity: timedelta | None
) -> None:
    """'skip' skips exactly when the schedule is closed at the due time (before expiry);
    otherwise it answers as 'defer' does."""
    expires = None if validity is None else at + validity
    common: dict[str, Any] = {
        "expires": expires,
        "schedule": schedule,
        "zone_name": zone_name,
        "china": False,
        "channel": Channel.SMS,
    }
    deferred = send_time(at, outside_schedule="defer", **common)
    skipped = send_time(at, outside_schedule="skip", **common)
    if schedule.is_open(at, zone_name):
        assert skipped == deferred
    else:
        assert skipped.at is None
        assert skipped.reason is SkipReason.OUTSIDE_SCHEDULE
    if deferred.at is not None:
        assert deferred.at >= at
        assert schedule.is_open(deferred.at, zone_name)
        assert expires is None or deferred.at < expires


@settings(max_examples=200, deadline=None)
@given(
    offsets=st.lists(st.integers(min_value=-48 * 60, max_value=0), max_size=6),
    at=moments,
    limit=st.integers(min_value=1, max_value=3),
    per=st.sampled_from(["day", timedelta(hours=4)]),
    when_capped=st.sampled_from(["skip", "defer"]),
)
def test_send_time_never_exceeds_a_cap(
    offsets: list[int], at: datetime, limit: int, per: Any, when_capped: Any
) -> None:
    """Whatever the history, a send time given is within every cap; a skip says capped."""
    caps = (FrequencyCap(limit=limit, per=per),)
    history = [SentRecord(at=at + timedelta(minutes=m), channel="sms") for m in offsets]
    when = send_time(
        at,
        expires=at + timedelta(days=3),
        schedule=DAYTIME,
        zone_name="Asia/Taipei",
        china=False,
        caps=caps,
        history=history,
        when_capped=when_capped,
        channel=Channel.SMS,
    )
    if when.at is None:
        assert when.reason in (SkipReason.CAPPED, SkipReason.EXPIRED)
        return
    assert check_caps(caps, history, at=when.at, zone_name="Asia/Taipei", channel="sms").allowed
    assert DAYTIME.is_open(when.at, "Asia/Taipei")
    if when_capped == "skip":
        assert when.at == DAYTIME.next_open(at, "Asia/Taipei")


@given(
    address=st.text(min_size=1, max_size=20),
    key=st.binary(min_size=16, max_size=32),
    other=st.binary(min_size=16, max_size=32),
    step=st.integers(0, 3),
)
def test_a_keyed_message_key_is_deterministic_and_depends_on_the_key(
    address: str, key: bytes, other: bytes, step: int
) -> None:
    """With a digest key, a message key is the same every time for the same key, and
    neither the unkeyed key nor another key's: it cannot be matched without the key."""
    keyed = message_key("spring", address, step, digest_key=key)
    assert keyed == message_key("spring", address, step, digest_key=key)
    assert keyed != message_key("spring", address, step)
    if other != key:
        assert keyed != message_key("spring", address, step, digest_key=other)
    assert message_key("spring", address, step, digest_key=None) == message_key(
        "spring", address, step
    )
