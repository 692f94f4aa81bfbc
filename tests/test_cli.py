"""The msgkit command line, run as a real process and in-process."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import msgkit
from msgkit.cli import main


def test_version_from_a_real_process() -> None:
    """`python -m msgkit.cli --version` prints the package version."""
    out = subprocess.run(
        [sys.executable, "-m", "msgkit.cli", "--version"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.strip() == f"msgkit {msgkit.__version__}"


def test_measure_json(capsys: pytest.CaptureFixture[str]) -> None:
    """`msgkit measure --json` prints the measurement."""
    assert main(["measure", "a" * 161, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["segments"] == 2
    assert data["part_units"] == [153, 8]


def test_measure_suggests_smart_only_when_it_helps(capsys: pytest.CaptureFixture[str]) -> None:
    """The --smart hint appears for curly quotes, not for emoji."""
    main(["measure", "It’s"])
    assert "--smart" in capsys.readouterr().out
    main(["measure", "😀"])
    assert "--smart" not in capsys.readouterr().out


def test_measure_cn_too_long_fails(capsys: pytest.CaptureFixture[str]) -> None:
    """A cn text over 500 characters exits 1 with the limit."""
    assert main(["measure", "字" * 501, "--scheme", "cn"]) == 1
    assert "500" in capsys.readouterr().err


def test_phone(capsys: pytest.CaptureFixture[str]) -> None:
    """`msgkit phone` normalises and explains; a bad number exits 2 with the reason."""
    assert main(["phone", "0912-345-678", "--region", "TW"]) == 0
    assert "+886912345678" in capsys.readouterr().out
    assert main(["phone", "12"]) == 2
    assert "region" in capsys.readouterr().err
