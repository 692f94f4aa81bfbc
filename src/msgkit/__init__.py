"""msgkit: bulk and triggered messaging campaigns — SMS, LINE with SMS fallback, web chat."""

from typing import TYPE_CHECKING, Any

from msgkit import contacts, sms
from msgkit._version import __version__
from msgkit.core.access import Actor, RolePolicy
from msgkit.core.campaigns import Campaign, CampaignKind, CampaignStatus, Fallback
from msgkit.core.contacts import Contact, Phone
from msgkit.core.delivery import Channel, MessageState, SkipReason
from msgkit.core.fatigue import FrequencyCap, SentRecord, history_since
from msgkit.core.links import ShortLinks
from msgkit.core.optout import OptOutScope, suppression_key
from msgkit.core.planning import PlanSummary, Route, Skip, plan, summarize
from msgkit.core.policy import ContentPolicy, SendPolicy, SendSpeed
from msgkit.core.preview import MessagePreview
from msgkit.core.pricing import Balance, Prices
from msgkit.core.rfm import RFM, RFMSegment
from msgkit.core.segments import (
    Ago,
    Audience,
    ControlGroup,
    Part,
    Rule,
    Split,
    StaticSegment,
    condition_from_dict,
    condition_to_dict,
)
from msgkit.core.templates import Template, TemplateKind
from msgkit.core.windows import ContactSchedule
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
    StoreError,
    TemplateError,
    TemplateSyntaxError,
    UnavailableError,
    UnknownVariableError,
)

if TYPE_CHECKING:
    from msgkit.client import AsyncClient, Client

__all__ = [
    "RFM",
    "AccountError",
    "Actor",
    "Ago",
    "AsyncClient",
    "Audience",
    "AuthError",
    "Balance",
    "Campaign",
    "CampaignKind",
    "CampaignStatus",
    "Channel",
    "Client",
    "ConfigError",
    "Contact",
    "ContactSchedule",
    "ContentPolicy",
    "ControlGroup",
    "Fallback",
    "FrequencyCap",
    "ImportFileError",
    "InvalidPhoneError",
    "InvalidTransitionError",
    "MessagePreview",
    "MessageState",
    "MissingVariableError",
    "MsgkitError",
    "NotAllowedError",
    "NotFoundError",
    "OptOutScope",
    "Part",
    "PermissionDeniedError",
    "Phone",
    "PlanSummary",
    "Prices",
    "ProviderError",
    "RFMSegment",
    "RateLimitedError",
    "RejectedError",
    "RolePolicy",
    "Route",
    "Rule",
    "SendPolicy",
    "SendSpeed",
    "SentRecord",
    "ShortLinks",
    "SignatureError",
    "Skip",
    "SkipReason",
    "Split",
    "StaticSegment",
    "StoreError",
    "Template",
    "TemplateError",
    "TemplateKind",
    "TemplateSyntaxError",
    "UnavailableError",
    "UnknownVariableError",
    "__version__",
    "condition_from_dict",
    "condition_to_dict",
    "contacts",
    "history_since",
    "plan",
    "sms",
    "summarize",
    "suppression_key",
]


def __getattr__(name: str) -> Any:
    # The client pulls in the engine, the store and the HTTP stack: load it on first
    # use, so `import msgkit` (or one adapter) stays light.
    if name in ("AsyncClient", "Client"):
        from msgkit import client  # noqa: PLC0415

        return getattr(client, name)
    raise AttributeError(f"module 'msgkit' has no attribute {name!r}")
