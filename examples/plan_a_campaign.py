"""Plan a campaign for a streamed audience: who gets what, when, and what it costs.

Nothing is sent: planning is a dry run that answers "how many will receive this and
what will it cost" before anything leaves.

Run: python examples/plan_a_campaign.py
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import msgkit
from msgkit import (
    ContactSchedule,
    FrequencyCap,
    PlanSummary,
    Route,
    SendPolicy,
    SendSpeed,
    SentRecord,
    ShortLinks,
    Skip,
    history_since,
    plan,
    suppression_key,
)
from msgkit.contacts import mask

now = datetime(2024, 1, 15, 3, 0, tzinfo=timezone.utc)  # 11:00 in Taipei

campaign = msgkit.Campaign(
    name="Spring sale",
    id="spring-2024",
    tags={"promo"},
    template=msgkit.Template(
        body="Hi ${name}, the spring sale starts today: ${link:shop}",
        kind="promotional",
        links={"shop": "https://shop.example.com/spring"},
    ),
    policy=SendPolicy(
        schedule=ContactSchedule.parse("Mon-Fri 09:00-20:00; Sat 10:00-14:00"),
        caps=[FrequencyCap(limit=1, per="day", tag="promo")],
        send_speed=SendSpeed(messages=600, per=timedelta(minutes=1)),
        # Read the link secret from your configuration (ShortLinks.new_secret() makes one).
        links=ShortLinks(base_url="https://go.example.com/l", secret=ShortLinks.new_secret()),
    ),
)

PEOPLE = [
    ("+886912345678", "Amy", None),  # Taipei: inside the window now
    ("+573001234567", "Bo", None),  # Bogota: 22:00 there, waits for 09:00
    ("+8613800138000", "Chen", None),  # Beijing: 11:00, fine for promotional SMS
    ("+886933222111", "Dee", now - timedelta(hours=2)),  # had a promo today: capped
    ("+886955123456", "Eve", None),  # opted out
    ("+886912345678", "Amy again", None),  # the same number twice: duplicate
]
suppression = {suppression_key("+886955123456", scope="global", channel="sms")}


def audience() -> Iterator[tuple[msgkit.Contact, list[SentRecord]]]:
    """What a store would stream: each contact with its recent history."""
    since = history_since(campaign.policy.caps, now)
    for number, name, last_promo in PEOPLE:
        contact = msgkit.Contact(phone=number, attributes={"name": name})
        history = [SentRecord(at=last_promo, channel="sms", tags={"promo"})] if last_promo else []
        yield contact, [r for r in history if since is None or r.at >= since]


summary = PlanSummary(price_per_segment="0.035")
route = Route(channel="sms", provider="simulator", sender="Acme")
for item in summary.track(
    plan(campaign, audience(), now=now, route=route, suppression=suppression)
):
    if isinstance(item, Skip):
        print(f"skip  {item.reason.value:<10} {item.detail}")
    else:
        print(f"send  {mask(item.to)}  at {item.not_before:%a %H:%M} UTC  {item.text}")

print(
    f"\n{summary.planned} to send ({summary.deferred} deferred to their window), "
    f"{summary.skipped_total} skipped, {summary.segments} segments, "
    f"estimated cost {summary.cost}, sending takes {summary.send_time(campaign.policy.send_speed)}"
)
