"""msgkit: bulk and triggered messaging campaigns — SMS, LINE with SMS fallback, web chat."""

from msgkit import contacts, sms
from msgkit._version import __version__
from msgkit.core.campaigns import Campaign, CampaignKind, CampaignStatus
from msgkit.core.contacts import Contact, Phone
from msgkit.core.delivery import Channel, MessageState, SkipReason
from msgkit.core.templates import Template, TemplateKind
from msgkit.exceptions import (
    AccountError,
    AuthError,
    ConfigError,
    ImportFileError,
    InvalidPhoneError,
    InvalidTransitionError,
    MissingVariableError,
    MsgkitError,
    NotAllowedError,
    NotFoundError,
    PermissionDeniedError,
    ProviderError,
    RateLimitedError,
    RejectedError,
    SignatureError,
    TemplateError,
    TemplateSyntaxError,
    UnavailableError,
    UnknownVariableError,
)

__all__ = [
    "AccountError",
    "AuthError",
    "Campaign",
    "CampaignKind",
    "CampaignStatus",
    "Channel",
    "ConfigError",
    "Contact",
    "ImportFileError",
    "InvalidPhoneError",
    "InvalidTransitionError",
    "MessageState",
    "MissingVariableError",
    "MsgkitError",
    "NotAllowedError",
    "NotFoundError",
    "PermissionDeniedError",
    "Phone",
    "ProviderError",
    "RateLimitedError",
    "RejectedError",
    "SignatureError",
    "SkipReason",
    "Template",
    "TemplateError",
    "TemplateKind",
    "TemplateSyntaxError",
    "UnavailableError",
    "UnknownVariableError",
    "__version__",
    "contacts",
    "sms",
]
