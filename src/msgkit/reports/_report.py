"""`Report`: a campaign's figures, as tables, HTML, CSV, JSON and a chart."""

from __future__ import annotations

import csv
import html
import io
import json
from collections.abc import Callable, Mapping
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
from rich.console import Group
from rich.table import Table

from msgkit.core.pricing import Balance
from msgkit.exceptions import ConfigError
from msgkit.reports._model import ChannelCounts, Funnel, GroupStats, lift

__all__ = ["Report"]

#: The columns of a funnel row, as the tables, CSV and chart name them.
_FUNNEL_COLUMNS: tuple[tuple[str, Callable[[Funnel], object]], ...] = (
    ("planned", lambda f: f.planned),
    ("skipped", lambda f: sum(f.skipped.values())),
    ("sent", lambda f: f.sent),
    ("delivered", lambda f: f.delivered),
    ("first channel delivered", lambda f: f.first_delivered),
    ("fallen back", lambda f: f.fallen_back),
    ("fallback delivered", lambda f: f.fallback_delivered),
    ("accepted, no receipt", lambda f: f.accepted),
    ("undelivered", lambda f: f.undelivered),
    ("failed", lambda f: sum(f.failed.values())),
    ("expired", lambda f: f.expired),
    ("unknown", lambda f: f.unknown),
    ("pending", lambda f: f.pending),
    ("waiting fallback", lambda f: f.waiting_fallback),
    ("messages", lambda f: f.messages),
    ("segments", lambda f: f.segments),
    ("cost", lambda f: f.cost),
)


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _lift(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:+.1f} pts"


def _cell(value: object) -> str:
    if value is None:
        return "-"
    return str(value)


