"""Message templates: variables, link placeholders, kinds, review, channel rules.

Syntax of a template body:

- ``${name}`` is a variable; ``${name:-text}`` uses ``text`` when the value is missing
  or empty. Names are letters, digits and underscores, not starting with a digit
  (letters of any script).
- ``${link:name}`` is a link placeholder for the target URL ``links[name]``; a campaign
  turns it into a short link, with a per-recipient tracking parameter where allowed.
- A URL written out in the text (``https://...``) is a link too, named ``url1``,
  ``url2``, ... in order, unless a variable follows it directly (a URL built from
  variables is left as it is).
- ``$${`` writes a literal ``${``.

A `Template` is immutable. Editing one gives a new version that must be reviewed again
(`Template.edit`); the platform review is its own small lifecycle (`REVIEW`).
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from enum import Enum
from typing import Any

import attrs

from msgkit.core._fsm import TransitionTable
from msgkit.exceptions import (
    MissingVariableError,
    NotAllowedError,
    TemplateError,
    TemplateSyntaxError,
    UnknownVariableError,
)

__all__ = [
    "REVIEW",
    "ContentRules",
    "KindRules",
    "Link",
    "ReviewEvent",
    "ReviewStatus",
    "Template",
    "TemplateKind",
    "Variable",
    "check_variables",
    "closest_variable",
    "unknown_variables",
]


class TemplateKind(str, Enum):
    """What a template is for; platforms treat the kinds differently."""

    NOTIFICATION = "notification"
    PROMOTIONAL = "promotional"
    MULTIMEDIA = "multimedia"


class ReviewStatus(str, Enum):
    """Where a template stands in a platform's review."""

    DRAFT = "draft"
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class ReviewEvent(str, Enum):
    """What can happen to a template under review."""

    SUBMIT = "submit"
    WITHDRAW = "withdraw"
    APPROVE = "approve"
    REJECT = "reject"


#: The review lifecycle. A rejected or approved template is final: edit it to get a
#: new version, which starts again as a draft.
REVIEW: TransitionTable[ReviewStatus, ReviewEvent] = TransitionTable(
    lifecycle="template review",
    initial=ReviewStatus.DRAFT,
    table={
        (ReviewStatus.DRAFT, ReviewEvent.SUBMIT): ReviewStatus.PENDING,
        (ReviewStatus.PENDING, ReviewEvent.WITHDRAW): ReviewStatus.DRAFT,
        (ReviewStatus.PENDING, ReviewEvent.APPROVE): ReviewStatus.APPROVED,
        (ReviewStatus.PENDING, ReviewEvent.REJECT): ReviewStatus.REJECTED,
    },
)


@attrs.frozen
class Variable:
    """A ``${name}`` in a template, with its default when one is written."""

    name: str
    default: str | None = None


@attrs.frozen
class Link:
    """A link in a template.

    Attributes:
        name: ``links`` key of a ``${link:name}``, or ``url1``, ``url2``... for a URL
            written out in the text.
        url: The target URL.
        explicit: Whether it was written as a ``${link:...}`` placeholder.
    """

    name: str
    url: str
    explicit: bool = True


_Token = str | Variable | Link

_NAME = r"[^\W\d]\w*"
_PLACEHOLDER = re.compile(
    rf"\$\{{(?:link:(?P<link>{_NAME})|(?P<var>{_NAME})(?::-(?P<default>[^}}]*))?)\}}"
)
_URL = re.compile(r"https?://[^\s<>\"'，。、！？）】」]+", re.IGNORECASE)
_URL_TRAILING = ".,;:!?)]}'\""


def _split_urls(text: str, followed_by_variable: bool, counter: list[int]) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    matches = list(_URL.finditer(text))
    for i, match in enumerate(matches):
        url = match.group(0).rstrip(_URL_TRAILING)
        end = match.start() + len(url)
        if followed_by_variable and i == len(matches) - 1 and end == len(text):
            continue  # a URL finished by a variable: not a fixed link
        tokens.append(text[pos : match.start()])
        counter[0] += 1
        tokens.append(Link(f"url{counter[0]}", url, explicit=False))
        pos = end
    tokens.append(text[pos:])
    return [t for t in tokens if t != ""]


