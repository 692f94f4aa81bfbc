"""Reports: what became of a campaign, counted in the store.

::

    report = client.report(campaign)          # or since=..., until=... (trigger time)
    rich.print(report)                        # tables in a terminal; HTML in a notebook
    report.total.delivered, report.by_day, report.channels, report.reply_lift
    report.to_csv(); report.to_json(); report.save_chart("funnel.png")

`build_report` reads the store only, in grouped queries (`Outbox.trigger_counts`,
`Inbox.engagement`): no message is loaded to count it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from msgkit.core.pricing import Balance, Prices
from msgkit.reports._model import ChannelCounts, Funnel, GroupStats, outcome
from msgkit.reports._model import channel_counts as _channel_counts
from msgkit.reports._model import funnel as _funnel
from msgkit.reports._model import funnels_by_day as _funnels_by_day
from msgkit.reports._report import Report
from msgkit.store.protocols import DeliveryStore

__all__ = [
    "ChannelCounts",
    "Funnel",
    "GroupStats",
    "Report",
    "build_report",
    "outcome",
]

#: The states `Client.save_segment` saves the recipients of.
SEGMENT_STATES = ("clicked", "control", "delivered", "replied", "undelivered")


def build_report(
    store: DeliveryStore,
    campaign_id: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    now: datetime,
    prices: Mapping[str, Prices] | None = None,
    zone: str | None = None,
    balance: Balance | None = None,
) -> Report:
    """The report of one campaign, from the store.

    Args:
        store: Where the campaign is.
        campaign_id: Its id.
        since: Count the triggers from this time on.
        until: Count the triggers before this time.
        now: When the report is made.
        prices: Prices by provider, for the cost (None: the cost is not known).
        zone: The time zone of the trigger dates (default: the campaign's policy's).
        balance: The balance the campaign's provider reports, to show with the figures.

    Raises:
        NotFoundError: There is no such campaign.
        ValueError: ``since`` is not before ``until``, or a time is naive.
    """
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.utcoffset() is None:
            raise ValueError(f"report {name}= must be an aware datetime (e.g. tzinfo=UTC)")
    if since is not None and until is not None and since >= until:
        raise ValueError(
            f"report since={since.isoformat()} is not before until={until.isoformat()}"
        )
    campaign = store.get_campaign(campaign_id)
    zone = zone or campaign.policy.time_zone
    rows = store.trigger_counts(campaign_id, since=since, until=until)
    engagement = store.engagement(campaign_id, since=since, until=until)
    total = _funnel(rows, prices)
    scenario = next(
        (t.removeprefix("scenario:") for t in sorted(campaign.tags) if t.startswith("scenario:")),
        None,
    )
    currencies = {p.currency for p in (prices or {}).values() if p.currency}
    notes = [
        f"Every figure counts triggers and is attributed to the date it was triggered "
        f"({zone}): a fallback sent on a later day counts for the day its first message "
        f"was triggered."
    ]
    if total.fallen_back or any(r.fallback is not None for r in rows):
        notes.append(
            "The channels count messages, the totals count triggers: a trigger that fell "
            "back sent one message on each channel."
        )
    if total.waiting_fallback:
        notes.append(
            f"{total.waiting_fallback} fallback(s) still wait for the outcome of their first "
            "message: that message counts as sent on its channel, but its trigger has no "
            "outcome yet, so the totals differ from the sum of the channels until they settle."
        )
    if prices is not None and total.cost is None:
        notes.append("Some sent messages have no price: configure prices to see the cost.")
    if len(currencies) > 1:
        notes.append("The providers' prices are in different currencies: the cost adds them up.")
    return Report(
        campaign_id=campaign.id,
        campaign=campaign.name,
        scenario=scenario,
        status=campaign.status.value,
        since=since,
        until=until,
        generated_at=now,
        zone=zone,
        currency=next(iter(currencies)) if len(currencies) == 1 else None,
        total=total,
        by_day=_funnels_by_day(rows, zone, prices),
        channels=tuple(_channel_counts(rows, prices)),
        clicks=engagement.clicks,
        unique_clicks=engagement.unique_clicks,
        replies=engagement.replies,
        opt_outs=engagement.opt_outs,
        control=GroupStats.of(engagement.control),
        treated=GroupStats.of(engagement.treated),
        notes=tuple(notes),
        balance=balance,
    )
