"""What one recipient would see: a rendered message, for a notebook or a terminal.

`MessagePreview` is built from a planned `Message` (``Client.preview_message``). Its
``_repr_html_`` draws what the channel shows: the SMS parts with their count and
encoding, a LINE bubble, or the web-chat widget under the agent's name. Every piece of
text is escaped (a recipient's data may hold markup) and the phone number is masked.

Example:
    >>> from msgkit.core.message import Message
    >>> preview = MessagePreview.of(
    ...     Message(id="m" * 16, channel="sms", to="+886912345678", text="Hi <Amy>")
    ... )
    >>> print(preview)
    SMS to +8869****5678: 1 part, GSM-7
    Hi <Amy>
    >>> "&lt;Amy&gt;" in preview._repr_html_()
    True
"""

from __future__ import annotations

import attrs

from msgkit.core import html
from msgkit.core.contacts import mask
from msgkit.core.delivery import Channel
from msgkit.core.message import Message
from msgkit.core.sms import Scheme, SmsLength, measure

__all__ = ["MessagePreview"]


def _masked(address: str) -> str:
    return mask(address) if address.startswith("+") else address


@attrs.frozen(kw_only=True)
class MessagePreview:
    """A rendered message as its recipient would see it.

    Attributes:
        channel: SMS, LINE or web chat.
        to: The recipient, masked when it is a phone number.
        sender: The SMS signature or number, LINE account or web-chat agent, if any.
        text: The rendered text, short links included.
        length: For SMS, its measurement (parts, encoding); None for other channels.
        fallback: The preview of the fallback message, when the campaign has one.
    """

    channel: Channel
    to: str
    sender: str | None = None
    text: str
    length: SmsLength | None = None
    fallback: MessagePreview | None = None

    @classmethod
    def of(
        cls,
        message: Message,
        *,
        scheme: Scheme = "gsm",
        fallback: MessagePreview | None = None,
    ) -> MessagePreview:
        """The preview of a planned message; SMS is measured in ``scheme`` (in ``"cn"``
        the sender is the signature and counts in the length)."""
        length = None
        if message.channel is Channel.SMS:
            signature = message.sender if scheme == "cn" else None
            length = measure(message.text, scheme=scheme, signature=signature)
        return cls(
            channel=message.channel,
            to=_masked(message.to),
            sender=message.sender,
            text=message.text,
            length=length,
            fallback=fallback,
        )

    def __str__(self) -> str:
        head = f"{self._label()} to {self.to}"
        if self.sender:
            head += f" from {self.sender}"
        if self.length is not None:
            parts = self.length.segments
            head += f": {parts} part{'s' if parts != 1 else ''}, {self.length.encoding}"
        lines = [head, self.text]
        if self.fallback is not None:
            lines += ["fallback:", str(self.fallback)]
        return "\n".join(lines)

    def _label(self) -> str:
        return {Channel.SMS: "SMS", Channel.LINE: "LINE"}.get(self.channel, "Web chat")

    def _repr_html_(self) -> str:
        """The message drawn as its channel shows it."""
        if self.channel is Channel.SMS:
            body = self._sms_html()
        elif self.channel is Channel.LINE:
            body = self._line_html()
        else:
            body = self._webchat_html()
        head = f"<div><b>{html.text(self._label())}</b> to {html.text(self.to)}</div>"
        out = f'<div class="msgkit-preview">{head}{body}</div>'
        if self.fallback is not None:
            out += f"<div><i>fallback</i></div>{self.fallback._repr_html_()}"
        return out

    def _sms_html(self) -> str:
        assert self.length is not None
        length = self.length
        count = length.segments
        parts = "".join(
            '<div style="border:1px solid #ccc;border-radius:8px;padding:6px;margin:4px 0;'
            f'white-space:pre-wrap">{html.text(part)}'
            f'<div style="color:#888;font-size:80%">part {i} of {count}, {units} units</div>'
            "</div>"
            for i, (part, units) in enumerate(zip(length.parts, length.part_units, strict=True), 1)
        )
        summary = (
            f"<div>{count} part{'s' if count != 1 else ''}, {html.text(length.encoding)}, "
            f"{length.units} units</div>"
        )
        if length.unicode_chars:
            chars = " ".join(length.unicode_chars)
            summary += f"<div>UCS-2 because of: {html.text(chars)}</div>"
        sender = f"<div>from {html.text(self.sender)}</div>" if self.sender else ""
        return sender + summary + parts

    def _line_html(self) -> str:
        account = f"<div><b>{html.text(self.sender)}</b></div>" if self.sender else ""
        return (
            f'<div style="background:#8cabd9;padding:8px;border-radius:8px;max-width:24em">'
            f"{account}"
            '<div style="background:#fff;border-radius:16px;padding:8px 12px;'
            f'white-space:pre-wrap">{html.text(self.text)}</div></div>'
        )

    def _webchat_html(self) -> str:
        agent = html.text(self.sender or "Agent")
        return (
            '<div style="border:1px solid #ccc;border-radius:8px;max-width:24em">'
            f'<div style="background:#1f93ff;color:#fff;padding:6px 10px">{agent}</div>'
            '<div style="padding:8px"><div style="background:#f1f1f1;border-radius:12px;'
            f'padding:6px 10px;white-space:pre-wrap">{html.text(self.text)}</div></div></div>'
        )