def _parse(body: str, links: Mapping[str, str]) -> tuple[_Token, ...]:
    raw: list[_Token] = []
    literal: list[str] = []
    i = 0
    while i < len(body):
        if body.startswith("$${", i):
            literal.append("${")
            i += 3
            continue
        if body.startswith("${", i):
            match = _PLACEHOLDER.match(body, i)
            if match is None:
                close = body.find("}", i)
                if close == -1:
                    raise TemplateSyntaxError(
                        f"'${{' at position {i} is never closed",
                        position=i,
                        hint="close it with '}', or write '$${' for a literal '${'",
                    )
                raise TemplateSyntaxError(
                    f"{body[i : close + 1]!r} at position {i} is not a valid placeholder",
                    position=i,
                    hint="use ${name}, ${name:-default} or ${link:name}; names are letters, "
                    "digits and underscores and do not start with a digit",
                )
            if literal:
                raw.append("".join(literal))
                literal = []
            if match.group("link"):
                name = match.group("link")
                if name not in links:
                    known = ", ".join(sorted(links)) or "(none)"
                    raise TemplateSyntaxError(
                        f"${{link:{name}}} has no target URL",
                        position=i,
                        hint=f"pass links={{{name!r}: 'https://...'}}; links given: {known}",
                    )
                raw.append(Link(name, links[name]))
            else:
                raw.append(Variable(match.group("var"), match.group("default")))
            i = match.end()
            continue
        literal.append(body[i])
        i += 1
    if literal:
        raw.append("".join(literal))

    tokens: list[_Token] = []
    counter = [0]
    for index, token in enumerate(raw):
        if isinstance(token, str):
            nxt = raw[index + 1] if index + 1 < len(raw) else None
            tokens.extend(_split_urls(token, isinstance(nxt, Variable), counter))
        else:
            tokens.append(token)
    return tuple(tokens)


def _stringify(value: object) -> str:
    return value if isinstance(value, str) else str(value)


LinkRenderer = Callable[[Link], str]


def _str_map(value: Mapping[str, str]) -> dict[str, str]:
    return dict(value)


_MEDIA_URL = re.compile(r"https?://[^\s/]+/?\S*", re.IGNORECASE)


def _media(value: str | Iterable[str]) -> tuple[str, ...]:
    """Media URLs as a tuple; each must be a public ``http(s)://`` URL."""
    urls = (value,) if isinstance(value, str) else tuple(value)
    for index, url in enumerate(urls):
        if not isinstance(url, str) or not _MEDIA_URL.fullmatch(url):
            raise TemplateError(
                f"media[{index}] is {url!r}, not an http(s) URL",
                hint="give the public URL of each image, e.g. "
                'media=("https://example.com/spring.png",)',
            )
    return urls


def _options(value: Mapping[str, Any]) -> dict[str, Any]:
    """Provider options as a plain dict: text keys, JSON values (they are stored)."""
    if not isinstance(value, Mapping):
        raise TemplateError(
            f"options is {type(value).__name__}, not a mapping",
            hint='give a dict of provider options, e.g. options={"extend_code": "01"}',
        )
    for key, item in value.items():
        if not isinstance(key, str):
            raise TemplateError(
                f"options key {key!r} is not a string",
                hint="name each provider option by a string, as the adapter documents it",
            )
        try:
            json.dumps(item)
        except (TypeError, ValueError):
            raise TemplateError(
                f"options[{key!r}] is a {type(item).__name__}, which cannot be stored",
                hint="give JSON values (str, int, float, bool, None, lists and dicts of them)",
            ) from None
    return dict(value)


@attrs.frozen(kw_only=True)
class KindRules:
    """What a channel allows in templates of one kind.

    Attributes:
        variables: ``${name}`` variables.
        short_links: Short links.
        short_params: Per-recipient tracking parameters on short links.
    """

    variables: bool = True
    short_links: bool = True
    short_params: bool = True


