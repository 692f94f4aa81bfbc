"""Webhook bodies as the providers document them, shared by the inbound tests."""

from __future__ import annotations

#: As in Alibaba's SmsReport documentation, with an extra field the parser must accept.
REPORT = [
    {
        "phone_number": "13800138000",
        "send_time": "2026-03-01 12:00:00",
        "report_time": "2026-03-01 12:00:05",
        "success": True,
        "err_code": "DELIVERED",
        "err_msg": "用户接收成功",
        "sms_size": "1",
        "biz_id": "900619746936498440^0",
        "out_id": "msg-0000000000000001",
        "new_field": {"anything": 1},
    },
    {
        "phone_number": "85251234567",
        "send_time": "2026-03-01 12:00:00",
        "report_time": "2026-03-01 12:01:00",
        "success": "false",
        "err_code": "MK:0001",
        "err_msg": "用户不存在",
        "sms_size": 2,
        "biz_id": 900619746936498441,
        "out_id": "b.msg-0000000000000002",
    },
]


LINE_WEBHOOK = {
    "destination": "U0123",
    "events": [
        {
            "type": "delivery",
            "delivery": {"data": "line-0000000000000001"},
            "webhookEventId": "01H...",
            "deliveryContext": {"isRedelivery": False},
            "timestamp": 1772337600000,
            "mode": "active",
        },
        {"type": "message", "message": {"type": "text", "text": "hi"}, "timestamp": 1},
        {"type": "follow", "timestamp": 1},
        {"type": "delivery", "delivery": {}},
    ],
}


CHATWOOT = {
    "event": "message_created",
    "id": 1234,
    "content": "No more messages please 🙏",
    "created_at": "2026-03-01T04:00:00.000Z",
    "message_type": "incoming",
    "content_type": "text",
    "private": False,
    "sender": {"id": 42, "name": "Amy", "phone_number": "+886912345678", "type": "contact"},
    "conversation": {"id": 77, "inbox_id": 3, "status": "open"},
    "inbox": {"id": 3, "name": "Website"},
    "account": {"id": 7, "name": "Shop"},
}
