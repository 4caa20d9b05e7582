"""RenderSpec parsing, validation limits and the canonical form."""

from __future__ import annotations

from urllib.parse import parse_qsl, quote

import pytest
from hypothesis import given
from hypothesis import strategies as st
from yarl import URL

from proxy import formats
from proxy.config import Limits
from proxy.errors import BadRequest, InvalidValue, NotFound, URITooLong
from proxy.spec import RESERVED, OutputOptions, RenderSpec, _encode, parse_request, url_value

LIMITS = Limits()


def parse(query: list[tuple[str, str]], template: str = "card", fmt: str = "png",
          limits: Limits = LIMITS) -> RenderSpec:
    return parse_request(template, fmt, query, 100, limits)


def test_variables_are_sorted_and_options_split_out() -> None:
    spec = parse([("title", "Hi"), ("w", "600"), ("name", "Ann"), ("dpr", "1.5")])
    assert spec.variables == (("name", "Ann"), ("title", "Hi"))
    assert (spec.width, spec.dpr) == (600, 1.5)


def test_canonical_sorts_options_with_variables_and_encodes_one_way() -> None:
    spec = parse([("zeta", "a b+c"), ("w", "600"), ("alpha", "ü/&=%"), ("debug", "1")])
    assert spec.canonical() == (
        "card.png?alpha=%C3%BC%2F%26%3D%25&debug=1&w=600&zeta=a%20b%2Bc")
    assert spec.query_string() == spec.canonical().split("?", 1)[1]


def test_canonical_without_query_has_no_question_mark() -> None:
    assert parse([]).canonical() == "card.png"


def test_empty_value_is_kept_as_name_equals() -> None:
    assert parse([("name", "")]).canonical() == "card.png?name="


@pytest.mark.parametrize("query", [
    "name=John+Smith&title=a%2Bb&w=600",
    "name=John%20Smith&title=a%2bb&w=600",
    "w=600&title=a%2B%62&name=John%20Smith",
    "name=%4A%6F%68%6E%20Smith&title=a%2Bb&w=600",
])
def test_reencoded_queries_give_the_same_canonical_form(query: str) -> None:
    # A CDN or client may turn %20 into +, reorder pairs or change hex case: the signature
    # covers the decoded values, so all of these are the same request.
    expected = "card.png?name=John%20Smith&title=a%2Bb&w=600"
    by_yarl = list(URL(f"/i/sig/card.png?{query}").query.items())
    by_urllib = parse_qsl(query, keep_blank_values=True)
    assert by_yarl == by_urllib
    assert parse(by_yarl).canonical() == expected
    assert parse(by_urllib).canonical() == expected


def test_duplicate_key_is_rejected_by_name() -> None:
    with pytest.raises(BadRequest, match="duplicate parameter: name") as info:
        parse([("name", "a"), ("name", "b")])
    assert info.value.field == "name"


def test_duplicate_option_is_rejected() -> None:
    with pytest.raises(BadRequest, match="duplicate"):
        parse([("w", "600"), ("w", "600")])


@pytest.mark.parametrize("key", ["", "1abc", "na me", "name!", "é", "a.b", "x" * 65, "a[]"])
def test_invalid_parameter_names_are_rejected(key: str) -> None:
    with pytest.raises(BadRequest, match="invalid parameter name"):
        parse([(key, "x")])


def test_reserved_names_are_options_not_variables() -> None:
    assert {"w", "h", "q", "dpr", "v", "exp", "debug"} == RESERVED
    spec = parse([("w", "1"), ("h", "2"), ("q", "3"), ("dpr", "4"), ("v", "deadbeef"),
                  ("exp", "99"), ("debug", "1")])
    assert spec.variables == ()


@pytest.mark.parametrize("template", ["Card", "-card", "card_1", "", "a" * 65, "card.png",
                                      "caf\u00e9", "card\n"])
def test_bad_template_name_is_not_found(template: str) -> None:
    with pytest.raises(NotFound):
        parse([], template=template)


def test_longest_template_name_is_accepted() -> None:
    assert parse([], template="a" * 64).template == "a" * 64


@pytest.mark.parametrize("fmt", ["bmp", "PNG", "", "tiff", "jpe"])
def test_bad_format_is_invalid_value(fmt: str) -> None:
    with pytest.raises(InvalidValue) as info:
        parse([], fmt=fmt)
    assert info.value.field == "fmt"


def test_formats_and_aliases() -> None:
    assert parse([], fmt="jpg").fixed_format == "jpeg"
    # Verified as signed (old URLs); the GET answers it with a 301 to `.jpeg`.
    assert parse([], fmt="jpg").canonical() == "card.jpg"
    assert parse([], fmt="auto").fixed_format is None
    for fmt in formats.NAMES:
        assert parse([], fmt=fmt).fixed_format == fmt


@pytest.mark.parametrize(("value", "text"), [
    (True, "true"), (False, "false"), (2.0, "2"), (1.5, "1.5"), (-0.25, "-0.25"), (0, "0"),
    (42, "42"), ("Zoë 🚀", "Zoë 🚀"), ("", ""), (1e20, "100000000000000000000"),
])
def test_url_value_spells_each_value_one_way(value: object, text: str) -> None:
    assert url_value("x", value) == text


