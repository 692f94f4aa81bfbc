"""Notebook-style: import a spreadsheet, look at it, estimate, preview, send, check.

Each step is what you would run in its own notebook cell; in Jupyter, leaving the object
on the last line of a cell (``members``, ``estimate``, ``preview``, ``progress``) draws it
as an HTML table, and ``client.run()`` shows a progress bar that updates in place.

The spreadsheet is written with openpyxl when it is installed; otherwise the same rows
go to a CSV file (msgkit imports both the same way) and the example says so.

Run: python examples/import_xlsx_and_send.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import msgkit
from msgkit.testing import FakeClock, Simulator, SimulatorProvider

ROWS = [
    ("Mobile", "Name", "Points"),
    ("0912-345-678", "Amy", 120),
    ("0933 222 111", "Bo", 80),
    ("0955-123-456", "陳小明", 300),
    ("12345", "Typo", 10),
]


def write_members(folder: Path) -> Path:
    """Write the member list as XLSX (openpyxl) or, failing that, as CSV."""
    try:
        from openpyxl import Workbook  # noqa: PLC0415 - optional
    except ImportError:
        path = folder / "members.csv"
        path.write_text("\n".join(",".join(map(str, row)) for row in ROWS) + "\n")
        print("openpyxl is not installed: wrote members.csv instead of an XLSX file")
        return path
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in ROWS:
        sheet.append(row)
    path = folder / "members.xlsx"
    book.save(path)
    print("wrote members.xlsx")
    return path


with tempfile.TemporaryDirectory() as tmp:
    folder = Path(tmp)
    source = write_members(folder)
    clock = FakeClock()
    gateway = Simulator(clock=clock.now)
    with msgkit.Client(
        store=f"sqlite:///{folder / 'msgkit.db'}",
        providers={"sms": SimulatorProvider("sms", server=gateway)},
        clock=clock,
    ) as client:
        # Cell 1: import and look (in a notebook: `members` alone draws a table).
        members = client.import_list(
            source, phone="Mobile", variables={"name": "Name", "points": "Points"}, region="TW"
        )
        print(members.summary)
        print("first rows:", ", ".join(c.phone.masked for c in members.preview if c.phone))

        # Cell 2: create, estimate and preview (nothing is sent yet).
        campaign = client.create_campaign(
            "Points reminder",
            "Hi ${name}, you have ${points} points. They expire on Sunday.",
            audience=members.id,
        )
        estimate = client.estimate(campaign)
        print(f"estimate: {estimate.planned} planned, {estimate.segments} segments")
        print(client.preview_message(campaign))

        # Cell 3: send and check.
        client.start(campaign)
        client.run(progress=False)  # in a notebook: client.run() draws its progress bar
        progress = client.progress(campaign)
        print(f"delivered {progress.count(msgkit.MessageState.DELIVERED)} of {progress.total}")
