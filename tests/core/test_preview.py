"""MessagePreview draws each channel's message, escaped and masked."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from msgkit.core.message import Message
from msgkit.core.preview import MessagePreview
from msgkit.core.sms import measure


def _message(text: str, channel: str = "sms", sender: str | None = None) -> Message:
    return Message(id="m" * 16, channel=channel, to="+886912345678", text=text, sender=sender)


@given(st.text(min_size=1, max_size=400))
def test_an_sms_preview_has_measures_parts(text: str) -> None:
    """An SMS preview shows as many parts as measure counts, and never raw markup."""
    preview = MessagePreview.of(_message(text))
    assert preview.length == measure(text)
    page = preview._repr_html_()
    count = len(measure(text).parts)
    assert f"part {count} of {count}," in page
    assert "912345678" not in page


def test_cn_scheme_counts_the_signature() -> None:
    """In scheme cn the sender is the signature and counts in the length."""
    preview = MessagePreview.of(_message("您好", sender="华为云"), scheme="cn")
    assert preview.length == measure("您好", scheme="cn", signature="华为云")


def test_line_and_webchat_previews_name_the_sender() -> None:
    """A LINE bubble names the account; the web-chat widget the agent."""
    line = MessagePreview.of(_message("Hi", "line", "Shop <1>"))._repr_html_()
    chat = MessagePreview.of(_message("Hi", "webchat", "Mia"))._repr_html_()
    assert "Shop &lt;1&gt;" in line
    assert "Mia" in chat
    assert line != chat
