"""The planner: for each contact of a campaign, a planned message or a skip with a reason.

`plan` is a pure generator: its inputs are the campaign (with its `SendPolicy`), the
audience, ``now``, the suppression list and what the provider allows (`Route`); it
reads no clock, does no I/O and never calls back into a store. For every contact it
yields exactly one `PlannedMessage` or one `Skip`, in the audience's order, and it
never holds the audience: memory grows only by a fixed-size digest per distinct
recipient (see "Memory" below).

Each contact goes through, in order (the first that refuses decides the `Skip`)::

    segment filter      not matching: not part of the campaign, nothing is yielded
    address             NO_ADDRESS, INVALID_NUMBER (not a mobile), NOT_ALLOWED (region)
    dedupe              DUPLICATE (the same address met earlier in this plan)
    suppression         SUPPRESSED (global, channel or sender opt-out)
    control group       CONTROL_GROUP (held out: recorded, not forgotten)
    render              MISSING_VARIABLE; links become short links (+ tracking param)
    length              NOT_ALLOWED (over the provider's or the carriers' maximum)
    when                EXPIRED (no opening before the validity ends), CAPPED

The send time is the first instant at or after the campaign's start that is inside the
recipient's contact schedule (their local time), outside the mainland-China quiet hours
when those apply, within the frequency caps (or the message is skipped as capped), and
before the validity ends.

**Feeding a large audience.** Pass an iterable of contacts, or of ``(contact,
history)`` pairs where ``history`` is that recipient's recent `SentRecord` list (for
frequency caps). A store streams its contacts in chunks, reads the history of each chunk
in one query, and yields the pairs; the planner pulls one item at a time::

    since = history_since(campaign.policy.caps, now)     # how far back history matters

    def audience():
        for chunk in store.contact_chunks(list_id, size=5_000):          # hypothetical
            recent = store.history(chunk, since=since)   # {contact key: [SentRecord]}
            for contact in chunk:
                yield contact, recent.get(contact.key, ())

    summary = PlanSummary(price_per_segment="0.035")
    items = plan(campaign, audience(), now=now, route=route,
                 suppression=store.suppression_set(), control=control)
    for batch in batched(summary.track(items), 1_000):   # itertools.batched on 3.12
        store.write_plan(batch)             # one transaction per batch, insert-or-ignore

A million contacts then flow through in constant memory apart from the dedupe table.
The suppression list is any `Container` of `SuppressionKey` pairs (a set the store loaded
for the channel, or per chunk; the SQL stores hand an `IndexedSuppression`, tested by
the index of an address, so an encrypted store opens none of its entries).

**Keys.** The recipient of the idempotency key ``(campaign, recipient, step)`` is the
*address* the message goes to — the E.164 number for SMS and LINE, the contact key for
web chat — not the contact key: two contact records with the same number are one
person, and re-planning after a crash in any order must give that number the same key,
or it would be messaged twice. In the key the address is hashed (BLAKE2b, 128 bits),
so keys in logs carry no phone numbers: ``"<campaign>:<32 hex>:<step>"``. The message id
is a 128-bit BLAKE2b digest of the key in hex (32 characters), so it is deterministic.

**Memory.** Dedupe keeps 63 bits of each distinct address's digest in a flat
open-addressing table: 16 to 32 bytes per recipient (load factor ½ to ¼), e.g. 16 MiB
for a million; with per-recipient link parameters, a second such table keeps the
parameters given out (to guarantee they are distinct). Two different addresses share a
63-bit digest with probability about n² / 2⁶⁴ (3 · 10⁻⁸ for a million): one of them
would be skipped as a duplicate. Per-zone send times are cached (a handful of entries).
"""

from __future__ import annotations

import hashlib
from array import array
from collections.abc import Container, Iterable, Iterator, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal, Protocol

import attrs

from msgkit.core import html
from msgkit.core._zones import utc
from msgkit.core.campaigns import Campaign
from msgkit.core.contacts import Contact, mask
from msgkit.core.delivery import Channel, SkipReason
from msgkit.core.fatigue import SentRecord
from msgkit.core.links import BASE62, ShortLinks
from msgkit.core.message import Message
from msgkit.core.optout import SuppressionKey, suppression_keys
from msgkit.core.policy import SendPolicy, SendSpeed
from msgkit.core.pricing import Prices
from msgkit.core.sms import measure
from msgkit.core.templates import ContentRules, ReviewStatus, Template
from msgkit.core.timing import SendTime, at_send, caps_in_force, is_capped, send_time, utc_text
from msgkit.core.windows import (
    china_rule_applies,
    expiry,
    recipient_zone,
)
from msgkit.exceptions import ConfigError, MissingVariableError, NotAllowedError

