"""How fast the planner goes, and how little memory it keeps.

Run: PYTHONPATH=src python benchmarks/plan.py [contacts]

Prints contacts per second for a plain plan and for a full one (schedule, frequency caps
with history, short links with tracking parameters, suppression list), each as a ratio
to a baseline measured in the same run (rendering the template alone), and the memory a
streamed plan keeps per contact against a list of the same plan items.
"""

from __future__ import annotations

import gc
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone

from msgkit import Campaign, Contact, Phone, Template
from msgkit.core.fatigue import FrequencyCap, SentRecord
from msgkit.core.links import ShortLinks
from msgkit.core.planning import _DigestSet, plan
from msgkit.core.policy import SendPolicy
from msgkit.core.windows import ContactSchedule

NOW = datetime(2024, 1, 15, 3, 0, tzinfo=timezone.utc)
ZONES = ("Asia/Taipei",)


def phone(n: int) -> Phone:
    return Phone(
        e164=f"+8869{n:08d}", region="TW", country_code=886, number_type="mobile", time_zones=ZONES
    )


def contacts(count: int, *, history: bool = False) -> Iterator[tuple[Contact, list[SentRecord]]]:
    for n in range(count):
        past = (
            [SentRecord(at=NOW - timedelta(hours=30), channel="sms")] if history and n % 3 else []
        )
        yield Contact(phone=phone(n), key=f"m{n}", attributes={"name": f"N{n}"}), past


TEMPLATE = Template(
    body="Hi ${name}, the spring sale starts today: ${link:shop}",
    kind="promotional",
    links={"shop": "https://shop.example.com/spring"},
)
PLAIN = Campaign(name="plain", id="plain", template=TEMPLATE)
FULL = Campaign(
    name="full",
    id="full",
    template=TEMPLATE,
    policy=SendPolicy(
        schedule=ContactSchedule.parse("Mon-Fri 09:00-20:00; Sat 10:00-14:00"),
        caps=[FrequencyCap(limit=2, per="day"), FrequencyCap(limit=3, per=timedelta(weeks=1))],
        links=ShortLinks(base_url="https://go.example.com/l", secret="0123456789abcdef" * 2),
    ),
)
SUPPRESSION = {("*", f"+8869{n:08d}") for n in range(0, 10_000_000, 997)}


def timed(label: str, count: int, run: Callable[[], None], baseline: float | None) -> float:
    gc.collect()
    start = time.perf_counter()
    run()
    elapsed = time.perf_counter() - start
    rate = count / elapsed
    ratio = "" if baseline is None else f"   {baseline / rate:5.1f}x the baseline's time"
    print(f"{label:<42} {rate:>10,.0f} contacts/s   {1e6 / rate:6.1f} µs each{ratio}")
    return rate


def baseline(count: int) -> None:
    for contact, _ in contacts(count):
        TEMPLATE.render(contact.attributes)


def run_plan(campaign: Campaign, count: int, **kwargs: object) -> Callable[[], None]:
    def go() -> None:
        for _ in plan(campaign, contacts(count, history=True), now=NOW, **kwargs):  # type: ignore[arg-type]
            pass

    return go


def memory(count: int) -> None:
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    for _ in plan(FULL, contacts(count, history=True), now=NOW):
        pass
    streamed = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    held = list(plan(FULL, contacts(count, history=True), now=NOW))
    listed = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    del held
    print(
        f"memory, {count:,} contacts: streamed peak {streamed / 2**20:.1f} MiB "
        f"({streamed / count:.0f} B/contact), as a list {listed / 2**20:.1f} MiB "
        f"({listed / count:.0f} B/contact): {listed / streamed:.0f}x"
    )
    digests = _DigestSet()
    for n in range(count):
        digests.add(n * 0x9E3779B97F4A7C15 % 2**63)
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    as_set = {n * 0x9E3779B97F4A7C15 % 2**63 for n in range(count)}
    set_bytes = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    del as_set
    print(
        f"dedupe of {count:,}: flat table {digests.nbytes / count:.0f} B/recipient, "
        f"Python set of ints {set_bytes / count:.0f} B/recipient"
    )


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    print(f"planner, {count:,} contacts (Python {sys.version.split()[0]})")
    base = timed("baseline: render the template", count, lambda: baseline(count), None)
    timed("plan: no schedule, caps or short links", count, run_plan(PLAIN, count), base)
    timed("plan: schedule, caps + history, short links", count, run_plan(FULL, count), base)
    timed(
        "  + suppression list",
        count,
        run_plan(FULL, count, suppression=SUPPRESSION),
        base,
    )
    memory(min(count, 100_000))


if __name__ == "__main__":
    main()
