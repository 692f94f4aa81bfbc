"""Which adapter a ``type`` names: an explicit registry, plus the ``msgkit.providers``
entry-point group for adapters from other packages. No folder is ever scanned.

A factory is any callable ``(name, settings, env) -> Provider``: ``name`` is the
configured provider name, ``settings`` its ``msgkit.toml`` table, ``env`` the environment
its secrets are read from. It is registered as an object or as an import path
(``"package.module:function"``), imported only when the type is first used — so a type
can be registered before its module exists or can be imported.

A type with webhooks registers a `ProviderType` instead: its factory and its
`msgkit.providers.webhooks.Webhooks`, which `msgkit.inbound.InboundApp` routes. Another
package adds a type by declaring, in its ``pyproject.toml``, either::

    [project.entry-points."msgkit.providers"]
    mygateway = "mygateway.msgkit:PROVIDER"       # a ProviderType (with webhooks)
    othergateway = "othergateway:from_config"     # a factory alone (no webhooks)

The built-in types: ``alibaba``, ``line``, ``twilio``, ``http_sms``, ``webchat``
(Chatwoot), one package each (``msgkit.providers.alibaba:PROVIDER``), and ``simulator``
(``msgkit.testing.simulator:PROVIDER``, loaded by name: the providers layer does not
import ``msgkit.testing``).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping
from importlib import metadata
from typing import Any

import attrs

from msgkit.core.pricing import Prices
from msgkit.exceptions import ConfigError
from msgkit.providers.base import Provider
from msgkit.providers.config import adapter_settings
from msgkit.providers.webhooks import Webhooks

__all__ = [
    "ENTRY_POINT_GROUP",
    "REGISTRY",
    "Factory",
    "ProviderType",
    "Registry",
    "load_prices",
    "load_providers",
]

ENTRY_POINT_GROUP = "msgkit.providers"

Factory = Callable[[str, Mapping[str, Any], Mapping[str, str]], Provider]


@attrs.frozen(kw_only=True)
class ProviderType:
    """What a provider type registers: how to build it, and its webhooks.

    Attributes:
        factory: ``(name, settings, env) -> Provider``.
        webhooks: The webhook endpoints it declares, served by
            `msgkit.inbound.InboundApp`; None when it has none.
    """

    factory: Factory
    webhooks: Webhooks | None = None


Entry = Factory | ProviderType | str

_BUILT_IN: dict[str, Entry] = {
    "alibaba": "msgkit.providers.alibaba:PROVIDER",
    "line": "msgkit.providers.line:PROVIDER",
    "twilio": "msgkit.providers.twilio:PROVIDER",
    "http_sms": "msgkit.providers.http_sms:PROVIDER",
    "webchat": "msgkit.providers.chatwoot:PROVIDER",
    "simulator": "msgkit.testing.simulator:PROVIDER",
}


def _import(path: str) -> Any:
    module_name, _, attribute = path.partition(":")
    target: Any = importlib.import_module(module_name)
    for part in attribute.split(".") if attribute else ():
        target = getattr(target, part)
    return target


class Registry:
    """Provider types and their factories.

    Args:
        types: Initial ``{type: factory, ProviderType or "module:attribute"}``.
        entry_points: Also look types up in the ``msgkit.providers`` entry-point group.
    """

    def __init__(
        self,
        types: Mapping[str, Entry] | None = None,
        *,
        entry_points: bool = True,
    ) -> None:
        self._types: dict[str, Entry] = dict(types or {})
        self._entry_points = entry_points

    def register(self, type_name: str, factory: Entry, *, replace: bool = False) -> None:
        """Register a type: its factory, or a `ProviderType` (factory and webhooks), or
        the import path of either.

        Raises:
            ConfigError: When the type is registered already and ``replace`` is false.
        """
        if type_name in self._types and not replace:
            raise ConfigError(
                f"provider type {type_name!r} is registered already",
                key="type",
                hint="pass replace=True to override it",
            )
        self._types[type_name] = factory

    def types(self) -> list[str]:
        """Every known type, registered and from entry points, sorted."""
        found = set(self._types)
        if self._entry_points:
            found |= {ep.name for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}
        return sorted(found)

    def factory(self, type_name: str) -> Factory:
        """The factory of a type, imported on first use.

        Raises:
            ConfigError: For an unknown type, or one whose module cannot be imported.
        """
        return self.provider_type(type_name).factory

    def webhooks(self, type_name: str) -> Webhooks | None:
        """The webhooks a type declares, or None when it has none.

        Raises:
            ConfigError: For an unknown type, or one whose module cannot be imported.
        """
        return self.provider_type(type_name).webhooks

    def provider_type(self, type_name: str) -> ProviderType:
        """A type's factory and webhooks, imported on first use.

        Raises:
            ConfigError: For an unknown type, or one whose module cannot be imported.
        """
        target: Entry | None = self._types.get(type_name)
        if target is None and self._entry_points:
            for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
                if ep.name == type_name:
                    target = ep.value
                    break
        if target is None:
            raise ConfigError(
                f"unknown provider type {type_name!r}",
                key="type",
                hint="known types: " + ", ".join(self.types()),
            )
        if isinstance(target, str):
            try:
                loaded = _import(target)
            except (ImportError, AttributeError) as exc:
                raise ConfigError(
                    f"provider type {type_name!r} cannot be loaded from {target}: {exc}",
                    key="type",
                    hint="install the package that provides it",
                ) from None
            if not isinstance(loaded, ProviderType) and not callable(loaded):
                raise ConfigError(
                    f"{target} is neither a ProviderType nor callable",
                    key="type",
                    hint="name the package's ProviderType or its factory function",
                )
            target = loaded if isinstance(loaded, ProviderType) else ProviderType(factory=loaded)
            self._types[type_name] = target
        if isinstance(target, ProviderType):
            return target
        return ProviderType(factory=target)

    def create(
        self, name: str, settings: Mapping[str, Any], env: Mapping[str, str] | None = None
    ) -> Provider:
        """Build provider ``name`` from its settings (``type`` picks the factory).

        The prices in the table (``price``, ``prices``, ``currency``) are not the
        adapter's: they are left out of what its factory receives (see `load_prices`).

        Raises:
            ConfigError: A missing or unknown type, a wrong setting, a missing secret.
        """
        settings = adapter_settings(settings)
        type_name = settings.get("type")
        if not isinstance(type_name, str):
            raise ConfigError("no type", key=f"providers.{name}.type", hint='e.g. type = "alibaba"')
        try:
            factory = self.factory(type_name)
        except ConfigError as exc:
            raise exc.under(f"providers.{name}.type") from None
        return factory(name, settings, os.environ if env is None else env)


#: The default registry: the built-in types, and entry points.
REGISTRY = Registry(_BUILT_IN)


def load_providers(
    providers: Mapping[str, Mapping[str, Any]],
    env: Mapping[str, str] | None = None,
    *,
    registry: Registry = REGISTRY,
) -> dict[str, Provider]:
    """Every provider of a ``[providers]`` table, by name.

    Args:
        providers: The ``providers`` table of ``msgkit.toml`` (``{name: settings}``).
        env: Where secrets are read; the process environment by default.
        registry: The types known.

    Raises:
        ConfigError: Naming the provider and setting at fault, or the missing variable.
    """
    if not isinstance(providers, Mapping):
        raise ConfigError(
            f"providers must be a table of named providers, not a {type(providers).__name__}",
            key="providers",
            hint='write e.g. [providers.sms] with type = "twilio" and its settings',
        )
    for name, settings in providers.items():
        if not isinstance(settings, Mapping):
            raise ConfigError(
                f"provider {name!r} must be a table of settings, not a {type(settings).__name__}",
                key=f"providers.{name}",
                hint=f'write [providers.{name}] with type = "..." and its settings',
            )
    return {name: registry.create(name, settings, env) for name, settings in providers.items()}


def load_prices(providers: Mapping[str, Mapping[str, Any]]) -> dict[str, Prices]:
    """The prices of a ``[providers]`` table, by provider name (those that give some).

    A provider's table gives ``price`` (the default, per SMS part for SMS, per message
    otherwise), ``currency``, and a ``prices`` table by destination region code.

    Raises:
        ConfigError: Naming the key at fault (``providers.sms.prices.TW``) for a price
            that is not a non-negative number or a key that is not a region code.
    """
    found = {
        name: Prices.from_settings(settings, key=f"providers.{name}")
        for name, settings in providers.items()
    }
    return {name: prices for name, prices in found.items() if prices is not None}