__all__ = [
    "NO_REGION",
    "AudienceItem",
    "HoldOut",
    "PlanItem",
    "PlanSummary",
    "PlannedMessage",
    "Route",
    "SegmentFilter",
    "SendTime",
    "Skip",
    "at_send",
    "caps_in_force",
    "check_step",
    "is_capped",
    "message_id",
    "message_key",
    "plan",
    "plan_one",
    "plan_tests",
    "send_time",
    "summarize",
]


class SegmentFilter(Protocol):
    """Who a campaign is for (`msgkit.core.segments` provides them)."""

    def matches(self, contact: Contact, *, now: datetime) -> bool:
        """Whether ``contact`` belongs to the segment at ``now``."""
        ...


class HoldOut(Protocol):
    """Who is held out of a campaign to measure its effect (`msgkit.core.segments`)."""

    def holds_out(self, contact_key: str) -> bool:
        """Whether the contact is held out (deterministic per campaign and contact)."""
        ...


def _scheme(_: object, __: object, value: str) -> None:
    if value not in ("gsm", "cn"):
        raise ValueError(f"unknown SMS scheme {value!r}: use 'gsm' or 'cn'")


def _regions(value: Iterable[str] | None) -> frozenset[str] | None:
    return None if value is None else frozenset(r.upper() for r in value)


@attrs.frozen(kw_only=True)
class Route:
    """Where and how one step is sent, and what the provider allows — as plain data.

    The core does not see providers; the engine builds a route from the provider's
    ``Capabilities`` (``channel``, ``scheme``, ``content``, ``max_text``) and its
    configured name and sender.

    Attributes:
        channel: SMS, LINE or web chat.
        provider: The configured provider name, or None for the default.
        sender: The SMS signature, from-number or account. In scheme ``"cn"`` it is the
            signature and counts in the length, in ``【】``.
        scheme: How SMS length is counted: ``"gsm"`` or ``"cn"``.
        content: What templates may contain on this route.
        max_text: The longest text accepted, in characters, or None.
        regions: The phone regions the channel reaches (LINE: ``{"JP", "TH", "TW"}``);
            None for all.
    """

    channel: Channel = attrs.field(converter=Channel)
    provider: str | None = None
    sender: str | None = None
    scheme: Literal["gsm", "cn"] = attrs.field(default="gsm", validator=_scheme)
    content: ContentRules = attrs.field(factory=ContentRules)
    max_text: int | None = None
    regions: frozenset[str] | None = attrs.field(default=None, converter=_regions)

    @classmethod
    def for_campaign(cls, campaign: Campaign) -> Route:
        """The campaign's own channel and provider, with no provider limits."""
        return cls(channel=campaign.channel, provider=campaign.provider)


#: What the planner yields for a contact it messages: the one message record
#: (`msgkit.core.message.Message`), every field set, ``not_before`` included.
PlannedMessage = Message


@attrs.frozen(kw_only=True, repr=False)
class Skip:
    """A contact the campaign does not message, and why.

    Attributes:
        key: The idempotency key the message would have had.
        campaign_id: The campaign.
        contact_key: The contact.
        step: The step.
        reason: Why, as data.
        detail: Why, in a sentence for people (phone numbers masked).
        test: Whether it was a test send.
        channel: The channel the message would have gone by.
    """

    key: str
    campaign_id: str
    contact_key: str
    step: int
    reason: SkipReason
    detail: str
    test: bool = False
    channel: Channel = attrs.field(default=Channel.SMS, converter=Channel)

    def __repr__(self) -> str:
        contact = mask(self.contact_key) if self.contact_key.startswith("+") else self.contact_key
        return (
            f"Skip(key={self.key!r}, contact_key={contact!r}, reason={self.reason.value!r}, "
            f"detail={self.detail!r}{', test=True' if self.test else ''})"
        )


