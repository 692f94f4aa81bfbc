"""What each kind of platform allows in templates, as data (`ContentRules`).

The platform table, as the field knows it and the adapters declare it:

| | promotional: variables | short link | short param | notification: all |
|---|---|---|---|---|
| Alibaba Cloud SMS (standard account) | no | yes | no | yes |
| Alibaba Cloud SMS (cleared for more) | yes | yes | yes | yes |
| third-party SMS (Twilio, HTTP gateway) | yes | yes | yes | yes |

Multimedia ("digital") SMS is Alibaba's only, its template approved by the carriers
first; its content is fixed at review, so it takes no variables and no per-recipient
parameters (and its images are part of the approved template: a template's ``media``
is refused). Alibaba promotional templates must end with ``拒收请回复R`` (notification
ones must not contain it), a template of variables only is refused, and every template
is reviewed before use. LINE notification messages carry no advertising: they take
notification templates only. Web chat allows everything.
"""

from __future__ import annotations

from msgkit.core.templates import ContentRules, KindRules, TemplateKind

__all__ = [
    "ALIBABA_UNSUBSCRIBE",
    "LINE",
    "THIRD_PARTY_SMS",
    "WEBCHAT",
    "alibaba",
]

#: The unsubscribe instruction every Alibaba promotional template must end with.
ALIBABA_UNSUBSCRIBE = "拒收请回复R"

_ALL = KindRules()


def alibaba(*, standard_account: bool = True) -> ContentRules:
    """Alibaba Cloud SMS rules.

    Args:
        standard_account: A standard account may not put variables or per-recipient
            link parameters in promotional templates; accounts cleared by Alibaba for
            them pass False.
    """
    promotional = KindRules(
        variables=not standard_account,
        short_links=True,
        short_params=not standard_account,
    )
    return ContentRules(
        kinds={
            TemplateKind.NOTIFICATION: _ALL,
            TemplateKind.PROMOTIONAL: promotional,
            TemplateKind.MULTIMEDIA: KindRules(variables=False, short_params=False),
        },
        promotional_suffix=ALIBABA_UNSUBSCRIBE,
        variables_only=False,
        max_length=500,
        review=True,
        media=False,
    )


#: Third-party SMS platforms: every kind but multimedia, everything allowed.
THIRD_PARTY_SMS = ContentRules(
    kinds={TemplateKind.NOTIFICATION: _ALL, TemplateKind.PROMOTIONAL: _ALL},
)

#: LINE notification messages: notifications only, no advertising.
LINE = ContentRules(kinds={TemplateKind.NOTIFICATION: _ALL}, max_length=5000)

#: Web chat: notifications and promotions, everything allowed.
WEBCHAT = ContentRules(
    kinds={TemplateKind.NOTIFICATION: _ALL, TemplateKind.PROMOTIONAL: _ALL},
)
