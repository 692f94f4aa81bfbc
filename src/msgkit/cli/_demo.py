"""``msgkit demo``: a whole campaign on the embedded defaults, ending in a report.

No account, no network, no configuration: a SQLite file in a folder of its own, two
in-process simulators (LINE and SMS) that deliver within a fraction of a second, and
reply, click and opt out at fixed rates with a fixed seed (the draws also depend on the
message ids, which come from the campaigns' random ids: the counts vary a little from
run to run; with a few hundred contacts, a reply and an opt-out always come).
"""

from __future__ import annotations

import csv
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import click
from rich.rule import Rule

from msgkit.cli._app import State, console, pass_state
from msgkit.cli._campaigns import _print_status, print_estimate, run_with_progress
from msgkit.cli._lists import print_import, print_preview
from msgkit.core.campaigns import Fallback
from msgkit.core.links import ShortLinks
from msgkit.core.policy import SendPolicy
from msgkit.core.templates import Template
from msgkit.core.windows import ContactSchedule
from msgkit.io import preview

__all__ = ["register", "write_contacts"]

#: The simulators' behaviour: fast, and the same every run.
_ENGINE = {
    "housekeeping_every": "50ms",
    "idle_poll": "50ms",
    "horizon": "3s",
    "poll_after": "100ms",
    "poll_every": "200ms",
}
_FIRST = ["Amy", "Ben", "陳怡君", "王小明", "Chloe", "李娜", "David", "張偉", "Eva", "林志明"]


def write_contacts(path: Path, count: int = 300) -> Path:
    """A recipient CSV: Taiwan and mainland-China mobiles, a duplicate and bad rows."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Mobile", "Name", "Tier"])
        for i in range(count):
            name = _FIRST[i % len(_FIRST)]
            tier = "gold" if i % 7 == 0 else "member"
            if i % 3 == 2:  # mainland China, in international form
                writer.writerow([f"+86 139 {i // 10000:04d} {i % 10000:04d}", name, tier])
            else:  # Taiwan, national form
                writer.writerow([f"0912-{i // 1000:03d}-{i % 1000:03d}", name, tier])
        writer.writerow(["0912-000-000", "Amy again", "member"])  # a duplicate
        writer.writerow(["12345", "Too short", "member"])
        writer.writerow(["", "No number", "member"])
        writer.writerow(["not a phone", "Typo", "gold"])
    return path


def _providers() -> dict[str, Any]:
    from msgkit.testing import Simulator, SimulatorProvider  # noqa: PLC0415

    line = Simulator(delivery_delay=0.05, undelivered_rate=0.25, seed=11)
    sms = Simulator(
        delivery_delay=0.05,
        undelivered_rate=0.03,
        click_rate=0.3,
        reply_rate=0.1,
        opt_out_rate=0.4,
        seed=11,
    )
    return {
        "line": SimulatorProvider("line", channel="line", server=line),
        "sms": SimulatorProvider("sms", server=sms, sender="+886900000000"),
    }


@click.command("demo")
@click.option(
    "--dir",
    "folder",
    type=click.Path(file_okay=False),
    help="where to write the demo's files (default: a new temporary folder)",
)
@click.option("--contacts", default=300, show_default=True, help="how many contacts")
@pass_state
def demo_command(state: State, folder: str | None, contacts: int) -> None:
    """A whole campaign on the embedded defaults (no account, no network), in seconds."""
    from msgkit.client import Client  # noqa: PLC0415

    where = Path(folder) if folder else Path(tempfile.mkdtemp(prefix="msgkit-demo-"))
    where.mkdir(parents=True, exist_ok=True)
    db = where / "msgkit.db"
    console.print(Rule("msgkit demo"))
    console.print(f"files in {where} (store: {db}); simulators in this process, no network")

    path = write_contacts(where / "members.csv", contacts)
    console.print(Rule("1. the list"))
    print_preview(preview(path))

    client = Client(
        store=f"sqlite:///{db}",
        providers=_providers(),
        config={"engine": _ENGINE},
        default_provider="sms",
        prices={"sms": {"price": 0.045, "prices": {"CN": 0.03}, "currency": "USD"}, "line": 0.01},
    )
    state.use(client)  # the commands' helpers (progress, status) use this one
    members = client.import_list(
        path, phone="Mobile", variables={"name": "Name"}, region="TW", name="members"
    )
    print_import(members.summary)

    console.print(Rule("2. LINE, with SMS for those LINE does not reach"))
    line = client.create_campaign(
        "Parcel ready (LINE)",
        "Hi ${name}, your parcel is ready for pickup at the counter.",
        audience=members.id,
        channel="line",
        provider="line",
        fallback=Fallback(
            template=Template(body="Hi ${name}, your parcel is ready (SMS)."),
            provider="sms",
            wait=timedelta(seconds=1),
        ),
    )
    print_estimate(client.estimate(line))

    console.print(Rule("3. SMS with a short link, outside quiet hours (21:00-09:00 local)"))
    sale = client.create_campaign(
        "Spring sale (SMS)",
        Template(
            body="${name}, 20% off this week: ${link:shop}",
            links={"shop": "https://shop.example.com/spring"},
            kind="promotional",
        ),
        audience=members.id,
        sender="ACME",
        policy=SendPolicy(
            schedule=ContactSchedule.quiet_hours("21:00", "09:00"),
            links=ShortLinks(base_url="https://go.example.com/l", secret="demo-" * 7),
        ),
    )
    print_estimate(client.estimate(sale))

    console.print(Rule("4. sending"))
    client.start(line)
    client.start(sale)
    run_with_progress(state, [line, sale])

    console.print(Rule("5. what came back"))
    replies = client.replies(limit=1000)
    clicks = client.clicks(sale)
    stops = sum(1 for r in replies if r["text"].strip().upper() == "STOP")
    console.print(
        f"{len(clicks)} clicks on the short link; {len(replies)} replies, {stops} of them "
        "STOP (opted out: those numbers get no more messages from this sender)"
    )
    for reply in replies[:3]:
        console.print(f"  reply: {reply['text']!r}")

    console.print(Rule("6. the report"))
    for campaign in (line, sale):
        console.print(client.report(campaign))
    _print_status(state, [client.campaign(line.id), client.campaign(sale.id)])
    console.print(
        f"done. Look again with: msgkit --store sqlite:///{db} campaigns (or report, status)"
    )


def register(group: click.Group) -> None:
    """Add this command to ``group``."""
    group.add_command(demo_command)