@attrs.frozen(kw_only=True)
class ContentRules:
    """What a channel allows in templates, as data.

    Attributes:
        kinds: The template kinds the channel supports and what each allows; a kind
            missing here is not supported at all.
        promotional_suffix: Text every promotional template must end with (the
            unsubscribe instruction, e.g. ``"拒收请回复R"``); notification templates
            must not contain it.
        variables_only: Whether a template made only of variables is accepted.
        max_length: The longest template body accepted, in characters.
        review: Whether templates must be approved by the platform before use.
        media: Whether messages may carry media (images) given with the template.
    """

    kinds: Mapping[TemplateKind, KindRules] = attrs.field(
        factory=lambda: {kind: KindRules() for kind in TemplateKind}
    )
    promotional_suffix: str | None = None
    variables_only: bool = True
    max_length: int | None = None
    review: bool = False
    media: bool = True


@attrs.frozen(kw_only=True)
class Template:
    """A message template.

    Attributes:
        body: The text, with ``${...}`` placeholders.
        kind: Notification, promotional or multimedia.
        name: A label for people.
        code: The platform's id for the approved template (e.g. ``"SMS_15305"``).
        links: Target URLs of ``${link:name}`` placeholders.
        media: Image (or other media) URLs every message of the template carries: an
            MMS picture (Twilio, HTTP gateways), a LINE image, a web chat attachment.
            One URL or a sequence of them; each must be ``http(s)://``.
        options: Provider options every message of the template carries to its adapter,
            as the adapter documents them: LINE's ``flex`` / ``alt_text`` /
            ``preview_url`` / ``line_messages``, Alibaba's ``extend_code``, Chatwoot's
            ``inbox_id`` / ``assignee_id`` / ``team_id``... Keys are strings, values
            JSON (they are stored with the campaign and each message).
        review: The platform review status.
        review_reason: Why the platform rejected it, when it did.
        version: Increased by every `edit`.

    Example:
        >>> t = Template(body="Hi ${name}, your code is ${code}")
        >>> t.variables
        ('name', 'code')
        >>> t.render({"name": "Amy", "code": 42})
        'Hi Amy, your code is 42'
    """

    body: str
    kind: TemplateKind = attrs.field(default=TemplateKind.NOTIFICATION, converter=TemplateKind)
    name: str | None = None
    code: str | None = None
    links: Mapping[str, str] = attrs.field(factory=dict, converter=_str_map)
    media: tuple[str, ...] = attrs.field(default=(), converter=_media)
    options: Mapping[str, Any] = attrs.field(factory=dict, converter=_options)
    review: ReviewStatus = attrs.field(default=ReviewStatus.DRAFT, converter=ReviewStatus)
    review_reason: str | None = None
    version: int = 1
    tokens: tuple[_Token, ...] = attrs.field(init=False, repr=False, eq=False)

    @tokens.default
    def _tokenize(self) -> tuple[_Token, ...]:
        return _parse(self.body, self.links)

    @property
    def variables(self) -> tuple[str, ...]:
        """The variable names, in order of first use."""
        return tuple(dict.fromkeys(t.name for t in self.tokens if isinstance(t, Variable)))

    @property
    def required(self) -> tuple[str, ...]:
        """The variables that have no default."""
        defaulted = {t.name for t in self.tokens if isinstance(t, Variable) and t.default}
        return tuple(n for n in self.variables if n not in defaulted)

    @property
    def link_list(self) -> tuple[Link, ...]:
        """Every link, placeholders and written-out URLs, in order."""
        return tuple(t for t in self.tokens if isinstance(t, Link))

    @property
    def literal_text(self) -> str:
        """The text without its variables (links count as text)."""
        return "".join(
            t if isinstance(t, str) else t.url for t in self.tokens if not isinstance(t, Variable)
        )

    def resolve(self, values: Mapping[str, object], *, strict: bool = False) -> dict[str, str]:
        """The string value of every variable, defaults applied.

        This is what providers that render on their side (Alibaba's ``TemplateParam``)
        are sent.

        Args:
            values: Values by variable name; ``None`` and ``""`` count as missing for
                variables with a default, ``None`` as missing for the others.
            strict: Also refuse values for names the template does not have (typos).

        Raises:
            MissingVariableError: Naming every variable without a value.
            UnknownVariableError: With ``strict``, naming the unknown names.
        """
        resolved: dict[str, str] = {}
        missing: list[str] = []
        for token in self.tokens:
            if not isinstance(token, Variable) or token.name in resolved:
                continue
            value = values.get(token.name)
            if token.default is not None and (value is None or value == ""):
                resolved[token.name] = token.default
            elif value is None:
                missing.append(token.name)
            else:
                resolved[token.name] = _stringify(value)
        if missing:
            raise MissingVariableError(tuple(dict.fromkeys(missing)))
        if strict:
            unknown = tuple(name for name in values if name not in resolved)
            if unknown:
                raise UnknownVariableError(unknown, self.variables)
        return resolved

    def render(
        self,
        values: Mapping[str, object] | None = None,
        *,
        links: LinkRenderer | Mapping[str, str] | None = None,
        strict: bool = False,
    ) -> str:
        """Render the text for one recipient.

        Args:
            values: Values by variable name.
            links: How to write each link: a mapping from link name to text, or a
                function of the `Link`; by default the target URL itself.
            strict: Refuse values for names the template does not have.

        Raises:
            MissingVariableError: Naming every variable without a value.
            UnknownVariableError: With ``strict``.
        """
        return self.fill(self.resolve(values or {}, strict=strict), links=links)

    def fill(
        self,
        resolved: Mapping[str, str],
        *,
        links: LinkRenderer | Mapping[str, str] | None = None,
    ) -> str:
        """The text with variables already resolved (what `resolve` returned): `render`
        without resolving again (the planner resolves once, for the record's ``params``
        and the text)."""
        out: list[str] = []
        for token in self.tokens:
            if isinstance(token, str):
                out.append(token)
            elif isinstance(token, Variable):
                out.append(resolved[token.name])
            elif links is None:
                out.append(token.url)
            elif callable(links):
                out.append(links(token))
            else:
                out.append(links.get(token.name, token.url))
        return "".join(out)

    def edit(self, body: str, *, links: Mapping[str, str] | None = None) -> Template:
        """A new version with another body; it must be reviewed again."""
        return Template(
            body=body,
            kind=self.kind,
            name=self.name,
            links=self.links if links is None else links,
            media=self.media,
            options=self.options,
            version=self.version + 1,
        )

    def reviewed(self, event: ReviewEvent | str, *, reason: str | None = None) -> Template:
        """This template after a review event (submit, withdraw, approve, reject).

        Raises:
            InvalidTransitionError: For an event its review status does not allow.
        """
        status = REVIEW.next(self.review, ReviewEvent(event))
        return attrs.evolve(self, review=status, review_reason=reason)

    def review_refusal(self) -> str:
        """Why a platform that reviews templates refuses this one, and what to do."""
        must = (
            f"the template must be approved by the platform before use (it is {self.review.value}"
        )
        if self.review is ReviewStatus.REJECTED:
            why = f": {self.review_reason}" if self.review_reason else ""
            return (
                f"{must}{why}): edit the template to fix that and submit the new version for review"
            )
        if self.review is ReviewStatus.PENDING:
            return f"{must}): start the campaign once the platform approves it"
        return f"{must}): submit it for review and start the campaign once it is approved"

    def violations(self, rules: ContentRules, *, short_params: bool = False) -> tuple[str, ...]:
        """Every rule of a channel this template breaks, one sentence each.

        Args:
            rules: What the channel allows.
            short_params: Whether the campaign adds per-recipient tracking parameters
                to its short links.
        """
        found: list[str] = []
        kind_rules = rules.kinds.get(self.kind)
        if kind_rules is None:
            supported = ", ".join(k.value for k in rules.kinds) or "none"
            return (f"{self.kind.value} templates are not supported (supported: {supported})",)
        kind = self.kind.value
        if self.variables and not kind_rules.variables:
            found.append(f"{kind} templates may not contain variables ({self._names()})")
        has_links = bool(self.link_list)
        if has_links and not kind_rules.short_links:
            found.append(f"{kind} templates may not contain short links")
        if has_links and short_params and not kind_rules.short_params:
            found.append(
                f"{kind} templates may not carry per-recipient link parameters: "
                "turn them off for this campaign"
            )
        if not rules.variables_only and self.variables and not self.literal_text.strip():
            found.append("a template made only of variables is refused: add fixed text")
        suffix = rules.promotional_suffix
        if suffix:
            ends = self.body.rstrip().endswith(suffix)
            if self.kind is TemplateKind.PROMOTIONAL and not ends:
                found.append(f"promotional templates must end with {suffix!r}")
            if self.kind is TemplateKind.NOTIFICATION and suffix in self.body:
                found.append(f"notification templates must not contain {suffix!r}")
        if self.media and not rules.media:
            found.append(
                "this channel carries no media given with the template: remove its media "
                "(or use a template approved with its images)"
            )
        if rules.max_length is not None and len(self.body) > rules.max_length:
            found.append(
                f"the body has {len(self.body)} characters; at most {rules.max_length} allowed"
            )
        return tuple(found)

    def check(self, rules: ContentRules, *, short_params: bool = False) -> None:
        """Raise `NotAllowedError` listing every rule of the channel this template breaks."""
        found = self.violations(rules, short_params=short_params)
        if found:
            raise NotAllowedError(found)

    def _names(self) -> str:
        return ", ".join(f"${{{n}}}" for n in self.variables)


