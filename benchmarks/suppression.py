"""The suppression list on a big list, with and without a phone key: what one trigger
and one bulk plan pay for it.

A store holds N suppressions (default 60,000; ``--small``: 10,000). For each of a plain
and a keyed store (`MemoryStore`), it times (best of 5):

- one trigger's check, as the runner makes it now: `suppressed` asked by the address
  (``store.suppressed(scopes, [address])``);
- a bulk plan's list, as the runner gets it now: `suppression_set` (tested by index,
  opening nothing), then 10,000 contacts tested against it;

and, beside each, the baseline of the same run: the list as it was loaded before (every
entry read and opened -- decrypted in a keyed store -- into a set of keys), which every
trigger paid too. It checks that every answer agrees with the baseline and exits
non-zero when one does not (never on a time). Run:

    PYTHONPATH=src python benchmarks/suppression.py [--small] [--rows N]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from msgkit.core.contacts import PhoneCipher
from msgkit.core.optout import SuppressionKey
from msgkit.store.memory import MemoryStore

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
SCOPES = ["*", "sms"]
CHECKED = 10_000


def best(call: Callable[[], Any], repeat: int = 5) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - start)
    return min(times), result


def whole_list(store: MemoryStore) -> frozenset[SuppressionKey]:
    """The baseline: every entry read and opened, as `suppression_set` did before."""
    rows = store._read("SELECT scope, recipient FROM suppressions WHERE scope IN (?, ?)", SCOPES)
    store._addresses.opened.clear()
    opened = store._open(r[1] for r in rows)
    return frozenset(SuppressionKey(r[0], opened[r[1]]) for r in rows)


def measure(key: str | None, n: int) -> list[str]:
    """Print one store's figures; what was wrong."""
    failures = []
    label = "keyed" if key else "plain"
    store = MemoryStore(phone_key=key)
    store.suppress([("sms", f"+8869{i:08d}", "stop", "reply") for i in range(n)], now=NOW)
    listed, absent = f"+8869{n // 2:08d}", f"+8869{n + 7:08d}"

    def trigger() -> tuple[bool, bool]:
        return bool(store.suppressed(SCOPES, [listed])), bool(store.suppressed(SCOPES, [absent]))

    t_new, hit = best(trigger)
    t_old, old = best(lambda: whole_list(store))
    if hit != (("sms", listed) in old, ("sms", absent) in old) or hit != (True, False):
        failures.append(f"{label}: a trigger's check answered {hit}")
    print(f"{label:<7} {'one trigger (2 checks: listed, not listed)':<44} "
          f"{t_new / 2 * 1000:>8.2f}ms {t_old * 1000:>8.1f}ms")  # fmt: skip

    contacts = [f"+8869{i * 7 % (2 * n):08d}" for i in range(CHECKED)]

    def bulk() -> list[bool]:
        found = store.suppression_set(SCOPES)
        return [("sms", c) in found for c in contacts]

    def bulk_old() -> list[bool]:
        found = whole_list(store)
        return [("sms", c) in found for c in contacts]

    t_new, answers = best(bulk)
    t_old, expected = best(bulk_old)
    if answers != expected or not any(answers) or all(answers):
        failures.append(f"{label}: a bulk plan's checks disagree with the baseline")
    print(f"{label:<7} {f'one bulk plan (list + {CHECKED:,} contacts)':<44} "
          f"{t_new * 1000:>8.1f}ms {t_old * 1000:>8.1f}ms")  # fmt: skip
    store.close()
    return failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="10,000 suppressions")
    parser.add_argument("--rows", type=int, default=None)
    args = parser.parse_args()
    n = args.rows or (10_000 if args.small else 60_000)
    failures: list[str] = []
    print(f"{n:,} suppressions (scope sms), scopes {SCOPES}, best of 5")
    print(f"{'store':<7} {'what':<44} {'msgkit':>10} {'baseline':>10}")
    for key in (None, PhoneCipher.new_key()):
        failures += measure(key, n)
    for failure in failures:
        print("WRONG:", failure, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
