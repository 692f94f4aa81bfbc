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


#: What each example must print (fragments, in order): what it shows its reader.
EXAMPLE_OUTPUT: dict[str, list[str]] = {
    "alibaba_notification_with_review.py": [
        "template SMS_15305: pending",
        "refused: the template must be approved by the platform before use (it is pending)",
        "SMS to +8613*****8000 from 阿里云: 1 part, UCS-2",
        "sent to +8613*****8000: 您的验证码为4821，5分钟内有效。",
    ],
    "import_xlsx_and_send.py": [
        "4 rows: 3 imported, 1 rejected",
        "invalid_phone",
        "first rows: +8869****5678, +8869****2111, +8869****3456",
        "estimate: 3 planned, 3 segments",
        "SMS to +8869****5678: 1 part, GSM-7\nHi Amy, you have 120 points.",
        "delivered 3 of 3",
    ],
    "line_with_sms_fallback.py": [
        "LINE to +8869****5601\nHi Amy, your parcel is ready for pickup.\nfallback:\nSMS to",
        "+8869****5601  line  Hi Amy, your parcel is ready for pickup.\n",
        "+8869****5613  line  Hi Bo, your parcel is ready for pickup.\n"
        "+8869****5613  sms   Hi Bo, your parcel is ready (SMS).\n"
        "+8869****5622  line  Hi Cy, your parcel is ready for pickup.\n",
        "fallen back: 1",
    ],
    "mount_webhook_app.py": [
        "sent: Spring sale: https://go.example.com/l/",
        "GET / -> 200 my shop's home page",
        "-> 302 to https://shop.example.com/spring",
        "clicks recorded: 1 on link 'shop'",
    ],
    "plan_a_campaign.py": [
        "send  +8869****5678  at Mon 03:00 UTC  Hi Amy, the spring sale starts today:",
        "skip  suppressed opted out of everything",
        "3 to send (1 deferred to their window), 3 skipped, 3 segments, estimated cost 0.105",
    ],
    "preview_a_message.py": [
        "+8869****5678  GSM-7  1 part(s)  Hi Amy, your order A-1001 ships today.",
        "+8869****2111  GSM-7  1 part(s)  Hi there,",
        "+8869****3456  UCS-2  2 part(s)  Hi Zoë “Z” Chen,",
    ],
    "register_a_provider.py": [
        "provider types: alibaba, http_sms, line, simulator, toy, twilio, webchat",
        "+8869****5678: Hello from a provider of our own -- Toy Shop",
    ],
    "run_a_campaign.py": [
        "201 rows: 200 imported, 1 rejected",
        "will send 182, holding out 18, 182 segments",
        "sent 182; delivered 182; done 100%",
    ],
    "webchat_bulk_message.py": [
        "Web chat to conversation-1 from Mia (support)",
        "conversation-1: Hi Amy, we are open until 22:00 tonight.",
        "conversation-3: Hi Cy, we are open",
        "status: finished",
    ],
}


@pytest.mark.parametrize("example", sorted((ROOT / "examples").glob("*.py")), ids=lambda p: p.name)
def test_example_runs(example: Path) -> None:
    """Each example runs as it is, exits 0 and prints what it promises, in order."""
    result = subprocess.run(
        [sys.executable, str(example)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert example.name in EXAMPLE_OUTPUT, f"say what {example.name} prints in EXAMPLE_OUTPUT"
    at = 0
    for fragment in EXAMPLE_OUTPUT[example.name]:
        found = result.stdout.find(fragment, at)
        assert found >= 0, f"{example.name} did not print {fragment!r}:\n{result.stdout}"
        at = found + len(fragment)


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
    "msgkit.core.timing",
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
