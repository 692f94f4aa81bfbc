"""Phone numbers and contacts: ``msgkit.contacts.parse_phone(raw, region)``.

See `msgkit.core.contacts` for the details.
"""

from msgkit.core.contacts import (
    Contact,
    Phone,
    PhoneCipher,
    PhoneErrorReason,
    line_hash,
    mask,
    parse_phone,
)

__all__ = [
    "Contact",
    "Phone",
    "PhoneCipher",
    "PhoneErrorReason",
    "line_hash",
    "mask",
    "parse_phone",
]
