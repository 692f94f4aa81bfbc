"""Provider adapters: sans-IO request builders and response parsers, one package each
(``adapter.py``, ``settings.py``, and ``webhooks.py`` for those the service calls back).

See `msgkit.providers.base` for the protocol every adapter implements,
`msgkit.providers.webhooks` for how a provider declares its webhooks, and
`msgkit.providers.registry` for how a type is registered.
"""

from msgkit.providers.logs import install as _install_log_filter

_install_log_filter()  # no secret or number in httpx's request log lines