PlanItem = PlannedMessage | Skip
AudienceItem = Contact | tuple[Contact, Iterable[SentRecord]]


def _recipient_digest(address: str, key: bytes | None = None) -> bytes:
    return hashlib.blake2b(address.encode("utf-8"), digest_size=16, key=key or b"").digest()


def _key(campaign_id: str, digest: bytes, step: int, trigger: str | None) -> str:
    middle = digest.hex() if trigger is None else f"{digest.hex()}:{trigger}"
    return f"{campaign_id}:{middle}:{step}"


def message_key(
    campaign_id: str,
    address: str,
    step: int = 0,
    *,
    trigger: str | None = None,
    digest_key: bytes | None = None,
) -> str:
    """The idempotency key of the message of ``step`` to ``address`` in a campaign.

    Args:
        campaign_id: The campaign.
        address: The E.164 number (SMS, LINE) or the contact key (web chat).
        step: 0 for the main message, 1 for the first fallback, ...
        trigger: For triggered campaigns, what triggered it (an order id), so that each
            trigger is its own message; test sends use ``"test-<round>"``.
        digest_key: Keys the address's digest (an encrypted store's
            ``digest_key``), so that no key, id or link parameter can be matched
            against candidate numbers without it. None: an unkeyed digest.

    Example:
        >>> message_key("spring", "+886912345678", 1)
        'spring:...:1'
    """
    return _key(campaign_id, _recipient_digest(address, digest_key), step, trigger)


def message_id(key: str) -> str:
    """Our message id for an idempotency key: 32 hex characters, deterministic."""
    return hashlib.blake2b(key.encode("utf-8"), digest_size=16).hexdigest()


class _DigestSet:
    """An insert-only set of integers below 2⁶³ in one flat ``array('Q')``.

    Open addressing with linear probing, kept at most half full: 16 to 32 bytes per
    member, against about 70 for a Python ``set`` of ints.
    """

    __slots__ = ("_count", "_mask", "_table")

    def __init__(self, capacity: int = 1024) -> None:
        self._table = array("Q", [0]) * capacity
        self._mask = capacity - 1
        self._count = 0

    def __len__(self) -> int:
        return self._count

    @property
    def nbytes(self) -> int:
        """The memory of the table."""
        return self._table.itemsize * len(self._table)

    def add(self, value: int) -> bool:
        """Add ``value``; True if it was new."""
        stored = value + 1  # 0 marks an empty slot
        table, mask = self._table, self._mask
        i = stored & mask
        while True:
            current = table[i]
            if current == 0:
                table[i] = stored
                self._count += 1
                if self._count * 2 > len(table):
                    self._grow()
                return True
            if current == stored:
                return False
            i = (i + 1) & mask

    def _grow(self) -> None:
        old = self._table
        self._table = array("Q", [0]) * (len(old) * 2)
        self._mask = len(self._table) - 1
        table, mask = self._table, self._mask
        for stored in old:
            if stored:
                i = stored & mask
                while table[i]:
                    i = (i + 1) & mask
                table[i] = stored


_BASE62_VALUE = {ch: value for value, ch in enumerate(BASE62)}


def _param_number(param: str) -> int:
    """The number a base62 param writes (exact, so distinct params are distinct numbers;
    uniform, as the dedupe table's slots need: not its ASCII bytes, whose low bits
    cluster)."""
    number = 0
    for ch in param:
        number = number * 62 + _BASE62_VALUE[ch]
    return number


#: How many times the schedule, the China rule and deferring caps may push the send
#: time before the planner gives up (they cannot all be satisfied before expiry).
def check_step(campaign: Campaign, route: Route, template: Template | None = None) -> Template:
    """Refuse a step that cannot be planned at all; returns its template.

    Args:
        campaign: The campaign.
        route: The step's route (its channel's content rules).
        template: The step's template (a fallback's); default the campaign's.

    Raises:
        ConfigError: The campaign has no template.
        NotAllowedError: The channel refuses the template (kind, variables, links,
            media), or the platform reviews templates and this one is not approved.
    """
    template = template or campaign.template
    if template is None:
        raise ConfigError(
            f"campaign {campaign.name!r} has no template",
            key="template",
            hint="give the campaign a template (campaign.edit(template=...))",
        )
    policy = campaign.policy
    tracking = policy.links is not None and bool(template.link_list) and policy.link_params
    template.check(route.content, short_params=tracking)
    if route.content.review and template.review is not ReviewStatus.APPROVED:
        raise NotAllowedError((template.review_refusal(),))
    return template


