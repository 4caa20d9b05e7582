"""Raw strings to typed values: each bad value names its variable."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

from proxy.errors import InvalidValue
from proxy.template.load import load_template
from proxy.template.values import clean_text, coerce

BODY = """
size = [100, 100]
[variables.name]
type = "text"
max_length = 5
[variables.color]
type = "color"
default = "red"
[variables.n]
type = "number"
min = 0
max = 10
default = 1
[variables.pick]
type = "choice"
choices = ["a", "b"]
default = "a"
[variables.flag]
type = "boolean"
default = false
[variables.pic]
type = "image"
optional = true
"""


@pytest.fixture
def template(tmp_path: Path):  # type: ignore[no-untyped-def]
    path = tmp_path / "t.toml"
    path.write_text(BODY)
    return load_template(path)


def test_typed_values(template) -> None:  # type: ignore[no-untyped-def]
    values = coerce(template, {"name": "Ann", "color": "#0f08", "n": "2.5", "flag": "yes",
                               "pick": "b", "pic": "asset:" + "a" * 32})
    assert values.typed["color"] == (0, 255, 0, 136)
    assert values.display("color") == "#00ff0088"
    assert values.typed["n"] == 2.5 and values.typed["flag"] is True
    assert values.display("pick") == "b"


@pytest.mark.parametrize(("raw", "field", "reason"), [
    ({"name": "Annabel"}, "name", "longer than 5"),
    ({"name": "A", "color": "nope"}, "color", "not a colour"),
    ({"name": "A", "n": "11"}, "n", "at most 10"),
    ({"name": "A", "n": "nan"}, "n", "finite"),
    ({"name": "A", "pick": "c"}, "pick", "one of a, b"),
    ({"name": "A", "flag": "maybe"}, "flag", "true or false"),
    ({"name": "A", "pic": "file:///etc/passwd"}, "pic", "http(s) URL or asset:ID"),
    ({"name": "A", "zzz": "1"}, "zzz", "unknown variable"),
    ({}, "name", "required"),
])
def test_bad_value_names_field(template, raw, field, reason) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidValue) as info:
        coerce(template, raw)
    assert info.value.field == field
    assert info.value.public.startswith(field) and reason in info.value.public


def test_clean_text_replaces_lone_surrogates_and_controls() -> None:
    assert clean_text("a\ud800b\x00c\nd") == "a\ufffdbc\nd"
    assert clean_text("\ud83d\ude00") == "\U0001F600"  # a pair split by JSON escapes


def test_clean_text_drops_exactly_the_cc_characters_but_newline() -> None:
    # clean_text drops control characters with one regex; Unicode's own category table is
    # the definition it must match, over every code point that is not a surrogate.
    for start in range(0, 0x110000, 0x1000):
        chunk = "".join(chr(c) for c in range(start, start + 0x1000)
                        if not 0xD800 <= c <= 0xDFFF)
        normal = unicodedata.normalize("NFC", chunk)
        kept = "".join(c for c in normal if c == "\n" or unicodedata.category(c) != "Cc")
        assert clean_text(chunk) == kept
