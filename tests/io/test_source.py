"""Tests of msgkit.io._source: handing an opened file to what is built on it."""

from __future__ import annotations

import pytest

from msgkit.io._source import closed_on_error


class _Resource:
    def __init__(self) -> None:
        self.closed = 0

    def close(self) -> None:
        self.closed += 1


def test_closed_on_error_closes_when_the_build_fails() -> None:
    """closed_on_error closes the resource once and lets the error through."""
    resource = _Resource()
    with pytest.raises(KeyboardInterrupt), closed_on_error(resource):
        raise KeyboardInterrupt
    assert resource.closed == 1


def test_closed_on_error_leaves_it_open_on_success() -> None:
    """closed_on_error leaves the resource open when the build succeeds (its owner closes it)."""
    resource = _Resource()
    with closed_on_error(resource):
        pass
    assert resource.closed == 0
