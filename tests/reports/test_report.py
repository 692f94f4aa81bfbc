"""build_report over a store, and the report's outputs."""

from __future__ import annotations

import builtins
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from msgkit.core.campaigns import Campaign
from msgkit.core.pricing import Balance
from msgkit.exceptions import ConfigError
from msgkit.reports import Report, build_report
from msgkit.store import MemoryStore

NOW = datetime(2026, 8, 4, tzinfo=timezone.utc)


def _empty() -> Report:
    store = MemoryStore()
    campaign = store.save_campaign(Campaign(name="Empty", tags={"scenario:x"}), now=NOW)
    return build_report(store, campaign.id, now=NOW)


def test_an_empty_campaign_reports_zeros() -> None:
    """A campaign with no messages has a report of zeros, its scenario named."""
    report = _empty()
    assert report.total.planned == 0
    assert report.by_day == {}
    assert report.scenario == "x"
    assert report.click_lift is None
    assert report.to_dict()["total"]["delivery_rate"] is None
    assert report.to_csv().splitlines()[-1].startswith("total,0,")


def test_a_range_must_be_aware_and_ordered() -> None:
    """since/until: naive or reversed times are refused with what to do."""
    store = MemoryStore()
    campaign = store.save_campaign(Campaign(name="c"), now=NOW)
    with pytest.raises(ValueError, match="aware"):
        build_report(store, campaign.id, since=datetime(2026, 8, 1), now=NOW)  # noqa: DTZ001
    with pytest.raises(ValueError, match="not before"):
        build_report(store, campaign.id, since=NOW, until=NOW, now=NOW)


def test_the_chart_needs_matplotlib_and_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without matplotlib, save_chart raises a ConfigError naming msgkit[charts]."""
    real = builtins.__import__

    def no_matplotlib(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("matplotlib"):
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    with pytest.raises(ConfigError, match=r"msgkit\[charts\]"):
        _empty().save_chart(tmp_path / "x.png")


def test_the_balance_shows_in_every_output() -> None:
    """A balance given to build_report shows in the rich tables, the HTML and the data."""
    store = MemoryStore()
    campaign = store.save_campaign(Campaign(name="Paid"), now=NOW)
    balance = Balance(amount="41.20", currency="USD")
    report = build_report(store, campaign.id, now=NOW, balance=balance)
    assert report.to_dict()["balance"] == {"amount": "41.20", "currency": "USD"}
    assert "41.20" in report._repr_html_()
    console = Console(width=200, record=True)
    console.print(report)
    assert "41.20" in console.export_text()
    assert _empty().to_dict()["balance"] is None
    assert "Account" not in _empty()._repr_html_()