class _Planner:
    """The per-plan state: decisions that are the same for every contact, made once."""

    def __init__(
        self,
        campaign: Campaign,
        *,
        now: datetime,
        route: Route | None = None,
        suppression: Container[SuppressionKey] = frozenset(),
        control: HoldOut | None = None,
        values: Mapping[str, object] | None = None,
        start: datetime | None = None,
        step: int = 0,
        template: Template | None = None,
        link_codes: Mapping[str, str] | None = None,
        test: bool = False,
        digest_key: bytes | None = None,
    ) -> None:
        self.route = route = route or Route.for_campaign(campaign)
        self.digest_key = digest_key
        template = check_step(campaign, route, template)
        self.campaign = campaign
        self.template = template
        self.policy: SendPolicy = campaign.policy
        self.suppression = suppression
        self.control = None if test else control
        self.values = values
        self.step = step
        self.test = test
        now = utc(now)

        links = self.policy.links if template.link_list else None
        self.links: ShortLinks | None = links
        self.tracking = links is not None and self.policy.link_params
        self.codes: dict[str, str] = {}
        if links is not None:
            given = link_codes or {}
            self.codes = {
                link.name: given.get(link.name, link.code)
                for link in links.links_for(campaign.id, template)
            }
        self.params_seen = _DigestSet()

        if test:
            self.earliest = now
            self.expires = expiry(now, validity=self.policy.validity, ends_at=None)
            self.schedule = None
        else:
            send_at = utc(campaign.send_at) if campaign.send_at else now
            self.earliest = max(now, send_at)
            anchor = utc(start) if start is not None else send_at
            self.expires = expiry(
                anchor, validity=self.policy.validity, ends_at=self.policy.ends_at
            )
            self.schedule = self.policy.schedule
        self.counts_toward_caps = is_capped(self.policy, kind=template.kind, test=test)
        self.caps = caps_in_force(
            self.policy,
            kind=template.kind,
            channel=route.channel,
            tags=campaign.tags,
            test=test,
        )
        self._when_cache: dict[tuple[str, bool], SendTime] = {}

    # -- one contact ------------------------------------------------------------------

    def decide(
        self,
        contact: Contact,
        history: Iterable[SentRecord] = (),
        *,
        dedupe: _DigestSet | None = None,
        trigger: str | None = None,
    ) -> PlanItem:
        address, problem = self._address(contact)
        digest = _recipient_digest(
            address if address is not None else f"contact:{contact.key}", self.digest_key
        )
        key = _key(self.campaign.id, digest, self.step, trigger)

        if address is None or problem is not None:
            reason, detail = problem or (SkipReason.NO_ADDRESS, "no address")
            return self._skip(key, contact, reason, detail)
        if dedupe is not None and not dedupe.add(int.from_bytes(digest[:8], "big") >> 1):
            # Its own key (the message's belongs to the earlier contact), so the store
            # keeps the skip; deterministic, so a re-plan writes it once.
            key = _key(
                self.campaign.id,
                _recipient_digest(f"duplicate:{address}:{contact.key}", self.digest_key),
                self.step,
                trigger,
            )
            return self._skip(
                key,
                contact,
                SkipReason.DUPLICATE,
                "an earlier contact of this plan has the same address",
            )
        route = self.route
        if self.suppression:
            for entry in suppression_keys(address, channel=route.channel, sender=route.sender):
                if entry in self.suppression:
                    scope = "everything" if entry.scope == "*" else entry.scope
                    return self._skip(key, contact, SkipReason.SUPPRESSED, f"opted out of {scope}")
        if self.control is not None and self.control.holds_out(contact.key):
            return self._skip(
                key, contact, SkipReason.CONTROL_GROUP, "held out in the campaign's control group"
            )

        values = {**self.values, **contact.attributes} if self.values else contact.attributes
        try:
            params = self.template.resolve(values)
        except MissingVariableError as exc:
            return self._skip(key, contact, SkipReason.MISSING_VARIABLE, str(exc))
        # With a digest key, the parameter is made from the keyed digest, not the number:
        # the link key is readable in the campaign, the digest key is not.
        who = address if self.digest_key is None else digest.hex()
        param = self._param(who, dedupe is not None) if self.tracking else None
        links = self.links
        urls = (
            {name: links.url(code, param) for name, code in self.codes.items()} if links else None
        )
        text, unsafe = self.policy.content.screen(self.template.fill(params, links=urls))
        if unsafe is not None:
            return self._skip(key, contact, SkipReason.UNSAFE_CONTENT, unsafe)

        encoding: str | None = None
        segments = 1
        if route.channel is Channel.SMS:
            signature = route.sender if route.scheme == "cn" else None
            length = measure(text, scheme=route.scheme, signature=signature)
            if length.too_long:
                return self._skip(
                    key,
                    contact,
                    SkipReason.NOT_ALLOWED,
                    f"the text has {length.units} characters with its signature; "
                    f"at most {length.max_units} are allowed",
                )
            encoding, segments = length.encoding, length.segments
        limit = route.max_text if route.max_text is not None else self.policy.content.max_length
        if len(text) > limit:
            whose = "the provider takes" if route.max_text is not None else "the campaign allows"
            return self._skip(
                key,
                contact,
                SkipReason.NOT_ALLOWED,
                f"the text has {len(text)} characters; {whose} at most {limit}",
            )

        zone_name = recipient_zone(contact, self.policy.time_zone)
        china = contact.phone is not None and china_rule_applies(
            channel=route.channel, kind=self.template.kind, region=contact.phone.region
        )
        when = self._when(zone_name, china, history)
        if when.at is None:
            assert when.reason is not None
            return self._skip(key, contact, when.reason, when.detail)

        return PlannedMessage(
            id=message_id(key),
            key=key,
            campaign_id=self.campaign.id,
            contact_key=contact.key,
            step=self.step,
            channel=route.channel,
            provider=route.provider,
            to=address,
            text=text,
            kind=self.template.kind,
            template_code=self.template.code,
            params=params,
            sender=route.sender,
            encoding=encoding,
            segments=segments,
            not_before=when.at,
            expires_at=self.expires,
            deferred=when.at > self.earliest,
            test=self.test,
            links=self.codes,
            link_param=param,
            counts_toward_caps=self.counts_toward_caps,
            region=contact.phone.region if contact.phone is not None else None,
            time_zone=zone_name,
            media=self.template.media,
            options=self.template.options,
        )

    def _skip(self, key: str, contact: Contact, reason: SkipReason, detail: str) -> Skip:
        return Skip(
            key=key,
            campaign_id=self.campaign.id,
            contact_key=contact.key,
            step=self.step,
            reason=reason,
            detail=detail,
            test=self.test,
            channel=self.route.channel,
        )

    def _address(self, contact: Contact) -> tuple[str | None, tuple[SkipReason, str] | None]:
        channel = self.route.channel
        if channel is Channel.WEBCHAT:
            return contact.key, None
        phone = contact.phone
        if phone is None:
            return None, (SkipReason.NO_ADDRESS, f"no phone number to send {channel.value} to")
        if not phone.is_mobile:
            kind = phone.number_type.replace("_", " ")
            return phone.e164, (
                SkipReason.INVALID_NUMBER,
                f"{phone.masked} is a {kind} number: {channel.value} needs a mobile",
            )
        regions = self.route.regions
        if regions is not None and phone.region not in regions:
            reached = ", ".join(sorted(regions))
            return phone.e164, (
                SkipReason.NOT_ALLOWED,
                f"{channel.value} does not reach numbers of {phone.region} (only {reached})",
            )
        return phone.e164, None

    def _param(self, address: str, distinct: bool) -> str:
        assert self.links is not None
        attempt = 0
        while True:
            param = self.links.param(self.campaign.id, address, attempt=attempt)
            if not distinct or self.params_seen.add(_param_number(param)):
                return param
            attempt += 1

    # -- when -------------------------------------------------------------------------

    def _when(self, zone_name: str, china: bool, history: Iterable[SentRecord]) -> SendTime:
        records = tuple(history) if self.caps else ()
        if records:
            return self._settle(zone_name, china, records)
        cached = self._when_cache.get((zone_name, china))
        if cached is None:
            cached = self._when_cache[(zone_name, china)] = self._settle(zone_name, china, ())
        return cached

    def _settle(self, zone_name: str, china: bool, history: tuple[SentRecord, ...]) -> SendTime:
        return send_time(
            self.earliest,
            expires=self.expires,
            schedule=self.schedule,
            outside_schedule=self.policy.outside_schedule,
            zone_name=zone_name,
            china=china,
            caps=self.caps,
            history=history,
            when_capped=self.policy.when_capped,
            channel=self.route.channel,
            tags=self.campaign.tags,
        )

    # -- many contacts ----------------------------------------------------------------

    def run(
        self, audience: Iterable[AudienceItem], segment: SegmentFilter | None, now: datetime
    ) -> Iterator[PlanItem]:
        dedupe = _DigestSet()
        for item in audience:
            if isinstance(item, tuple):
                contact, history = item
            else:
                contact, history = item, ()
            if segment is not None and not segment.matches(contact, now=now):
                continue
            yield self.decide(contact, history, dedupe=dedupe)


