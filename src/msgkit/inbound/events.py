"""What arrives from providers and people, as typed events: `DeliveryReceipt`, `Reply`,
`Click` (defined in `msgkit.core.events`, below the providers whose webhooks make them).
"""

from __future__ import annotations

from msgkit.core.events import Click, DeliveryReceipt, ReceiptState, Reply

__all__ = ["Click", "DeliveryReceipt", "ReceiptState", "Reply"]
