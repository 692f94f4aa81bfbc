"""The one error tree of msgkit.

Every error msgkit raises on purpose is a `MsgkitError`, and also an instance of the
builtin exception that fits it, so ``except ValueError`` keeps working for code that
does not know msgkit::

    MsgkitError (Exception)
    ├── InvalidPhoneError (ValueError)         a number that cannot be used
    ├── TemplateError (ValueError)             a template or its values are wrong
    │   ├── TemplateSyntaxError                  ``${`` without ``}``, a bad name
    │   ├── MissingVariableError                 a value is missing at render time
    │   ├── UnknownVariableError                 a value names no variable
    │   └── NotAllowedError                      the channel forbids this content
    ├── InvalidTransitionError (RuntimeError)  an event the current state does not allow
    ├── ImportFileError (ValueError)           a recipient file cannot be read (row, column)
    ├── ConfigError (ValueError)               configuration is missing or wrong
    ├── NotFoundError (LookupError)            no campaign, list or message by that id
    ├── PermissionDeniedError (PermissionError) the acting user may not do this
    ├── StoreError (RuntimeError)              the database failed: full, locked, read-only
    ├── ProviderError (RuntimeError)           a provider refused or failed a request
    │   ├── RateLimitedError                     slow down; ``retry_after`` seconds
    │   ├── UnavailableError                     timeout, 5xx: retry later
    │   ├── RejectedError                        permanent for this message
    │   └── AccountError                         stop the campaign: balance, suspension
    │       └── AuthError                          credentials refused
    └── SignatureError (ValueError)            a webhook whose signature does not verify

Each error says what to do next in its message (``hint``), and keeps the facts a
program needs as attributes.
"""

from __future__ import annotations

__all__ = [
    "AccountError",
    "AuthError",
    "ConfigError",
    "ImportFileError",
    "InvalidPhoneError",
    "InvalidTransitionError",
    "MissingVariableError",
    "MsgkitError",
    "NotAllowedError",
    "NotFoundError",
    "PermissionDeniedError",
    "ProviderError",
    "RateLimitedError",
    "RejectedError",
    "SignatureError",
    "StoreError",
    "TemplateError",
    "TemplateSyntaxError",
    "UnavailableError",
    "UnknownVariableError",
]


class MsgkitError(Exception):
    """The root of every error msgkit raises.

    Args:
        message: What went wrong.
        hint: What to do about it; appended to the message.
    """

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message if hint is None else f"{message} — {hint}")


class InvalidPhoneError(MsgkitError, ValueError):
    """A phone number that cannot be used.

    Attributes:
        reason: A short machine-readable reason, e.g. ``"too_short"``,
            ``"invalid_for_region"``, ``"not_mobile"``; see `PhoneErrorReason`.
        raw: The input as given (unmasked: do not log it).
    """

    def __init__(self, message: str, *, reason: str, raw: str = "", hint: str | None = None):
        super().__init__(message, hint=hint)
        self.reason = reason
        self.raw = raw


class TemplateError(MsgkitError, ValueError):
    """A template, or the values given to it, cannot produce a message."""