def plan(
    campaign: Campaign,
    audience: Iterable[AudienceItem],
    *,
    now: datetime,
    route: Route | None = None,
    suppression: Container[SuppressionKey] = frozenset(),
    segment: SegmentFilter | None = None,
    control: HoldOut | None = None,
    values: Mapping[str, object] | None = None,
    start: datetime | None = None,
    step: int = 0,
    template: Template | None = None,
    link_codes: Mapping[str, str] | None = None,
    digest_key: bytes | None = None,
) -> Iterator[PlanItem]:
    """Plan a campaign for an audience: one `PlannedMessage` or `Skip` per contact.

    The campaign-wide checks run at once (so a template the channel refuses raises
    here, not after a million contacts); the contacts are then pulled one at a time.

    Args:
        campaign: The campaign, with its template and `SendPolicy`.
        audience: Contacts, or ``(contact, history)`` pairs (see the module docs).
        now: The current time (aware).
        route: Channel, provider and the provider's limits; default: the campaign's
            channel and provider, with no limits.
        suppression: The suppression list: a container of ``(scope, address)`` keys.
        segment: Keep only the contacts it matches (the others yield nothing).
        control: Hold out the contacts it says (skipped as ``control_group``).
        values: Values for template variables, for every contact; a contact's own
            attributes win.
        start: When the campaign started, for its validity; default its ``send_at``,
            else ``now``. Pass the original start when re-planning after a restart.
        step: 0 for the main message, 1 for the first fallback, ...
        template: The template of this step; default the campaign's.
        link_codes: Short codes by link name, when the store had to resolve a code
            collision; default: derived from the campaign and the link name.
        digest_key: Keys the recipient digest of message keys, ids and link parameters
            (an encrypted store's ``digest_key``; see `message_key`).

    Returns:
        A generator of plan items, in the audience's order.

    Raises:
        ConfigError: The campaign has no template.
        NotAllowedError: The route does not allow the template (kind, variables,
            links, tracking parameters, review).
        ValueError: ``now`` is naive.
    """
    planner = _Planner(
        campaign,
        now=now,
        route=route,
        suppression=suppression,
        control=control,
        values=values,
        start=start,
        step=step,
        template=template,
        link_codes=link_codes,
        digest_key=digest_key,
    )
    return planner.run(audience, segment, utc(now))