def _plain(value: Any) -> Any:
    """``value`` with dates and decimals as strings, for JSON."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


@attrs.frozen(kw_only=True)
class Report:
    """What became of a campaign: built by `Client.report` (`build_report`).

    Every figure counts triggers (one first message planned for one recipient, with its
    fallback) and is attributed to the date it was triggered (in `zone`): a message
    triggered on 8/3 whose SMS fallback went out on 8/4 counts for 8/3. The channels
    count messages instead: a trigger that fell back sent one on each.

    Show it in a terminal with ``rich.print(report)``, in a notebook by leaving it last
    in a cell; write it with `to_csv`, `to_json` or `save_chart`.

    Attributes:
        campaign_id: The campaign.
        campaign: Its name.
        scenario: The scenario it belongs to (its ``scenario:NAME`` tag), if any.
        status: The campaign's status when the report was made.
        since: The first trigger time counted, if bounded.
        until: The trigger time counted up to (excluded), if bounded.
        generated_at: When the report was made.
        zone: The time zone of the trigger dates.
        currency: The currency of ``cost``, when the prices name one.
        total: Every trigger in the range.
        by_day: One funnel per trigger date.
        channels: The messages of each channel.
        clicks: Clicks on the campaign's links.
        unique_clicks: Recipients who clicked.
        replies: Replies to its messages.
        opt_outs: Recipients who opted out in a reply.
        control: The triggers held out in the control group.
        treated: The triggers meant to be sent.
        notes: What a reader needs to read the figures right.
        balance: The balance the campaign's provider reported when the report was made,
            where it reports one.
    """

    campaign_id: str
    campaign: str
    scenario: str | None = None
    status: str
    since: datetime | None = None
    until: datetime | None = None
    generated_at: datetime
    zone: str = "UTC"
    currency: str | None = None
    total: Funnel
    by_day: Mapping[date, Funnel] = attrs.field(factory=dict)
    channels: tuple[ChannelCounts, ...] = ()
    clicks: int = 0
    unique_clicks: int = 0
    replies: int = 0
    opt_outs: int = 0
    control: GroupStats = attrs.field(factory=GroupStats)
    treated: GroupStats = attrs.field(factory=GroupStats)
    notes: tuple[str, ...] = ()
    balance: Balance | None = None

    # --- the comparison ------------------------------------------------------------------

    @property
    def click_lift(self) -> float | None:
        """Treated click rate minus control click rate (None without a control group)."""
        return lift(self.treated.click_rate, self.control.click_rate)

    @property
    def reply_lift(self) -> float | None:
        """Treated reply rate minus control reply rate (None without a control group)."""
        return lift(self.treated.reply_rate, self.control.reply_rate)

    # --- as data -------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The report as plain data (strings, numbers, lists, dicts): what `to_json`
        writes."""

        def funnel(f: Funnel) -> dict[str, Any]:
            data = attrs.asdict(f)
            data["delivery_rate"] = f.delivery_rate
            return _plain(data)  # type: ignore[no-any-return]

        def group(g: GroupStats) -> dict[str, Any]:
            return {
                **attrs.asdict(g),
                "click_rate": g.click_rate,
                "reply_rate": g.reply_rate,
            }

        return {
            "campaign_id": self.campaign_id,
            "campaign": self.campaign,
            "scenario": self.scenario,
            "status": self.status,
            "since": _plain(self.since),
            "until": _plain(self.until),
            "generated_at": _plain(self.generated_at),
            "zone": self.zone,
            "currency": self.currency,
            "total": funnel(self.total),
            "by_day": {day.isoformat(): funnel(f) for day, f in self.by_day.items()},
            "channels": [_plain(attrs.asdict(c)) for c in self.channels],
            "clicks": self.clicks,
            "unique_clicks": self.unique_clicks,
            "replies": self.replies,
            "opt_outs": self.opt_outs,
            "control": group(self.control),
            "treated": group(self.treated),
            "click_lift": self.click_lift,
            "reply_lift": self.reply_lift,
            "notes": list(self.notes),
            "balance": None
            if self.balance is None
            else {"amount": str(self.balance.amount), "currency": self.balance.currency},
        }

    def to_json(self, *, indent: int | None = 2) -> str:
        """The report as JSON (`to_dict`)."""
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    def to_csv(self) -> str:
        """The funnel as CSV: one row per trigger date, then the total; the skip reasons
        and failure codes each get a column (``skipped:control_group``, ``failed:E42``)."""
        reasons = sorted({r for f in (self.total, *self.by_day.values()) for r in f.skipped})
        codes = sorted({c for f in (self.total, *self.by_day.values()) for c in f.failed})
        header = [
            "trigger_date",
            *(name.replace(" ", "_").replace(",", "") for name, _ in _FUNNEL_COLUMNS),
            *(f"skipped:{r}" for r in reasons),
            *(f"failed:{c}" for c in codes),
        ]
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(header)
        rows = [(day.isoformat(), f) for day, f in self.by_day.items()]
        for label, f in [*rows, ("total", self.total)]:
            writer.writerow(
                [
                    label,
                    *("" if get(f) is None else get(f) for _, get in _FUNNEL_COLUMNS),
                    *(f.skipped.get(r, 0) for r in reasons),
                    *(f.failed.get(c, 0) for c in codes),
                ]
            )
        return out.getvalue()

    # --- as tables -----------------------------------------------------------------------

    def _title(self) -> str:
        title = f"Report: {self.campaign}"
        if self.scenario:
            title += f" (scenario {self.scenario})"
        if self.since or self.until:
            start = self.since.isoformat() if self.since else "…"
            end = self.until.isoformat() if self.until else "…"
            title += f", triggered {start} to {end}"
        return title

    def _sections(self) -> list[tuple[str, list[str], list[list[str]]]]:
        """The report's tables: (title, header, rows) each, for rich and HTML alike."""
        cost = f"cost ({self.currency})" if self.currency else "cost"
        columns = [(day.isoformat(), f) for day, f in self.by_day.items()]
        columns.append(("total", self.total))
        sections = [
            (
                f"{self._title()} — by trigger date ({self.zone})",
                ["", *(label for label, _ in columns)],
                [
                    [cost if name == "cost" else name, *(_cell(get(f)) for _, f in columns)]
                    for name, get in _FUNNEL_COLUMNS
                ],
            )
        ]
        if self.total.skipped or self.total.failed:
            sections.append(
                (
                    "Skipped and failed",
                    ["", "why", "triggers"],
                    [["skipped", r, str(n)] for r, n in self.total.skipped.items()]
                    + [["failed", c, str(n)] for c, n in self.total.failed.items()],
                )
            )
        if self.channels:
            sections.append(
                (
                    "By channel (messages)",
                    [
                        "channel",
                        "sent",
                        "delivered",
                        "undelivered",
                        "fallen back",
                        "failed",
                        "expired",
                        "unknown",
                        "pending",
                        "segments",
                        cost,
                    ],
                    [
                        [
                            c.channel,
                            str(c.sent),
                            str(c.delivered),
                            str(c.undelivered),
                            str(c.fallen_back),
                            str(sum(c.failed.values())),
                            str(c.expired),
                            str(c.unknown),
                            str(c.pending),
                            str(c.segments),
                            _cell(c.cost),
                        ]
                        for c in self.channels
                    ],
                )
            )
        sections.append(
            (
                "Engagement",
                ["clicks", "unique clicks", "replies", "opt-outs"],
                [
                    [
                        str(self.clicks),
                        str(self.unique_clicks),
                        str(self.replies),
                        str(self.opt_outs),
                    ]
                ],
            )
        )
        if self.balance is not None:
            sections.append(
                (
                    "Account",
                    ["balance", "currency"],
                    [[str(self.balance.amount), self.balance.currency]],
                )
            )
        if self.control.triggers:
            sections.append(
                (
                    "Control group vs treated",
                    ["group", "triggers", "clicked", "click rate", "replied", "reply rate"],
                    [
                        [
                            name,
                            str(g.triggers),
                            str(g.clicked),
                            _rate(g.click_rate),
                            str(g.replied),
                            _rate(g.reply_rate),
                        ]
                        for name, g in (("treated", self.treated), ("control", self.control))
                    ]
                    + [["lift", "", "", _lift(self.click_lift), "", _lift(self.reply_lift)]],
                )
            )
        return sections

    def __rich__(self) -> Group:
        """The report as rich tables (``rich.print(report)``)."""
        tables: list[Any] = []
        for title, header, rows in self._sections():
            table = Table(title=title, title_justify="left")
            for i, name in enumerate(header):
                table.add_column(name, justify="left" if i == 0 else "right")
            for row in rows:
                table.add_row(*row)
            tables.append(table)
        tables.extend(f"• {note}" for note in self.notes)
        return Group(*tables)

    def _repr_html_(self) -> str:
        """The report as HTML tables (a notebook shows it this way)."""
        parts = ['<div class="msgkit-report">']
        for title, header, rows in self._sections():
            parts.append(f"<h4>{html.escape(title)}</h4><table><thead><tr>")
            parts.extend(f"<th>{html.escape(name)}</th>" for name in header)
            parts.append("</tr></thead><tbody>")
            for row in rows:
                parts.append(
                    "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>"
                )
            parts.append("</tbody></table>")
        if self.notes:
            parts.append("<ul>")
            parts.extend(f"<li>{html.escape(note)}</li>" for note in self.notes)
            parts.append("</ul>")
        parts.append("</div>")
        return "".join(parts)

    # --- as a chart ----------------------------------------------------------------------

    def save_chart(self, path: str | Path) -> Path:
        """Draw the delivery funnel over time (planned, sent, delivered, failed or
        undelivered per trigger date) as a PNG.

        Raises:
            ConfigError: matplotlib is not installed (``pip install 'msgkit[charts]'``).
        """
        try:
            import matplotlib  # noqa: PLC0415 - an optional extra

            matplotlib.use("Agg")
            from matplotlib import pyplot  # noqa: PLC0415
        except ImportError as exc:
            raise ConfigError(
                "drawing a report chart needs matplotlib, which is not installed",
                key="charts",
                hint="pip install 'msgkit[charts]'",
            ) from exc
        target = Path(path)
        days = list(self.by_day)
        labels = [d.isoformat() for d in days]
        series = {
            "planned": [self.by_day[d].planned for d in days],
            "sent": [self.by_day[d].sent for d in days],
            "delivered": [self.by_day[d].delivered for d in days],
            "undelivered or failed": [
                self.by_day[d].undelivered + sum(self.by_day[d].failed.values()) for d in days
            ],
        }
        figure, axes = pyplot.subplots(figsize=(max(4.0, 1.2 * len(days) + 2), 3.5))
        try:
            width = 0.8 / len(series)
            for i, (name, values) in enumerate(series.items()):
                axes.bar([x + i * width for x in range(len(days))], values, width, label=name)
            axes.set_xticks([x + 0.4 - width / 2 for x in range(len(days))], labels)
            axes.set_ylabel("triggers")
            axes.set_title(f"{self.campaign}: delivery by trigger date ({self.zone})")
            axes.legend()
            figure.tight_layout()
            figure.savefig(target, format="png")
        finally:
            pyplot.close(figure)
        return target