class TemplateSyntaxError(TemplateError):
    """The template text is malformed (an unclosed ``${`` or an invalid name).

    Attributes:
        position: The index in the body where the problem starts.
    """

    def __init__(self, message: str, *, position: int, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.position = position


class MissingVariableError(TemplateError):
    """Rendering needs a value that was not given, or a template uses a variable that
    no column of its audience provides.

    Attributes:
        names: The variables without a value, in the order the template uses them.
        available: The variables the audience provides, when the error is about an
            audience (its columns); None for a single rendering.
    """

    def __init__(
        self,
        names: tuple[str, ...],
        *,
        hint: str | None = None,
        available: tuple[str, ...] | None = None,
        what: str = "the template",
    ) -> None:
        listed = ", ".join(f"${{{n}}}" for n in names)
        if available is None:
            message = f"no value for {listed}"
        else:
            message = f"{what} uses {listed}, which no column of the audience provides"
        super().__init__(
            message,
            hint=hint or "give a value for each variable, or map a column to it",
        )
        self.names = names
        self.available = available


class UnknownVariableError(TemplateError):
    """A value was given for a name the template does not use.

    Attributes:
        names: The names given that the template does not have.
        known: The variables the template does have.
    """

    def __init__(self, names: tuple[str, ...], known: tuple[str, ...]) -> None:
        listed = ", ".join(names)
        known_listed = ", ".join(known) or "(none)"
        super().__init__(
            f"the template has no variable named {listed}",
            hint=f"its variables are: {known_listed}",
        )
        self.names = names
        self.known = known


class NotAllowedError(TemplateError):
    """The content is not allowed by the channel or the template kind.

    Attributes:
        violations: One sentence per rule broken.
    """

    def __init__(self, violations: tuple[str, ...]) -> None:
        super().__init__("; ".join(violations))
        self.violations = violations


class InvalidTransitionError(MsgkitError, RuntimeError):
    """An event that the current state of a lifecycle does not allow.

    Attributes:
        lifecycle: Which lifecycle, e.g. ``"campaign"`` or ``"message"``.
        state: The current state.
        event: The event that was refused.
        allowed: The events the current state does allow.
        reason: Why the event is refused, when the state alone does not say it.
    """

    def __init__(
        self,
        lifecycle: str,
        state: str,
        event: str,
        allowed: tuple[str, ...],
        *,
        reason: str | None = None,
        hint: str | None = None,
    ):
        if hint is None:
            hint = (
                f"a {lifecycle} that is {state} allows: {', '.join(allowed)}"
                if allowed
                else f"a {lifecycle} that is {state} is final"
            )
        what = f"cannot {event} a {lifecycle} that is {state}"
        super().__init__(what if reason is None else f"{what}: {reason}", hint=hint)
        self.reason = reason
        self.lifecycle = lifecycle
        self.state = state
        self.event = event
        self.allowed = allowed


class ImportFileError(MsgkitError, ValueError):
    """A recipient file cannot be read.

    Attributes:
        path: The file, when known.
        row: The 1-based row number in the file (the header is row 1), when known.
        column: The column name, when known.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        row: int | None = None,
        column: str | None = None,
        hint: str | None = None,
    ) -> None:
        where = []
        if path is not None:
            where.append(path)
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column {column!r}")
        prefix = f"{', '.join(where)}: " if where else ""
        super().__init__(prefix + message, hint=hint)
        self.path = path
        self.row = row
        self.column = column


class ConfigError(MsgkitError, ValueError):
    """Configuration is missing or wrong.

    It reads ``KEY: MESSAGE — HINT``, the key said once: code that knows a fuller path
    for the setting re-keys the error with `under` rather than wrapping its text.

    Attributes:
        message: What is wrong, without the key.
        key: The setting concerned, e.g. ``"providers.sms.access_key_id"``.
    """

    def __init__(self, message: str, *, key: str | None = None, hint: str | None = None):
        super().__init__(message if key is None else f"{key}: {message}", hint=hint)
        self.message = message
        self.key = key

    def under(self, key: str) -> ConfigError:
        """The same error about setting ``key`` (e.g. ``providers.sms.type`` for ``type``)."""
        return ConfigError(self.message, key=key, hint=self.hint)


class NotFoundError(MsgkitError, LookupError):
    """No campaign, list, message or scenario by that id or name.

    Attributes:
        kind: What was looked for, e.g. ``"campaign"``.
        ident: The id or name given.
    """

    def __init__(self, kind: str, ident: str, *, hint: str | None = None) -> None:
        super().__init__(
            f"no {kind} {ident!r}", hint=hint or f"list them to see which {kind}s exist"
        )
        self.kind = kind
        self.ident = ident


class PermissionDeniedError(MsgkitError, PermissionError):
    """The acting user may not do this (see the client's permission policy).

    Attributes:
        actor: Who tried.
        action: What they tried, e.g. ``"campaign.start"``.
    """

    def __init__(self, actor: str, action: str, *, hint: str | None = None) -> None:
        super().__init__(
            f"{actor!r} may not {action}",
            hint=hint or "ask an admin, or configure the client's permission policy",
        )
        self.actor = actor
        self.action = action


class StoreError(MsgkitError, RuntimeError):
    """The store's database failed: its disk is full, another process holds its lock
    longer than the timeout, it is read-only, or it cannot be read or written.

    Nothing of the failed transaction was written. The engine stops the campaigns it
    was sending with this as the reason (when the store can still record that), and
    `Client.resume` continues them once the cause is fixed: nothing skipped, nothing
    sent twice.

    Attributes:
        what: What happened, e.g. ``"the disk holding /data/msgkit.db is full"``.
        kind: A short machine-readable kind: ``"full"``, ``"locked"``, ``"read_only"``,
            ``"io"``, ``"corrupt"``, ``"connection"`` (a database server that cannot be
            reached or went away), ``"invalid"`` (a value this database cannot hold,
            such as PostgreSQL and the NUL character) or ``"other"``.
        database: The store's URL.
    """

    def __init__(self, what: str, *, kind: str, database: str, hint: str) -> None:
        super().__init__(what, hint=hint)
        self.what = what
        self.kind = kind
        self.database = database


class ProviderError(MsgkitError, RuntimeError):
    """A provider refused or failed a request.

    Attributes:
        provider: The provider's configured name.
        status: The HTTP status, when there was a response.
        provider_code: The provider's own error code (``isv.MOBILE_NUMBER_ILLEGAL``,
            ``21610``, ...).
        request_id: The provider's request id, for its support desk.
        retryable: Whether the same request may succeed later.
    """

    retryable_default = False

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        status: int | None = None,
        provider_code: str | None = None,
        request_id: str | None = None,
        retryable: bool | None = None,
        hint: str | None = None,
    ) -> None:
        facts = [f"provider {provider!r}"]
        if status is not None:
            facts.append(f"HTTP {status}")
        if provider_code is not None:
            facts.append(f"code {provider_code}")
        if request_id is not None:
            facts.append(f"request {request_id}")
        super().__init__(f"{message} ({', '.join(facts)})", hint=hint)
        self.provider = provider
        self.status = status
        self.provider_code = provider_code
        self.request_id = request_id
        self.retryable = self.retryable_default if retryable is None else retryable


class RateLimitedError(ProviderError):
    """The provider asks us to slow down.

    Attributes:
        retry_after: Seconds to wait before the next attempt, when the provider said.
    """

    retryable_default = True

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        retry_after: float | None = None,
        status: int | None = None,
        provider_code: str | None = None,
        request_id: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(
            message,
            provider=provider,
            status=status,
            provider_code=provider_code,
            request_id=request_id,
            retryable=True,
            hint=hint or "msgkit waits and retries; lower the send speed to avoid it",
        )
        self.retry_after = retry_after


class UnavailableError(ProviderError):
    """The provider did not answer usefully (timeout, 5xx); the request may be retried."""

    retryable_default = True


class RejectedError(ProviderError):
    """The provider refused this message for good (invalid number, opted out, content)."""


class AccountError(ProviderError):
    """An account-level refusal (no balance, suspended): stop the campaign, fix the account."""


class AuthError(AccountError):
    """The provider refused the credentials."""


class SignatureError(MsgkitError, ValueError):
    """A webhook request whose signature does not verify: do not trust its body."""
