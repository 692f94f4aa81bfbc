"""An in-memory InboundSink for tests: idempotent on event keys, links from a dict."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from msgkit.inbound import Click, DeliveryReceipt, Reply


class MemorySink:
    """Keeps each receipt and reply once (by key), every click, and counts the calls.

    Args:
        links: Short code → target URL.
        fail: Make every receipts/replies call raise (to test redelivery).
    """

    def __init__(self, links: Mapping[str, str] | None = None, *, fail: bool = False) -> None:
        self.links = dict(links or {})
        self.fail = fail
        self.receipts_by_key: dict[tuple[str, str, str], DeliveryReceipt] = {}
        self.replies_by_key: dict[tuple[str, str, str], Reply] = {}
        self.clicks: list[Click] = []
        self.calls = 0

    async def receipts(self, events: Sequence[DeliveryReceipt]) -> None:
        """Keep new receipts; a receipt seen before changes nothing."""
        self.calls += 1
        if self.fail:
            raise RuntimeError("the store is down")
        for event in events:
            self.receipts_by_key.setdefault(event.key, event)

    async def replies(self, events: Sequence[Reply]) -> None:
        """Keep new replies."""
        self.calls += 1
        if self.fail:
            raise RuntimeError("the store is down")
        for event in events:
            self.replies_by_key.setdefault(event.key, event)

    async def resolve_link(self, code: str, param: str | None) -> str | None:
        """The target of a code, with the parameter appended when there is one."""
        target = self.links.get(code)
        if target is None or param is None:
            return target
        return f"{target}{'&' if '?' in target else '?'}u={param}"

    async def click(self, event: Click) -> None:
        """Record a click."""
        self.clicks.append(event)

    @property
    def receipts_seen(self) -> list[DeliveryReceipt]:
        """The receipts kept, in arrival order."""
        return list(self.receipts_by_key.values())

    @property
    def replies_seen(self) -> list[Reply]:
        """The replies kept, in arrival order."""
        return list(self.replies_by_key.values())
