"""One public namespace: what the README, the docs and the examples use is `msgkit`'s.

Every name they import comes from ``msgkit`` itself (``msgkit.__all__``) or from one of
the documented submodules (`msgkit.sms`, `msgkit.contacts`, `msgkit.io`, `msgkit.inbound`,
`msgkit.reports`, `msgkit.testing`, `msgkit.providers.<name>`), by one path each; and
`AsyncClient` has every method `Client` has.
"""

from __future__ import annotations

import ast
import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

import msgkit
from msgkit.client import AsyncClient, Client

ROOT = Path(__file__).resolve().parent.parent
#: The submodules the docs may import from (`msgkit.providers.<name>` included).
SUBMODULES = {"sms", "contacts", "io", "inbound", "reports", "testing", "providers"}
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))


def _code_blocks(text: str) -> list[str]:
    """The Python of a page's ``python``/``py``/``pycon`` blocks (doctest prompts removed)."""
    code = []
    for block in re.findall(r"```(?:python|py|pycon)\n(.*?)```", text, flags=re.DOTALL):
        lines = block.splitlines()
        if any(line.startswith(">>> ") for line in lines):
            lines = [line[4:] for line in lines if line.startswith((">>> ", "... "))]
        code.append("\n".join(lines))
    return code


def _uses(source: str) -> list[tuple[str, str]]:
    """``(module, name)`` for each msgkit import and each ``msgkit.X`` attribute."""
    try:
        tree = ast.parse(source)
    except SyntaxError:  # an illustration with "..." in it: read its import lines alone
        lines = [line for line in source.splitlines() if re.match(r"(from|import) msgkit", line)]
        tree = ast.parse("\n".join(lines))
    uses: list[tuple[str, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "msgkit":
            uses.extend((node.module or "", alias.name) for alias in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                module, _, name = alias.name.rpartition(".")
                if alias.name.startswith("msgkit."):
                    uses.append((module, name))
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "msgkit"
        ):
            uses.append(("msgkit", node.attr))
    return uses


def _all_uses() -> list[tuple[str, str, str]]:
    found = []
    for page in PAGES:
        for block in _code_blocks(page.read_text(encoding="utf-8")):
            found += [(page.name, m, n) for m, n in _uses(block)]
    for example in EXAMPLES:
        found += [(example.name, m, n) for m, n in _uses(example.read_text(encoding="utf-8"))]
    return found


def test_the_docs_import_something() -> None:
    """The scan finds the imports of the README, the docs and the examples."""
    uses = _all_uses()
    assert ("README.md", "msgkit", "Client") in uses
    assert {where for where, _, _ in uses} >= {"README.md", "sending.md", "run_a_campaign.py"}


@pytest.mark.parametrize(
    ("where", "module", "name"),
    [pytest.param(*use, id=f"{use[0]}:{use[1]}.{use[2]}") for use in sorted(set(_all_uses()))],
)
def test_every_name_the_docs_use_is_public(where: str, module: str, name: str) -> None:
    """Each name the docs use is `msgkit.<name>` (in ``__all__``) or comes from a
    documented submodule, and a name `msgkit` exports is not taught by another path."""
    if module == "msgkit":
        assert name in msgkit.__all__, f"{where}: add {name} to msgkit.__all__"
        return
    top = module.split(".")[1]
    assert top in SUBMODULES, (
        f"{where}: {module} is not a public module: import {name} from msgkit "
        "(export it in msgkit/__init__.py)"
    )
    assert name not in msgkit.__all__, f"{where}: teach msgkit.{name}, not {module}.{name}"
    imported = __import__(module, fromlist=[name])
    assert hasattr(imported, name) or f"{module}.{name}" in sys.modules


def test_all_is_sorted_and_resolves() -> None:
    """``msgkit.__all__`` is sorted (constants, classes, then the rest, as ruff's RUF022
    sorts it), has no duplicates, and every name in it exists."""
    names = list(msgkit.__all__)

    def group(name: str) -> tuple[int, str]:
        return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)

    assert names == sorted(names, key=group)
    assert len(set(names)) == len(names)
    for name in names:
        assert getattr(msgkit, name) is not None, name


def test_import_msgkit_stays_light() -> None:
    """``import msgkit`` loads no client, engine, store or HTTP stack until asked."""
    code = (
        "import sys, msgkit\n"
        "heavy = ('msgkit.client', 'msgkit.engine', 'msgkit.store', 'httpx', 'pytest')\n"
        "print(sorted(m for m in sys.modules if m.startswith(heavy)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"


def test_msgkit_testing_needs_no_test_runner() -> None:
    """``import msgkit.testing`` loads no pytest, hypothesis or respx (not msgkit's
    dependencies); its contract suites load them when first used."""
    code = (
        "import sys, msgkit.testing\n"
        "runners = ('pytest', 'hypothesis', 'respx', 'msgkit.testing.contracts')\n"
        "print(sorted(m for m in sys.modules if m.startswith(runners)))\n"
        "msgkit.testing.StoreContract\n"
        "print('msgkit.testing.contracts' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.split() == ["[]", "True"]


def _public_methods(cls: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(member)
        for name, member in inspect.getmembers(cls, inspect.isfunction)
        if not name.startswith("_")
    }


#: `Client` methods whose async twin has another name.
RENAMED = {"close": "aclose", "run": "arun"}
#: Twins that do no I/O, and so are plain methods.
NOT_AWAITED = {"as_actor", "dispatcher", "inbound_app"}


def test_async_client_has_every_client_method() -> None:
    """Every public `Client` method has an `AsyncClient` twin with the same parameters,
    awaited unless it does no I/O; `AsyncClient` adds nothing else."""
    sync, twins = _public_methods(Client), _public_methods(AsyncClient)
    assert {RENAMED.get(n, n) for n in sync} == set(twins)
    for name, signature in sync.items():
        twin = RENAMED.get(name, name)
        assert list(twins[twin].parameters.values()) == list(signature.parameters.values()), name
        awaited = inspect.iscoroutinefunction(getattr(AsyncClient, twin))
        assert awaited is (name not in NOT_AWAITED), name
    assert inspect.signature(AsyncClient.__init__) == inspect.signature(Client.__init__)
