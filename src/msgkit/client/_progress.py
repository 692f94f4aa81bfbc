"""The progress bar `Client.run` draws on a terminal or in a notebook.

On a terminal it is one line of text on stderr, redrawn in place with ``\\r``. In a
Jupyter notebook it is an HTML progress bar in the cell's output, updated in place
(IPython's ``display(..., display_id=True)`` and ``update``); IPython is imported only
there, it is not a dependency of msgkit.
"""

from __future__ import annotations

import importlib
import sys
import time
from typing import IO, Any

from msgkit.core import html
from msgkit.engine.dispatcher import RunStats
from msgkit.store import Store

__all__ = ["ProgressBar", "in_notebook"]


def in_notebook() -> bool:
    """Whether this process is a Jupyter kernel."""
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    get = getattr(shell, "get_ipython", None)
    return bool(get and get() is not None and "IPKernelApp" in getattr(get(), "config", {}))


class ProgressBar:
    """A progress bar of the campaigns a run works on: a one-line text bar on a
    terminal, an HTML bar updated in place in a notebook.

    Args:
        store: Where the campaigns' progress is counted.
        stream: Where the text bar goes (default: stderr).
        notebook: Draw HTML in the notebook (default: when this is a Jupyter kernel).
    """

    def __init__(
        self, store: Store, stream: IO[str] | None = None, *, notebook: bool | None = None
    ) -> None:
        self.store = store
        self.stream = stream or sys.stderr
        self.notebook = in_notebook() if notebook is None else notebook
        self._handle: Any = None
        self._last = 0.0

    def due(self) -> bool:
        """Whether it is time to draw again (at most five times a second)."""
        return time.monotonic() - self._last >= 0.2

    def show(self, stats: RunStats, *, final: bool = False) -> None:
        """Draw the run's progress (at most five times a second, and once at the end)."""
        if not final and not self.due():
            return  # counting reads the store: not on every pass
        # The campaigns this run worked on (finished ones included) and those still to go.
        ids = set(stats.campaigns) | {c.id for c in self.store.running_campaigns()}
        total = done = 0
        for campaign_id in sorted(ids):
            progress = self.store.progress(campaign_id)
            total += progress.sendable
            done += progress.done
        self.update(done, total, stats, final=final)

    def update(self, done: int, total: int, stats: RunStats, *, final: bool = False) -> None:
        """Draw ``done`` of ``total`` and the run's counts."""
        self._last = time.monotonic()
        counts = f"sent {stats.sent:,}  failed {stats.failed:,}  retrying {stats.retried:,}"
        if self.notebook:
            self._draw_html(html.progress(done, total, counts))
            return
        percent = 100.0 if total == 0 else 100.0 * done / total
        filled = int(percent / 5)
        bar = "#" * filled + "-" * (20 - filled)
        line = f"\r[{bar}] {percent:5.1f}%  {done:,}/{total:,}  {counts}"
        self.stream.write(line + ("\n" if final else ""))
        self.stream.flush()

    def _draw_html(self, markup: str) -> None:
        display = importlib.import_module("IPython.display")  # only in a notebook
        content = display.HTML(markup)
        if self._handle is None:
            self._handle = display.display(content, display_id=True)
        else:
            self._handle.update(content)