def plan_one(
    campaign: Campaign,
    contact: Contact,
    *,
    now: datetime,
    history: Iterable[SentRecord] = (),
    route: Route | None = None,
    suppression: Container[SuppressionKey] = frozenset(),
    control: HoldOut | None = None,
    values: Mapping[str, object] | None = None,
    start: datetime | None = None,
    step: int = 0,
    template: Template | None = None,
    trigger: str | None = None,
    link_codes: Mapping[str, str] | None = None,
    digest_key: bytes | None = None,
) -> PlanItem:
    """Plan one message: a triggered send, or the fallback step of one recipient.

    Same rules and arguments as `plan`, for one contact and its ``history``. ``trigger``
    (an order id, an event id) makes each trigger its own message (see `message_key`).
    """
    planner = _Planner(
        campaign,
        now=now,
        route=route,
        suppression=suppression,
        control=control,
        values=values,
        start=start,
        step=step,
        template=template,
        link_codes=link_codes,
        digest_key=digest_key,
    )
    return planner.decide(contact, history, trigger=trigger)


def plan_tests(
    campaign: Campaign,
    *,
    now: datetime,
    route: Route | None = None,
    suppression: Container[SuppressionKey] = frozenset(),
    values: Mapping[str, object] | None = None,
    round: int = 1,
    digest_key: bytes | None = None,
) -> Iterator[PlanItem]:
    """Plan a test send to the campaign's ``policy.test_numbers``.

    Test messages are marked ``test``, sent from ``now`` (the contact schedule, caps,
    control group and end date do not apply; the validity counts from ``now``; the
    mainland-China rule and opt-outs still do), and never counted in reports. Each
    ``round`` is its own set of messages: raise it to send the test again.

    Args:
        campaign: The campaign.
        now: The current time.
        route: As for `plan`.
        suppression: As for `plan`.
        values: Values for the template's variables (defaults apply when missing).
        round: Which test round.
        digest_key: As for `plan`.
    """
    planner = _Planner(
        campaign,
        now=now,
        route=route,
        suppression=suppression,
        values=values,
        test=True,
        digest_key=digest_key,
    )
    contacts = [Contact(phone=phone) for phone in campaign.policy.test_numbers]
    dedupe = _DigestSet(16)
    return (planner.decide(c, dedupe=dedupe, trigger=f"test-{round}") for c in contacts)


