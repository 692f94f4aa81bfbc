"""Preview what a campaign message costs for a few recipients.

Run: python examples/preview_a_message.py
"""

from __future__ import annotations

import msgkit
from msgkit.contacts import parse_phone

template = msgkit.Template(
    body="Hi ${name:-there}, your order ${order} ships today. Track it: ${link:track}",
    links={"track": "https://shop.example.com/track"},
)
rows = [
    {"phone": "0912 345 678", "name": "Amy", "order": "A-1001"},
    {"phone": "0933-222-111", "name": "", "order": "A-1002"},
    {"phone": "0955 123 456", "name": "Zoë “Z” Chen", "order": "A-1003"},
]

for row in rows:
    phone = parse_phone(row["phone"], "TW")
    text = template.render(row, links={"track": "https://s.example/t/Ab3xY9"})
    length = msgkit.sms.measure(text, smart=True)
    print(f"{phone.masked}  {length.encoding}  {length.segments} part(s)  {text}")
