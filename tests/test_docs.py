"""The README and the examples say what is true: their code runs and prints what they claim."""

from __future__ import annotations

import doctest
import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


def test_readme_python_claims_hold() -> None:
    """Every `expression  # value` line of the README's Python evaluates to that value.

    Blocks fenced as ``python`` are checked; ``py`` blocks are illustrations.
    """
    blocks = _python_blocks(README)
    assert blocks
    for block in blocks:
        namespace: dict[str, object] = {}
        checked = 0
        for line in block.splitlines():
            code, _, claim = line.partition("  # ")
            claim = claim.strip()
            if not code.strip():
                continue
            if claim and "=" not in code.split("(")[0]:
                value = eval(code, namespace)
                assert claim in (repr(value), str(value)), f"{code.strip()} gave {value!r}"
                checked += 1
            else:
                exec(code, namespace)
        assert checked


def test_readme_test_command_is_what_ci_runs() -> None:
    """.ci/run takes the test command from the README's marked block."""
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert 'readme_block "<!-- test-command -->"' in ci
    block = README.split("<!-- test-command -->", 1)[1].split("<!-- /test-command -->")[0]
    assert "pytest" in block


@pytest.mark.parametrize("example", sorted((ROOT / "examples").glob("*.py")), ids=lambda p: p.name)
def test_example_runs(example: Path) -> None:
    """Each example runs as it is and exits 0."""
    result = subprocess.run(
        [sys.executable, str(example)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()


@pytest.mark.parametrize("page", sorted((ROOT / "docs").rglob("*.md")), ids=lambda p: p.name)
def test_docs_examples(page: Path) -> None:
    """The `>>>` examples of each documentation page give the output they show."""
    result = doctest.testfile(str(page), module_relative=False, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


MODULES = [
    "msgkit.core.sms",
    "msgkit.core.contacts",
    "msgkit.core.templates",
    "msgkit.core.campaigns",
    "msgkit.core.delivery",
    "msgkit.core.windows",
    "msgkit.core.fatigue",
    "msgkit.core.optout",
    "msgkit.core.links",
    "msgkit.core.policy",
    "msgkit.core.pricing",
    "msgkit.core.planning",
    "msgkit.providers.alibaba.adapter",
    "msgkit.providers.twilio.adapter",
    "msgkit.providers.twilio.webhooks",
    "msgkit.core.segments",
    "msgkit.core.rfm",
    "msgkit.io.importer",
    "msgkit.io.preview",
    "msgkit.core.html",
    "msgkit.core.preview",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    """The `Example:` sections of the docstrings are true."""
    module = importlib.import_module(name)
    assert doctest.testmod(module, optionflags=doctest.ELLIPSIS).failed == 0


def test_decision_table_is_drawn_from_decide() -> None:
    """The docs' decision table comes from decide(): every state that is not final has
    rows, and each row's next state is one the message lifecycle allows."""
    sys.path.insert(0, str(ROOT / "docs"))
    try:
        hooks = importlib.import_module("hooks")
    finally:
        sys.path.remove(str(ROOT / "docs"))
    rows = hooks.decision_rows()
    states = {row[0] for row in rows}
    assert {"planned", "deferred", "queued", "sending", "submitted", "unknown"} <= states
    page = (ROOT / "docs" / "how-it-works.md").read_text(encoding="utf-8")
    rendered = hooks.on_page_markdown(page)
    assert "<!-- decisions -->" not in rendered
    assert "| sending | send: outcome unknown | unknown | reconcile |" in rendered
