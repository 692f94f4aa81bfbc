"""`StoreSink`: what receipts, replies and clicks change in the store.

It is the `InboundSink` of a real deployment: give it to `InboundApp`::

    app = InboundApp(StoreSink(open_store("sqlite:///msgkit.db")), endpoints)

**Receipts.** Each receipt is matched to our message — by our id when the provider
echoes it (LINE's delivery tag, Alibaba's ``out_id``, Twilio's ``msgkit_id``), else by
the provider's message id — and the change `msgkit.core.message.decide` makes of it
is applied, with the provider's error code. The message lifecycle bounds what a
receipt may change: a
receipt pushed again, or a late "sent" after "delivered", changes nothing and is not an
error. A receipt for a message the store does not hold is logged (masked) and ignored,
so that the provider still gets its answer. A delivered message with an SMS fallback
waiting cancels that fallback at once (the engine's housekeeping would too, later).

**Replies.** Every reply is stored once (the event's ``key``), classified:

- ``opt_out``: an opt-out keyword alone (`msgkit.core.optout.classify_reply`). The
  writer is added to the suppression list for the sender they answered (`optout_entry`).
- ``opt_in``: ``START`` and the like: that entry is removed.
- ``help``: a help keyword.
- ``possible_opt_out``: not a keyword, but it reads like one ("please stop texting
  me", "不要再发了"): stored with ``needs_review`` so that an operator decides
  (`REVIEW_PATTERNS`, or your own).

An opt-out is recorded before the reply is stored, so that a failure in between loses
no opt-out (the provider pushes again); an opt-in only when the reply is new, so that
an old ``START`` pushed again cannot undo a newer ``STOP``. Answering opt-outs with a
confirmation is not done here.

**Links.** Short codes resolve to their target; a click is recorded against the
recipient's message when its parameter matches one.

Store calls are synchronous: each batch runs in a worker thread, off the event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta

from msgkit.core.delivery import MessageEvent
from msgkit.core.message import Change, Context, Followup, decide
from msgkit.core.optout import (
    KEYWORDS,
    Keywords,
    OptOutScope,
    ReplyIntent,
    SuppressionKey,
    classify_reply,
    normalise_keyword,
    suppression_key,
)
from msgkit.engine.commit import GroupCommit
from msgkit.exceptions import NotFoundError
from msgkit.inbound.events import Click, DeliveryReceipt, Reply
from msgkit.providers.common import utc_now
from msgkit.store.base import MessageRow
from msgkit.store.protocols import DeliveryStore, ReceiptFacts

__all__ = [
    "GROUP_LIMIT",
    "POSSIBLE_OPT_OUT",
    "REVIEW_PATTERNS",
    "StoreSink",
    "optout_entry",
]

log = logging.getLogger("msgkit.inbound")

#: The classification of a reply that reads like an opt-out but is not a keyword.
POSSIBLE_OPT_OUT = "possible_opt_out"

#: Replies that read like opt-out requests without being a keyword, by language. They
#: are matched (``re.search``) against the reply as keywords are compared
#: (`normalise_keyword`: case-folded, full-width letters made narrow).
REVIEW_PATTERNS: tuple[str, ...] = (
    # English
    r"\bunsubscrib",
    r"\bopt[\s-]?out\b",
    r"\b(stop|quit)\b.*\b(text|messag|sms|send|contact|spam)",
    r"\b(remove|delete) me\b",
    r"\btake me off\b",
    r"\bno more (texts?|messages?|sms)\b",
    r"\bdo ?n[o'’]?t (text|message|contact|send|sms)",
    r"\bleave me alone\b",
    # Chinese, simplified and traditional
    r"退订|退訂|取消订阅|取消訂閱|拒收|拒絕接收|拒绝接收|不再接收",
    r"(不要|别|別|勿)再?[发發传傳寄]|不要再?(联系|聯絡|打扰|打擾)",
    # Japanese
    r"配信停止|配信解除|受信拒否|送らないで",
    # Korean
    r"수신\s*거부|구독\s*취소|그만\s*보내",
    # Spanish, Portuguese
    r"\bdar(me)? de baja\b|\bno (me )?(envi|mand)(e|en|ar) m[aá]s\b|\bdescadastr",
    # French
    r"\bd[ée]sabonn|\bd[ée]sinscri|\bne plus recevoir\b",
    # German
    r"\babmelden\b|\babbestellen\b|\bkeine (sms|nachrichten) mehr\b",
)


def optout_entry(
    reply: Reply,
    *,
    last: MessageRow | None = None,
    scope: OptOutScope | str = OptOutScope.SENDER,
) -> SuppressionKey:
    """The suppression entry an opt-out (or opt-in) reply adds (or removes).

    Args:
        reply: The reply.
        last: The last message sent to the writer, when known: on the reply's channel,
            its sender decides the entry rather than what the reply says it answered
            (Alibaba names an extension code, not the signature).
        scope: What an opt-out stops (the campaign's ``policy.optout_scope``):
            that sender, the whole channel, or everything.

    Example:
        >>> reply = Reply(provider="tw", channel="sms", from_address="+14155550001",
        ...               text="STOP", scope="+14155550100")
        >>> optout_entry(reply)
        SuppressionKey(scope='sms/+14155550100', address='+14155550001')
        >>> optout_entry(reply, scope="channel").scope
        'sms'
    """
    sender = reply.scope
    if last is not None and last.channel == reply.channel.value:
        sender = last.sender or sender
    return suppression_key(reply.from_address, scope=scope, channel=reply.channel, sender=sender)


#: The most events one group commit takes; more wait for the next.
GROUP_LIMIT = 5000


def _external_id(reply: Reply) -> str:
    """The reply's key as a stored id (a digest: no phone number in it)."""
    return hashlib.sha256("\x1f".join(reply.key).encode("utf-8")).hexdigest()[:32]


class StoreSink:
    """The `InboundSink` over a store: receipts change message states, replies are
    stored and act on the suppression list, clicks are recorded.

    Args:
        store: The store.
        clock: The time of state changes and of replies that carry none.
        keywords: Opt-out, opt-in and help keywords by language (default
            `msgkit.core.optout.KEYWORDS`, every language's applying to every reply).
        review_patterns: Regular expressions of replies to flag as possible opt-outs
            (default `REVIEW_PATTERNS`).
    """

    def __init__(
        self,
        store: DeliveryStore,
        *,
        clock: Callable[[], datetime] | None = None,
        keywords: Mapping[str, Keywords] = KEYWORDS,
        review_patterns: Iterable[str | re.Pattern[str]] = REVIEW_PATTERNS,
    ) -> None:
        self.store = store
        self._clock = clock or utc_now
        self._keywords = keywords
        self._patterns = tuple(re.compile(p, re.IGNORECASE) for p in review_patterns)
        self._group: GroupCommit[DeliveryReceipt, None] = GroupCommit(
            self._write_receipts, limit=GROUP_LIMIT, alone_on_failure=True
        )

    def __repr__(self) -> str:
        return f"StoreSink({self.store!r})"

    # --- the protocol -----------------------------------------------------------------

    async def receipts(self, events: Sequence[DeliveryReceipt]) -> None:
        """Apply delivery receipts: message states, and the LINE fallback's cancellation.

        Returns once they are durable. The receipts of concurrent calls share one
        transaction (`GroupCommit`).
        """
        if events:
            await self._group.submit(events)

    async def replies(self, events: Sequence[Reply]) -> None:
        """Store replies, and act on opt-out and opt-in keywords."""
        await asyncio.to_thread(self._replies, events)

    async def resolve_link(self, code: str, param: str | None) -> str | None:
        """The target of a short code, or None when the code is unknown."""
        found = await asyncio.to_thread(self.store.resolve_link, code)
        return None if found is None else found[1]

    async def click(self, event: Click) -> None:
        """Record a click, against the recipient's message when the parameter matches."""
        await asyncio.to_thread(
            self.store.record_click,
            event.code,
            event.param,
            now=event.clicked_at,
            user_agent=event.user_agent,
        )

    # --- classification ---------------------------------------------------------------

    def classify(self, text: str) -> tuple[str | None, bool]:
        """How a reply is stored: its classification and whether it needs review.

        Returns:
            ``("opt_out" | "opt_in" | "help", False)`` for a keyword alone,
            ``("possible_opt_out", True)`` for a reply that reads like an opt-out,
            ``(None, False)`` otherwise.
        """
        intent = classify_reply(text, keywords=self._keywords)
        if intent is not None:
            return intent.value, False
        normalised = normalise_keyword(text)
        if any(p.search(normalised) for p in self._patterns):
            return POSSIBLE_OPT_OUT, True
        return None, False

    # --- receipts ---------------------------------------------------------------------

    def _match(
        self, events: Sequence[DeliveryReceipt]
    ) -> list[tuple[DeliveryReceipt, ReceiptFacts]]:
        facts = self.store.receipt_facts([e.message_id for e in events if e.message_id])
        by_provider: dict[str, list[str]] = defaultdict(list)
        for event in events:
            if event.message_id not in facts and event.provider_message_id:
                by_provider[event.provider].append(event.provider_message_id)
        ours = {
            (provider, pid): mid
            for provider, pids in by_provider.items()
            for pid, mid in self.store.resolve_provider_ids(provider, pids).items()
        }
        facts.update(self.store.receipt_facts(list(ours.values())))
        matched = []
        for event in events:
            mid = event.message_id if event.message_id in facts else None
            if mid is None and event.provider_message_id:
                mid = ours.get((event.provider, event.provider_message_id))
            if mid is None:
                log.info("%s: a receipt for no message of ours, ignored: %r", event.provider, event)
                continue
            matched.append((event, facts[mid]))
        return matched

    async def _write_receipts(self, events: list[DeliveryReceipt]) -> list[None]:
        """One group's transaction, off the event loop (a failed group is written again
        caller by caller, so that a bad request fails alone)."""
        await asyncio.to_thread(self._receipts, events)
        return [None] * len(events)

    def _receipts(self, events: Sequence[DeliveryReceipt]) -> None:
        """Apply receipts as if one after another: a message's n-th receipt (a replay,
        a "sent" then a "delivered") is decided on what its (n-1)-th left (rounds)."""
        matched = self._match(events)
        while matched:
            seen: set[str] = set()
            first: list[tuple[DeliveryReceipt, ReceiptFacts]] = []
            later: list[tuple[DeliveryReceipt, ReceiptFacts]] = []
            for item in matched:
                mid = item[1][0].id
                (later if mid in seen else first).append(item)
                seen.add(mid)
            self._apply_receipts(first)
            if not later:
                return
            fresh = self.store.receipt_facts(sorted({item[1][0].id for item in later}))
            matched = [(event, fresh[facts[0].id]) for event, facts in later]

    def _apply_receipts(self, matched: list[tuple[DeliveryReceipt, ReceiptFacts]]) -> None:
        """Decide and apply receipts for distinct messages, in one transaction."""
        now = self._clock()
        contexts: dict[timedelta | None, Context] = {}  # one per fallback wait
        changes = []
        for event, (message, wait) in matched:
            context = contexts.get(wait) or contexts.setdefault(wait, Context(fallback_wait=wait))
            # a "sent" that beats the send result starts the fallback's wait
            changes.append(decide(message, event.observation, context=context, now=now))
        results = self.store.apply(changes, now=now)
        for result, change, (event, _) in zip(results, changes, matched, strict=True):
            if not result.applied or change.event is None:
                log.debug("%r changes nothing (the message is %s)", event, result.old)
        waits = {message.id: wait for _, (message, wait) in matched}
        # A message with a fallback waiting carries its fallback wait.
        parents = {
            r.message_id
            for r, change in zip(results, changes, strict=True)
            if r.applied
            and Followup.CANCEL_FALLBACK in change.followups
            and waits[r.message_id] is not None
        }
        if parents:
            self._cancel_fallbacks(parents, now)

    def _cancel_fallbacks(self, parents: set[str], now: datetime) -> None:
        cancel = [
            Change(
                message_id=child,
                event=MessageEvent.SKIP,
                fields={"reason": "cancelled"},
                detail="the first message was delivered",
            )
            for child in self.store.waiting_children(sorted(parents))
        ]
        if cancel:
            self.store.apply(cancel, now=now)

    # --- replies ----------------------------------------------------------------------

    def _scoped_entry(self, reply: Reply) -> SuppressionKey:
        """The entry an opt-out (or opt-in) reply concerns: the last message sent to
        that number on the reply's channel decides the sender, and its campaign's
        ``optout_scope`` how wide the opt-out is."""
        last = self.store.last_message_to(reply.from_address, channel=reply.channel.value)
        if last is None:
            return optout_entry(reply)
        try:
            scope = self.store.get_campaign(last.campaign_id).policy.optout_scope
        except NotFoundError:
            scope = OptOutScope.SENDER
        return optout_entry(reply, last=last, scope=scope)

    def _replies(self, events: Sequence[Reply]) -> None:
        for reply in events:
            classification, review = self.classify(reply.text)
            now = self._clock()
            entry = optout_entry(reply)
            if classification in (ReplyIntent.OPT_OUT.value, ReplyIntent.OPT_IN.value):
                entry = self._scoped_entry(reply)
            if classification == ReplyIntent.OPT_OUT.value:
                self.store.suppress(
                    [(entry.scope, entry.address, "opted out by reply", reply.provider)],
                    now=now,
                )
            stored = self.store.add_reply(
                provider=reply.provider,
                scope=reply.scope,
                sender=reply.from_address,
                text=reply.text,
                at=reply.received_at or now,
                external_id=_external_id(reply),
                classification=classification,
                needs_review=review,
            )
            if stored is not None and classification == ReplyIntent.OPT_IN.value:
                self.store.unsuppress(entry.scope, entry.address)
