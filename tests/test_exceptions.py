"""The error tree: one root, builtin bases, facts as attributes, hints in messages."""

from __future__ import annotations

import inspect

import pytest

import msgkit
from msgkit import exceptions as exc


def _error_classes() -> list[type[BaseException]]:
    return [
        obj
        for _, obj in inspect.getmembers(exc, inspect.isclass)
        if issubclass(obj, BaseException) and obj.__module__ == exc.__name__
    ]


@pytest.mark.parametrize("cls", _error_classes(), ids=lambda c: c.__name__)
def test_every_error_is_rooted_drawn_and_builtin(cls: type[BaseException]) -> None:
    """Each error subclasses MsgkitError and a builtin, is exported, and is in the drawing."""
    assert issubclass(cls, exc.MsgkitError)
    if cls is not exc.MsgkitError:
        assert issubclass(cls, (ValueError, RuntimeError, LookupError, PermissionError))
    assert cls.__name__ in exc.__all__
    assert cls.__name__ in msgkit.__all__
    assert cls.__name__ in (exc.__doc__ or "")


def test_provider_error_carries_the_facts() -> None:
    """ProviderError keeps provider, status, code, request id and retryability."""
    error = exc.RejectedError(
        "invalid number",
        provider="ali",
        status=200,
        provider_code="isv.MOBILE_NUMBER_ILLEGAL",
        request_id="R1",
    )
    assert (error.provider, error.status, error.provider_code, error.request_id) == (
        "ali",
        200,
        "isv.MOBILE_NUMBER_ILLEGAL",
        "R1",
    )
    assert error.retryable is False
    assert "isv.MOBILE_NUMBER_ILLEGAL" in str(error)
    assert exc.UnavailableError("timeout", provider="ali").retryable is True
    assert exc.AuthError("bad key", provider="ali").retryable is False
    assert isinstance(exc.AuthError("bad key", provider="ali"), exc.AccountError)


def test_rate_limited_has_retry_after() -> None:
    """RateLimitedError is retryable and says how long to wait."""
    error = exc.RateLimitedError("slow down", provider="tw", retry_after=2.5, status=429)
    assert error.retryable
    assert error.retry_after == 2.5
    assert "send speed" in str(error)


def test_import_error_names_row_and_column() -> None:
    """ImportFileError puts the file, row and column in front of the message."""
    error = exc.ImportFileError(
        "invalid phone", path="members.csv", row=12, column="Mobile", hint="fix the number"
    )
    assert str(error) == "members.csv, row 12, column 'Mobile': invalid phone — fix the number"
    assert (error.row, error.column) == (12, "Mobile")


def test_transition_error_lists_allowed_events() -> None:
    """InvalidTransitionError says what the state allows instead."""
    error = exc.InvalidTransitionError("campaign", "running", "delete", ("stop", "finish"))
    assert "cannot delete a campaign that is running" in str(error)
    assert "stop, finish" in str(error)
    final = exc.InvalidTransitionError("message", "delivered", "send", ())
    assert "final" in str(final)
