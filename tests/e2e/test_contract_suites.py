"""A user tests their own store and adapter with msgkit's contract suites."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import msgkit

USER_TESTS = '''
import pytest
import msgkit.testing
from msgkit.providers.base import OutboundMessage
from msgkit.testing import SimulatorProvider


class MyStore(msgkit.testing.MemoryStore):
    """A store of the user's, built on one of msgkit's."""


class TestMyStore(msgkit.testing.StoreContract):
    @pytest.fixture
    def make_store(self):
        return MyStore


class TestMyGateway(msgkit.testing.ProviderContract):
    @pytest.fixture
    def make_provider(self):
        return lambda: SimulatorProvider("gw", base_url="https://gw.example.com")

    @pytest.fixture
    def make_batch(self):
        return lambda: [OutboundMessage(id="m1", channel="sms", to="+14155550100", text="Hi")]


class TestForgotten(msgkit.testing.StoreContract):
    pass
'''


def test_contract_suites_run_over_a_users_own_classes(tmp_path: Path) -> None:
    """Subclassing StoreContract and ProviderContract runs every promise over the user's
    store and adapter; a suite whose factory is not given says which fixture to write."""
    (tmp_path / "test_mine.py").write_text(textwrap.dedent(USER_TESTS), encoding="utf-8")
    here = str(Path(msgkit.__file__).parent.parent)  # this msgkit, wherever it is installed
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([here, os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rE", "test_mine.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=env,
    )
    out = result.stdout
    summary = out.strip().splitlines()[-1]
    assert " passed" in summary
    assert " failed" not in summary
    forgotten = [line for line in out.splitlines() if line.startswith("ERROR test_mine.py::")]
    assert forgotten
    assert all("TestForgotten" in line for line in forgotten)
    assert "TestForgotten must override the make_store fixture" in out
