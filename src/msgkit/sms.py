"""SMS length and cost: ``msgkit.sms.measure(text)``.

See `msgkit.core.sms` for the counting rules.
"""

from msgkit.core.sms import CN_MAX_CHARS, SmsLength, is_gsm7, measure

__all__ = ["CN_MAX_CHARS", "SmsLength", "is_gsm7", "measure"]
