"""Tests of msgkit.core.templates: syntax, rendering, review, channel rules."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from msgkit import (
    InvalidTransitionError,
    MissingVariableError,
    NotAllowedError,
    Template,
    TemplateError,
    TemplateSyntaxError,
    UnknownVariableError,
)
from msgkit.core.templates import (
    ContentRules,
    KindRules,
    Link,
    ReviewStatus,
    TemplateKind,
    check_variables,
    closest_variable,
    unknown_variables,
)


def test_variables_in_order_of_first_use() -> None:
    """variables lists each name once, in the order the body uses them."""
    t = Template(body="${b} and ${a}, again ${b}")
    assert t.variables == ("b", "a")


def test_render_substitutes_values() -> None:
    """render() puts each value, as a string, in its place."""
    t = Template(body="Hi ${name}, you have ${points} points")
    assert t.render({"name": "Amy", "points": 120}) == "Hi Amy, you have 120 points"


def test_missing_variable_is_named() -> None:
    """A missing value raises MissingVariableError naming every missing variable."""
    t = Template(body="Hi ${name}, code ${code}, ${name}")
    with pytest.raises(MissingVariableError) as info:
        t.render({})
    assert info.value.names == ("name", "code")
    assert "${name}" in str(info.value)
    assert isinstance(info.value, TemplateError)
    assert isinstance(info.value, ValueError)


def test_empty_string_is_a_value_none_is_not() -> None:
    """An empty string renders as empty; None counts as missing."""
    t = Template(body="[${x}]")
    assert t.render({"x": ""}) == "[]"
    with pytest.raises(MissingVariableError):
        t.render({"x": None})


def test_defaults() -> None:
    """${name:-text} uses text when the value is missing or empty."""
    t = Template(body="Hi ${name:-there}!")
    assert t.render({}) == "Hi there!"
    assert t.render({"name": ""}) == "Hi there!"
    assert t.render({"name": "Bo"}) == "Hi Bo!"
    assert t.required == ()
    assert t.variables == ("name",)


def test_strict_refuses_unknown_names() -> None:
    """With strict=True, a value for a name the template lacks is refused (typos)."""
    t = Template(body="Hi ${name}")
    assert t.render({"name": "A", "nmae": "B"}) == "Hi A"
    with pytest.raises(UnknownVariableError) as info:
        t.render({"name": "A", "nmae": "B"}, strict=True)
    assert info.value.names == ("nmae",)
    assert "name" in str(info.value)


def test_literal_dollar_brace() -> None:
    """$${ writes a literal ${ and is not a variable."""
    t = Template(body="Price $${not_a_var} and ${x}, $5 too")
    assert t.variables == ("x",)
    assert t.render({"x": 1}) == "Price ${not_a_var} and 1, $5 too"


@pytest.mark.parametrize(
    ("body", "where"),
    [("Hi ${name", 3), ("Hi ${1abc}", 3), ("${}", 0), ("a ${na me}", 2)],
)
def test_syntax_errors_give_the_position(body: str, where: int) -> None:
    """Malformed placeholders raise TemplateSyntaxError with the position and the fix."""
    with pytest.raises(TemplateSyntaxError) as info:
        Template(body=body)
    assert info.value.position == where
    assert info.value.hint


def test_unicode_variable_names() -> None:
    """Variable names may use letters of any script."""
    assert Template(body="您好 ${姓名}").render({"姓名": "王"}) == "您好 王"


def test_link_placeholders_and_written_urls() -> None:
    """${link:x} and written-out URLs are links; render can replace them."""
    t = Template(
        body="Sale at ${link:shop}! Details https://ex.com/terms?a=1. Bye",
        links={"shop": "https://shop.example.com/sale"},
    )
    assert t.link_list == (
        Link("shop", "https://shop.example.com/sale"),
        Link("url1", "https://ex.com/terms?a=1", explicit=False),
    )
    assert t.render() == (
        "Sale at https://shop.example.com/sale! Details https://ex.com/terms?a=1. Bye"
    )
    short = {"shop": "s.ex/a1", "url1": "s.ex/b2"}
    assert t.render(links=short) == "Sale at s.ex/a1! Details s.ex/b2. Bye"
    assert t.render(links=lambda link: link.name.upper()) == "Sale at SHOP! Details URL1. Bye"


def test_url_built_from_a_variable_is_not_a_link() -> None:
    """A URL that a variable completes is left alone (it differs per recipient)."""
    t = Template(body="Track: https://ex.com/o/${order}")
    assert t.link_list == ()
    assert t.render({"order": "7"}) == "Track: https://ex.com/o/7"


def test_link_placeholder_needs_a_target() -> None:
    """${link:x} without links['x'] is refused, naming the links given."""
    with pytest.raises(TemplateSyntaxError, match="no target URL"):
        Template(body="Go ${link:shop}")


def test_chinese_punctuation_ends_a_url() -> None:
    """A URL followed by Chinese punctuation stops before it."""
    t = Template(body="详情见https://ex.cn/a，谢谢")
    assert t.link_list[0].url == "https://ex.cn/a"


@given(
    st.dictionaries(st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True), st.text(), max_size=5)
)
def test_render_round_trip(values: dict[str, str]) -> None:
    """Rendering a template of placeholders joined by '|' gives the values joined by '|'."""
    names = sorted(values)
    t = Template(body="|".join(f"${{{n}}}" for n in names))
    assert t.variables == tuple(names)
    assert t.render(values) == "|".join(values[n] for n in names)


@given(st.text(alphabet=st.characters(exclude_characters="$")))
def test_text_without_dollar_renders_as_is(text: str) -> None:
    """A body with no '$' renders to itself."""
    assert Template(body=text).render() == text


# --- review ----------------------------------------------------------------------


def test_review_lifecycle() -> None:
    """draft -> pending -> approved; rejection keeps the reason."""
    t = Template(body="Hi ${name}")
    assert t.review is ReviewStatus.DRAFT
    pending = t.reviewed("submit")
    assert pending.review is ReviewStatus.PENDING
    assert pending.reviewed("approve").review is ReviewStatus.APPROVED
    rejected = pending.reviewed("reject", reason="advertising in a notification")
    assert rejected.review is ReviewStatus.REJECTED
    assert rejected.review_reason == "advertising in a notification"
    with pytest.raises(InvalidTransitionError, match="approve"):
        t.reviewed("approve")


def test_editing_an_approved_template_needs_review_again() -> None:
    """edit() gives a new draft version without the platform code."""
    approved = Template(body="Hi ${name}", code="SMS_1").reviewed("submit").reviewed("approve")
    edited = approved.edit("Hello ${name}")
    assert edited.review is ReviewStatus.DRAFT
    assert edited.version == 2
    assert edited.code is None
    assert approved.body == "Hi ${name}"


# --- channel rules ------------------------------------------------------------------

ALIBABA_LIKE = ContentRules(
    kinds={
        TemplateKind.NOTIFICATION: KindRules(),
        TemplateKind.PROMOTIONAL: KindRules(variables=False, short_params=False),
        TemplateKind.MULTIMEDIA: KindRules(),
    },
    promotional_suffix="拒收请回复R",
    variables_only=False,
    max_length=500,
    review=True,
)
THIRD_PARTY_LIKE = ContentRules(
    kinds={TemplateKind.NOTIFICATION: KindRules(), TemplateKind.PROMOTIONAL: KindRules()}
)


def test_promotional_rules() -> None:
    """Promotional content: unsubscribe suffix required, variables forbidden where ruled."""
    ok = Template(
        body="双11大促 ${link:s} 拒收请回复R", kind="promotional", links={"s": "https://x.cn"}
    )
    ok.check(ALIBABA_LIKE)
    with pytest.raises(NotAllowedError) as info:
        Template(body="Hi ${name}, sale!", kind="promotional").check(ALIBABA_LIKE)
    assert len(info.value.violations) == 2
    assert "拒收请回复R" in str(info.value)
    assert "variables" in str(info.value)
    Template(body="Hi ${name}, sale!", kind="promotional").check(THIRD_PARTY_LIKE)


def test_short_params_rule() -> None:
    """Per-recipient link parameters are refused where the kind forbids them."""
    t = Template(body="大促 ${link:s} 拒收请回复R", kind="promotional", links={"s": "https://x.cn"})
    assert t.violations(ALIBABA_LIKE) == ()
    assert any("per-recipient" in v for v in t.violations(ALIBABA_LIKE, short_params=True))


def test_notification_must_not_carry_the_suffix() -> None:
    """A notification with the unsubscribe text is refused."""
    t = Template(body="Your order ${id} shipped 拒收请回复R")
    assert t.violations(ALIBABA_LIKE) == ("notification templates must not contain '拒收请回复R'",)


def test_variables_only_and_unsupported_kind() -> None:
    """A template of only variables, or of an unsupported kind, is refused."""
    assert Template(body="${a} ${b}").violations(ALIBABA_LIKE)
    assert Template(body="${a} ${b}").violations(THIRD_PARTY_LIKE) == ()
    mms = Template(body="pic", kind="multimedia")
    assert "not supported" in mms.violations(THIRD_PARTY_LIKE)[0]


def test_unknown_variables_against_available_columns() -> None:
    """unknown_variables names the required variables no column provides."""
    t = Template(body="${name} ${date} ${city:-Taipei}")
    assert unknown_variables(t, ["name"]) == ("date",)


names = st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True)


@given(
    used=st.lists(st.tuples(names, st.booleans()), min_size=1, max_size=5),
    available=st.sets(names, max_size=6),
)
def test_check_variables_refuses_exactly_what_no_column_provides(
    used: list[tuple[str, bool]], available: set[str]
) -> None:
    """check_variables raises iff a variable without default is not available, naming
    those, listing the columns, and suggesting only names that are available."""
    body = " ".join(f"${{{n}:-x}}" if default else f"${{{n}}}" for n, default in used)
    template = Template(body=body)
    missing = unknown_variables(template, available)
    if not missing:
        check_variables(template, available)
        return
    with pytest.raises(MissingVariableError) as caught:
        check_variables(template, available)
    assert caught.value.names == missing
    assert caught.value.available == tuple(sorted(available))
    assert all(f"${{{n}}}" in str(caught.value) for n in missing)
    for name in missing:
        guess = closest_variable(name, available)
        assert guess is None or guess in available


def test_check_variables_suggests_the_closest_column() -> None:
    """A misspelled variable gets a 'did you mean' with the column it most likely means."""
    with pytest.raises(MissingVariableError) as caught:
        check_variables(Template(body="Hi ${nmae}"), ["name", "City"], what="the fallback template")
    message = str(caught.value)
    assert message.startswith("the fallback template uses ${nmae}, which no column")
    assert "the columns are: City, name; did you mean ${name}?" in message
    assert closest_variable("city", ["City"]) == "City"
    assert closest_variable("zzz", ["name"]) is None
    check_variables(Template(body="Hi ${nmae:-there}"), ["name"])  # a default needs nothing


# --- media ----------------------------------------------------------------------------------

_URLS = st.builds(
    "https://{}.example.com/{}.png".format,
    st.from_regex(r"[a-z0-9]{1,10}", fullmatch=True),
    st.from_regex(r"[A-Za-z0-9_-]{1,12}", fullmatch=True),
)


@given(st.lists(_URLS, max_size=5))
def test_media_keeps_the_urls_in_order(urls: list[str]) -> None:
    """media is the given http(s) URLs as a tuple, in order; edit keeps them."""
    template = Template(body="Hi", media=urls)
    assert template.media == tuple(urls)
    assert template.edit("Hello").media == tuple(urls)
    assert template.violations(ContentRules()) == ()


def test_one_media_url_is_a_tuple_of_one() -> None:
    """A single URL given as a string is one medium, not one per character."""
    assert Template(body="Hi", media="https://x.example/a.png").media == (
        "https://x.example/a.png",
    )


@given(st.text(max_size=20).filter(lambda s: not s.lower().startswith(("http://", "https://"))))
def test_media_that_is_not_a_url_is_refused(value: str) -> None:
    """A media entry that is not an http(s) URL raises a TemplateError naming its index."""
    with pytest.raises(TemplateError, match=r"media\[0\]"):
        Template(body="Hi", media=(value,))


def test_channel_without_media_refuses_template_media() -> None:
    """Content rules without media report a template that carries some."""
    rules = ContentRules(media=False)
    assert Template(body="Hi").violations(rules) == ()
    (found,) = Template(body="Hi", media="https://x.example/a.png").violations(rules)
    assert "carries no media" in found


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)


@given(options=st.dictionaries(st.text(max_size=8), _json, max_size=4))
def test_template_keeps_any_json_options(options: dict[str, object]) -> None:
    """Any mapping of text keys to JSON values is kept as given, and survives an edit."""
    template = Template(body="Hi", options=options)
    assert template.options == options
    assert template.edit("Hello").options == options


@given(key=st.integers() | st.none(), value=_json)
def test_template_refuses_options_keys_that_are_not_text(key: object, value: object) -> None:
    """An option named by anything but a string is refused, naming the key."""
    with pytest.raises(TemplateError, match="options key"):
        Template(body="Hi", options={key: value})


def test_template_refuses_options_that_are_not_a_mapping() -> None:
    """Options given as a list are refused, saying to give a dict."""
    with pytest.raises(TemplateError, match="not a mapping"):
        Template(body="Hi", options=[("flex", {})])  # type: ignore[arg-type]