def _decimal(value: Decimal | str | int | float | None) -> Decimal | None:
    return None if value is None else Decimal(str(value))


#: The `PlanSummary.unpriced` key of messages to no country (web chat).
NO_REGION = "ZZ"


# Counted per planned message: no setattr hook on the counts (attrs' default runs the
# converters on every assignment, three per message); the price still converts.
@attrs.define(kw_only=True, on_setattr=attrs.setters.NO_OP)
class PlanSummary:
    """How many will receive a campaign, who is skipped and why, and what it costs,
    counted while streaming.

    Feed it every item (`add`), or wrap the plan (`track`) and consume the wrapper;
    it keeps counts only, never the items. Test sends are counted apart (`tests`) and
    nowhere else. With a `fallback` summary, the items of later steps are counted there.

    The cost of each planned message comes from `prices` (per SMS part for SMS, per
    message otherwise, by the recipient's country), or from a flat
    `price_per_segment`. When some message has no price, `cost` is None and
    `unpriced` says which countries lack one.

    Attributes:
        price_per_segment: A flat price of one billed part, for `cost` (instead of
            `prices`).
        prices: The provider's prices, for `cost`.
        planned: Messages planned.
        deferred: Of those, how many wait for a window.
        segments: Billed parts of the planned messages.
        skipped: Skips by reason.
        tests: Test messages planned.
        first_send: The earliest planned send time.
        last_send: The latest planned send time.
        priced_cost: The cost of the planned messages that have a price.
        unpriced: Planned messages without a price, by destination region code
            (``"ZZ"`` for messages to no country, such as web chat).
        fallback: The same counts for the fallback step, or None: messages that go
            only if the first step fails (so its cost is at most this).

    Example:
        >>> summary = PlanSummary(price_per_segment="0.04")
        >>> summary.planned, summary.cost
        (0, Decimal('0.00'))
    """

    price_per_segment: Decimal | None = attrs.field(
        default=None, converter=_decimal, on_setattr=attrs.setters.convert
    )
    prices: Prices | None = None
    planned: int = 0
    deferred: int = 0
    segments: int = 0
    skipped: dict[SkipReason, int] = attrs.field(factory=dict)
    tests: int = 0
    first_send: datetime | None = None
    last_send: datetime | None = None
    priced_cost: Decimal = Decimal(0)
    unpriced: dict[str, int] = attrs.field(factory=dict)
    fallback: PlanSummary | None = None

    def add(self, item: PlanItem) -> None:
        """Count one plan item."""
        if item.step > 0 and self.fallback is not None:
            self.fallback.add(item)
            return
        if item.test:
            if isinstance(item, PlannedMessage):
                self.tests += 1
            return
        if isinstance(item, Skip):
            self.skipped[item.reason] = self.skipped.get(item.reason, 0) + 1
            return
        self.planned += 1
        self.segments += item.segments
        self.deferred += item.deferred
        if self.prices is not None:
            cost = self.prices.cost(item.channel, segments=item.segments, region=item.region)
            if cost is None:
                region = item.region or NO_REGION
                self.unpriced[region] = self.unpriced.get(region, 0) + 1
            else:
                self.priced_cost += cost
        at = item.not_before
        if at is None:  # the planner always sets it
            return
        if self.first_send is None or at < self.first_send:
            self.first_send = at
        if self.last_send is None or at > self.last_send:
            self.last_send = at

    def track(self, items: Iterable[PlanItem]) -> Iterator[PlanItem]:
        """Pass ``items`` through, counting each as it goes by."""
        for item in items:
            self.add(item)
            yield item

    @property
    def held_out(self) -> int:
        """Contacts held out in the control group."""
        return self.skipped.get(SkipReason.CONTROL_GROUP, 0)

    @property
    def skipped_total(self) -> int:
        """Contacts skipped, for any reason."""
        return sum(self.skipped.values())

    @property
    def contacts(self) -> int:
        """Contacts planned or skipped (test sends excluded)."""
        return self.planned + self.skipped_total

    @property
    def cost(self) -> Decimal | None:
        """What the planned messages cost; None without prices, or when some
        destination has no price (see `unpriced`)."""
        if self.price_per_segment is not None:
            return self.segments * self.price_per_segment
        if self.prices is None or self.unpriced:
            return None
        return self.priced_cost

    @property
    def currency(self) -> str | None:
        """The currency of `cost`, when the prices name one."""
        return None if self.prices is None else self.prices.currency

    def send_time(self, speed: SendSpeed | None) -> timedelta | None:
        """How long the planned messages take to send at ``speed`` (None: unlimited)."""
        return None if speed is None else speed.duration(self.planned)

    def __str__(self) -> str:
        lines = [
            f"{self.contacts:,} contacts: {self.planned:,} planned "
            f"({self.deferred:,} deferred), {self.skipped_total:,} skipped"
        ]
        for reason, count in sorted(self.skipped.items(), key=lambda kv: (-kv[1], kv[0].value)):
            lines.append(f"  {reason.value:<20}{count:>8,}")
        lines.append(f"segments {self.segments:,}, cost {self._cost_text()}")
        if self.first_send is not None and self.last_send is not None:
            lines.append(f"sending from {utc_text(self.first_send)} to {utc_text(self.last_send)}")
        if self.fallback is not None:
            fb = self.fallback
            lines.append(
                f"fallback: up to {fb.planned:,} planned, {fb.skipped_total:,} skipped, "
                f"cost up to {fb._cost_text()}"
            )
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        """The summary as an HTML table, for notebooks."""
        rows: list[tuple[object, object]] = [
            ("contacts", f"{self.contacts:,}"),
            ("planned", f"{self.planned:,} ({self.deferred:,} deferred)"),
            ("skipped", f"{self.skipped_total:,}"),
        ]
        for reason, count in sorted(self.skipped.items(), key=lambda kv: (-kv[1], kv[0].value)):
            rows.append((f"skipped: {reason.value}", f"{count:,}"))
        rows += [("segments", f"{self.segments:,}"), ("cost", self._cost_text())]
        if self.first_send is not None and self.last_send is not None:
            rows.append(("sending", f"{utc_text(self.first_send)} to {utc_text(self.last_send)}"))
        if self.fallback is not None:
            fb = self.fallback
            rows.append(("fallback", f"up to {fb.planned:,} planned, cost up to {fb._cost_text()}"))
        return html.table(rows, title="Plan")

    def _cost_text(self) -> str:
        cost = self.cost
        if cost is None:
            if self.prices is None and self.price_per_segment is None:
                return "unknown (no prices configured)"
            missing = ", ".join(sorted(self.unpriced))
            return f"unknown (no price for {missing})"
        return f"{cost}{' ' + self.currency if self.currency else ''}"


def summarize(
    items: Iterable[PlanItem], *, price_per_segment: Decimal | str | float | None = None
) -> PlanSummary:
    """Consume ``items`` and count them (a dry run: "how many, and what will it cost")."""
    summary = PlanSummary(price_per_segment=price_per_segment)
    for item in items:
        summary.add(item)
    return summary
