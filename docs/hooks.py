"""MkDocs hook: draw each lifecycle diagram from its transition table.

A page writes ``<!-- lifecycle: campaign -->`` and gets the Mermaid diagram of
`msgkit.core.campaigns.CAMPAIGN`, so the documentation can never disagree with the code.
"""

from __future__ import annotations

import re
from typing import Any

from msgkit.core.campaigns import CAMPAIGN
from msgkit.core.delivery import MESSAGE
from msgkit.core.templates import REVIEW

TABLES = {"campaign": CAMPAIGN, "message": MESSAGE, "review": REVIEW}
MARKER = re.compile(r"<!-- lifecycle: (\w+) -->")


def _diagram(match: re.Match[str]) -> str:
    table = TABLES[match.group(1)]
    return f"```mermaid\n{table.mermaid()}\n```"


def on_page_markdown(markdown: str, **_: Any) -> str:
    """Replace every lifecycle marker with its diagram."""
    return MARKER.sub(_diagram, markdown)
