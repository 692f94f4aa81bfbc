"""An Alibaba Cloud SMS notification whose template must be reviewed first.

Alibaba sends only templates it has approved. The simulator here applies Alibaba's
content rules (`msgkit.providers.content.alibaba`): starting the campaign with a
template still under review is refused with what to do; once approved, it goes.
With a real account, configure ``type = "alibaba"`` in ``msgkit.toml`` instead.

Run: python examples/alibaba_notification_with_review.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import msgkit
from msgkit.providers.content import alibaba
from msgkit.testing import FakeClock, Simulator, SimulatorProvider

clock = FakeClock()
gateway = Simulator(clock=clock.now)
sms = SimulatorProvider("aliyun", server=gateway, content=alibaba(), scheme="cn", sender="阿里云")

with (
    tempfile.TemporaryDirectory() as folder,
    msgkit.Client(
        store=f"sqlite:///{Path(folder) / 'msgkit.db'}", providers={"aliyun": sms}, clock=clock
    ) as client,
):
    members = client.create_list(
        "orders", [msgkit.Contact(phone="+8613800138000", attributes={"code": "4821"})]
    )
    template = msgkit.Template(
        body="您的验证码为${code}，5分钟内有效。", kind="notification", code="SMS_15305"
    ).reviewed("submit")
    print(f"template {template.code}: {template.review.value}")
    campaign = client.create_campaign("Verification", template, audience=members, sender="阿里云")
    try:
        client.start(campaign)
    except msgkit.MsgkitError as error:
        print(f"refused: {error}")

    # Alibaba approved the template: record it and start again.
    client.edit(campaign, template=template.reviewed("approve"))
    print(client.preview_message(campaign))
    client.start(campaign)
    client.run(progress=False)
    for message in gateway.messages.values():
        print(f"sent to {msgkit.contacts.mask(message.to)}: {message.text}")
