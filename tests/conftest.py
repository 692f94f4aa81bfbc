"""Shared test configuration."""

from __future__ import annotations

import pytest

from tests.postgres import postgres_databases

__all__ = ["postgres_databases"]


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run on asyncio (the engine's event loop)."""
    return "asyncio"
