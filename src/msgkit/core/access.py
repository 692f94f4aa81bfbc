"""Who may do what: the acting user, and a pluggable permission policy.

The host application tells the client who acts (`Actor`). Creating, starting and
deleting campaigns ask the client's `PermissionPolicy`; every operation is written to
the audit log with the actor and the time, allowed or not.

Actions are dotted names: ``campaign.create``, ``campaign.start``, ``campaign.stop``,
``campaign.delete``, ``campaign.edit``, ``campaign.enable``, ``campaign.disable``,
``campaign.test``, ``list.import``, ``list.delete``, ``scenario.define``,
``scenario.trigger``, ``reply.answer``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

import attrs

from msgkit.core.campaigns import Campaign, CampaignKind

__all__ = ["SYSTEM", "Actor", "AllowAll", "PermissionPolicy", "RolePolicy"]


def _roles(value: Iterable[str]) -> frozenset[str]:
    if isinstance(value, str):
        value = [value]
    return frozenset(value)


@attrs.frozen(kw_only=True)
class Actor:
    """Someone (or something) acting through the client.

    Attributes:
        name: Who, as the host application knows them (a user id, an e-mail).
        roles: What they are, e.g. ``{"admin"}`` or ``{"marketer"}``.
    """

    name: str
    roles: frozenset[str] = attrs.field(factory=frozenset, converter=_roles)


#: The actor of operations msgkit does on its own (stopping on an account error).
SYSTEM = Actor(name="msgkit", roles={"system"})


class PermissionPolicy(Protocol):
    """Decides whether an actor may do an action (on a campaign, when there is one)."""

    def allows(self, actor: Actor, action: str, campaign: Campaign | None = None) -> bool:
        """Whether ``actor`` may do ``action``."""
        ...


class AllowAll:
    """The default policy: everyone may do everything (the host app decides upstream)."""

    def allows(self, actor: Actor, action: str, campaign: Campaign | None = None) -> bool:
        """Always true."""
        return True


@attrs.frozen(kw_only=True)
class RolePolicy:
    """Only some roles may create, start and delete bulk campaigns.

    Attributes:
        bulk_roles: The roles allowed the ``restricted`` actions on bulk campaigns.
        restricted: The actions reserved to those roles.
    """

    bulk_roles: frozenset[str] = attrs.field(default=frozenset({"admin"}), converter=_roles)
    restricted: frozenset[str] = attrs.field(
        default=frozenset({"campaign.create", "campaign.start", "campaign.delete"}),
        converter=_roles,
    )

    def allows(self, actor: Actor, action: str, campaign: Campaign | None = None) -> bool:
        """Whether ``actor`` may do ``action`` on ``campaign``."""
        if action not in self.restricted:
            return True
        if campaign is not None and campaign.kind is not CampaignKind.BULK:
            return True
        return bool(actor.roles & self.bulk_roles)
