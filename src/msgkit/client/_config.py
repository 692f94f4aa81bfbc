"""From the configuration (``msgkit.toml``, or what is given to `Client`) to the parts
of a client: its providers, their prices, the dispatcher's settings."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs

from msgkit.client._inprocess import in_process
from msgkit.core.contacts import PhoneCipher
from msgkit.core.durations import parse_duration
from msgkit.core.pricing import Prices
from msgkit.engine.clock import Clock
from msgkit.engine.dispatcher import DispatcherSettings
from msgkit.exceptions import ConfigError
from msgkit.providers.base import Provider
from msgkit.providers.registry import load_prices, load_providers

if sys.version_info >= (3, 11):  # pragma: no cover - depends on the interpreter
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = [
    "PHONE_KEY_ENV",
    "dispatcher_settings",
    "load_config",
    "make_prices",
    "make_providers",
    "phone_cipher",
]

#: The environment variable the phone key is read from (``phone_key_env`` in
#: ``msgkit.toml`` names another).
PHONE_KEY_ENV = "MSGKIT_PHONE_KEY"

#: Providers as `Client` takes them: adapters, or their ``msgkit.toml`` settings.
GivenProviders = Mapping[str, Provider | Mapping[str, Any]]


def load_config(path: str | Path) -> dict[str, Any]:
    """Read ``msgkit.toml``.

    Raises:
        ConfigError: When the file is missing or is not valid TOML (with the line).
    """
    file = Path(path)
    try:
        with file.open("rb") as handle:
            return dict(tomllib.load(handle))
    except FileNotFoundError:
        raise ConfigError(
            f"no configuration file {file}",
            key="config",
            hint="create msgkit.toml (see the docs) or pass --config PATH",
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file} is not valid TOML: {exc}", key="config") from None


def make_providers(
    given: GivenProviders | None,
    cfg: Mapping[str, Any],
    env: Mapping[str, str] | None,
    clock: Clock,
) -> dict[str, Provider]:
    """The client's providers: those given, else those of the configuration, else one
    in-process simulator named ``simulator`` (on the client's clock).

    Raises:
        ConfigError: A provider registered under another name than its own, or a
            wrong setting (naming it).
    """
    if given is not None and not isinstance(given, Mapping):
        raise ConfigError(
            f"providers must map names to adapters or settings, not a {type(given).__name__}",
            key="providers",
            hint='e.g. Client(providers={"sms": TwilioProvider(...)})',
        )
    if given is None:
        table = cfg.get("providers") or {}
        if not table:
            # The testing layer is loaded only when a client runs on the default.
            from msgkit.testing.simulator import SimulatorProvider, SimulatorServer  # noqa: PLC0415

            server = SimulatorServer(clock=clock.now)
            return {"simulator": SimulatorProvider("simulator", server=server)}
        return load_providers(table, env)
    built: dict[str, Provider] = {}
    settings = {n: p for n, p in given.items() if isinstance(p, Mapping)}
    if settings:
        built.update(load_providers(settings, env))
    for name, provider in given.items():
        if not isinstance(provider, Mapping):
            if provider.name != name:
                raise ConfigError(
                    f"provider {provider.name!r} is registered as {name!r}",
                    key="providers",
                    hint="use the same name in both places",
                )
            built[name] = provider
    return {name: built[name] for name in given}


def make_prices(
    given: GivenProviders | None,
    cfg: Mapping[str, Any],
    explicit: Mapping[str, Prices | Mapping[str, Any] | Decimal | float | str] | None,
    providers: Mapping[str, Provider],
) -> dict[str, Prices]:
    """The prices by provider name: those of the provider settings, then ``explicit``.

    Raises:
        ConfigError: A price for a provider that is not configured, or not a price.
    """
    if given is None:
        table: Mapping[str, Any] = cfg.get("providers") or {}
    else:
        table = {n: p for n, p in given.items() if isinstance(p, Mapping)}
    prices = load_prices(table)
    for name, value in (explicit or {}).items():
        if name not in providers:
            raise ConfigError(
                f"no provider named {name!r} is configured",
                key=f"prices.{name}",
                hint="configured: " + ", ".join(sorted(providers)),
            )
        prices[name] = Prices.parse(value, key=f"prices.{name}")
    return prices


def dispatcher_settings(
    cfg: Mapping[str, Any], providers: Mapping[str, Provider]
) -> DispatcherSettings:
    """The ``[engine]`` settings; the receipts of in-process providers are polled, every
    second (they answer at once, unlike a real provider).

    Durations are written ``"30s"``, ``"5m"``, ``"2h"`` or as seconds.

    Raises:
        ConfigError: An unknown ``[engine]`` setting, or a wrong value (naming its key).
    """
    engine = _engine_values(dict(cfg.get("engine") or {}))
    polled = set(in_process(providers))
    engine.setdefault("poll_receipts", sorted(polled | set(engine.get("poll_receipts", ()))))
    if polled:
        engine.setdefault("poll_after", timedelta(seconds=1))
        engine.setdefault("poll_every", timedelta(seconds=1))
    try:
        return DispatcherSettings(**engine)
    except TypeError as exc:
        raise ConfigError(
            str(exc), key="engine", hint="see DispatcherSettings for the [engine] settings"
        ) from None


#: ``[engine]`` durations that must be more than zero: a zero lease hands a message being
#: sent to another worker; a zero poll, period or timeout spins or gives up at once.
_POSITIVE = frozenset(
    {"lease", "idle_poll", "housekeeping_every", "request_timeout", "reconcile_every", "poll_every"}
)


def _engine_values(engine: dict[str, Any]) -> dict[str, Any]:
    """The ``[engine]`` values as `DispatcherSettings` takes them: durations parsed,
    counts checked; a wrong one is a ConfigError naming ``engine.KEY``."""
    fields = {f.name: f for f in attrs.fields(DispatcherSettings)}
    for name, value in engine.items():
        field = fields.get(name)
        if field is None:
            raise ConfigError(
                f"unknown [engine] setting {name!r}",
                key=f"engine.{name}",
                hint="known: " + ", ".join(sorted(fields)),
            )
        try:
            if field.type in ("timedelta", timedelta, "float", float):
                duration = parse_duration(value)
                if name in _POSITIVE and duration <= timedelta(0):
                    raise ValueError(f"{value!r} is not a duration of more than 0")
                as_float = field.type in ("float", float)
                engine[name] = duration.total_seconds() if as_float else duration
            elif field.type in ("int", int) and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
                raise ValueError(f"{value!r} is not a whole number of at least 1")
        except (TypeError, ValueError) as exc:
            raise ConfigError(
                str(exc), key=f"engine.{name}", hint="fix it in msgkit.toml"
            ) from None
    return engine


def phone_cipher(
    given: PhoneCipher | str | bytes | None,
    cfg: Mapping[str, Any],
    env: Mapping[str, str] | None,
) -> PhoneCipher | None:
    """The key phone numbers are encrypted at rest with: the one given, else the one in
    the environment variable ``phone_key_env`` names (default ``MSGKIT_PHONE_KEY``),
    else none (numbers are stored as they are).

    Raises:
        ConfigError: A key that is not URL-safe base64 of 16, 24 or 32 bytes (naming
            where it came from, never echoing it), or a key written in the
            configuration itself.
    """
    if "phone_key" in cfg:
        raise ConfigError(
            "a phone key is never read from the configuration file",
            key="phone_key",
            hint=f"remove it from msgkit.toml (and rotate it); set {PHONE_KEY_ENV} in the "
            'environment, or name another variable with phone_key_env = "NAME"',
        )
    name = cfg.get("phone_key_env", PHONE_KEY_ENV)
    if not isinstance(name, str) or not name:
        raise ConfigError(
            "phone_key_env must name an environment variable",
            key="phone_key_env",
            hint=f'e.g. phone_key_env = "{PHONE_KEY_ENV}"',
        )
    if isinstance(given, PhoneCipher):
        return given
    source = "phone_key"
    if given is None:
        given = ((os.environ if env is None else env).get(name) or "").strip() or None
        source = name
    if given is None:
        return None
    try:
        return PhoneCipher(given)
    except ConfigError as exc:
        raise ConfigError(
            f"not a valid phone key: {exc.message}",
            key=source,
            hint="make one with `msgkit phone-key` (PhoneCipher.new_key()): URL-safe base64 "
            "of 32 random bytes",
        ) from None
