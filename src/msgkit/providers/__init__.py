"""Provider adapters: sans-IO request builders and response parsers, one module each.

See `msgkit.providers.base` for the protocol every adapter implements.
"""