def unknown_variables(template: Template, available: Iterable[str]) -> tuple[str, ...]:
    """The variables of ``template`` that none of ``available`` provides (no default)."""
    have = set(available)
    return tuple(name for name in template.required if name not in have)


def closest_variable(name: str, available: Iterable[str]) -> str | None:
    """The name in ``available`` that ``name`` most likely misspells, or None.

    Example:
        >>> closest_variable("nmae", ["city", "name"])
        'name'
        >>> closest_variable("Name", ["name"]), closest_variable("zip", ["name"])
        ('name', None)
    """
    names = sorted(set(available))
    folded = {n.casefold(): n for n in names}
    if name.casefold() in folded:
        return folded[name.casefold()]
    found = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    return found[0] if found else None


def check_variables(
    template: Template, available: Iterable[str], *, what: str = "the template"
) -> None:
    """Refuse a template that needs a variable none of ``available`` provides.

    A variable with a default (``${name:-there}``) needs nothing.

    Args:
        template: The template.
        available: The variables the audience provides (its columns, as named after
            the import's mapping).
        what: Which template, for the message.

    Raises:
        MissingVariableError: Naming the variables, listing ``available`` and
            suggesting the closest name.

    Example:
        >>> try:
        ...     check_variables(Template(body="Hi ${nmae}"), ["name", "city"])
        ... except MissingVariableError as exc:
        ...     print(exc.message)
        ...     print(exc.hint.split(";")[1])
        the template uses ${nmae}, which no column of the audience provides
         did you mean ${name}? Or map a column to it ...
    """
    names = sorted(set(available))
    missing = unknown_variables(template, names)
    if not missing:
        return
    guesses = [
        f"${{{guess}}} for ${{{name}}}" if len(missing) > 1 else f"${{{guess}}}"
        for name in missing
        if (guess := closest_variable(name, names)) is not None
    ]
    hint = "the columns are: " + (", ".join(names) or "(none)")
    hint += f"; did you mean {', '.join(guesses)}?" if guesses else "."
    first = missing[0]
    hint += (
        f" Or map a column to it when importing (variables={{{first!r}: 'Column'}}), "
        f"or give it a default (${{{first}:-...}})"
    )
    raise MissingVariableError(missing, hint=hint, available=tuple(names), what=what)