@pytest.mark.parametrize(("value", "message"), [
    (float("nan"), "x: not a finite number"), (float("inf"), "x: not a finite number"),
    ([1], "x: expected a string, number or boolean"),
    (None, "x: expected a string, number or boolean"),
])
def test_url_value_refuses_what_no_url_can_carry(value: object, message: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        url_value("x", value)
    assert caught.value.public == message and caught.value.field == "x"


@pytest.mark.parametrize(("name", "value"), [
    ("w", "0"), ("w", "-1"), ("w", "+600"), ("w", "0600"), ("w", "6_00"), ("w", " 600"),
    ("w", "600.0"), ("w", "8193"), ("w", "\u0666\u0660\u0660"), ("w", ""), ("h", "1e3"),
    ("q", "0"), ("q", "101"), ("q", "08"),
    ("dpr", "0"), ("dpr", "0.5"), ("dpr", "1.0"), ("dpr", "1.50"), ("dpr", "4.5"),
    ("dpr", "5"), ("dpr", "1.125"), ("dpr", ".5"), ("dpr", "2."),
    ("v", "abc"), ("v", "DEADBEEF"), ("v", "g" * 8), ("v", "a" * 65),
    ("exp", "-1"), ("exp", "0"), ("exp", "1.5"), ("exp", "1" * 13),
    ("debug", "0"), ("debug", "true"), ("debug", ""),
])
def test_bad_option_values_name_the_field(name: str, value: str) -> None:
    with pytest.raises(InvalidValue) as info:
        parse([(name, value)])
    assert info.value.field == name


@pytest.mark.parametrize(("raw", "value"), [("1", 1.0), ("1.5", 1.5), ("1.25", 1.25),
                                            ("2", 2.0), ("3.05", 3.05), ("4", 4.0)])
def test_dpr_canonical_spellings_round_trip(raw: str, value: float) -> None:
    spec = parse([("dpr", raw)])
    assert spec.dpr == value
    assert spec.canonical() == f"card.png?dpr={raw}"


def test_options_at_their_limits_are_accepted() -> None:
    spec = parse([("w", "8192"), ("q", "100"), ("v", "f" * 64), ("exp", "9" * 12)])
    assert (spec.width, spec.quality, spec.version, spec.expires) == (8192, 100, "f" * 64,
                                                                      999999999999)


def test_side_times_dpr_over_the_limit_is_rejected() -> None:
    with pytest.raises(InvalidValue) as info:
        parse([("w", "4097"), ("dpr", "2")])
    assert info.value.field == "w"
    parse([("w", "4096"), ("dpr", "2")])


def test_total_pixels_over_the_limit_is_rejected() -> None:
    limits = Limits(max_output_pixels=1_000_000)
    parse([("w", "1000"), ("h", "1000")], limits=limits)
    with pytest.raises(InvalidValue):
        parse([("w", "1000"), ("h", "1001")], limits=limits)
    with pytest.raises(InvalidValue):
        parse([("w", "1000"), ("h", "1000"), ("dpr", "1.5")], limits=limits)


def test_url_longer_than_the_limit_is_414() -> None:
    limits = Limits(max_url_bytes=300)
    parse_request("card", "png", [], 300, limits)
    with pytest.raises(URITooLong):
        parse_request("card", "png", [], 301, limits)


def test_url_length_is_checked_before_anything_else() -> None:
    with pytest.raises(URITooLong):
        parse_request("BAD NAME", "bmp", [("name", "a"), ("name", "b")], 10**6, LIMITS)


def test_value_longer_than_max_text_length_names_the_field() -> None:
    limits = Limits(max_text_length=5)
    parse([("name", "12345")], limits=limits)
    with pytest.raises(InvalidValue) as info:
        parse([("name", "123456")], limits=limits)
    assert info.value.field == "name"


def test_max_text_length_counts_characters_not_bytes() -> None:
    parse([("name", "ééééé")], limits=Limits(max_text_length=5))


@pytest.mark.parametrize("value", ["\ud800", "a\udfffb", "\ud83d"])
def test_lone_surrogates_are_rejected(value: str) -> None:
    with pytest.raises(InvalidValue) as info:
        parse([("name", value)])
    assert info.value.field == "name"


def test_invalid_utf8_in_the_url_is_rejected() -> None:
    # yarl decodes invalid UTF-8 to U+FFFD; refusing it keeps one spelling per value.
    query = list(URL("/i/s/card.png?name=%FF").query.items())
    with pytest.raises(InvalidValue):
        parse(query)


def test_output_options() -> None:
    spec = parse([("w", "600"), ("q", "80"), ("dpr", "2")], fmt="auto")
    assert spec.output_options("webp") == OutputOptions("webp", 600, None, 80, 2.0)
    assert parse([], fmt="jpg").output_options("jpg") == OutputOptions(format="jpeg")
    assert parse([]).output_options("png").dpr == 1.0
    with pytest.raises(ValueError):
        spec.output_options("auto")


def test_spec_is_frozen_and_hashable() -> None:
    spec = parse([("name", "a")])
    assert hash(spec) == hash(parse([("name", "a")]))
    with pytest.raises(AttributeError):
        spec.template = "x"  # type: ignore[misc]


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",))))
def test_values_are_percent_encoded_exactly_as_urllib_quote_does(text: str) -> None:
    # The table-driven encoder must spell every value as quote(text, safe="") does: the
    # signatures of URLs minted before it depend on that spelling.
    assert _encode(text) == quote(text, safe="")


def test_canonical_form_is_built_once_and_is_the_same_string() -> None:
    spec = parse([("name", "Zoë Ann"), ("avatar", "https://a.test/x y.jpg"), ("w", "600")])
    first = spec.canonical()
    assert first == "card.png?avatar=https%3A%2F%2Fa.test%2Fx%20y.jpg&name=Zo%C3%AB%20Ann&w=600"
    assert spec.canonical() is first
    assert parse([("name", "Zoë Ann"), ("avatar", "https://a.test/x y.jpg"),
                  ("w", "600")]).canonical() == first
