"""One Format table: names, aliases, media types and extensions every door reads."""

from __future__ import annotations

import argparse

import pytest

from proxy import formats
from proxy.cli import build_parser
from proxy.template.model import FORMATS as TEMPLATE_FORMATS
from proxy.web.openapi import openapi_document


def test_every_spelling_names_one_format_and_jpg_is_jpeg() -> None:
    assert formats.get("jpg") is formats.get("jpeg")
    assert formats.get("jpg").name == "jpeg" and formats.get("jpeg").extension == "jpg"
    assert formats.canonical_name("jpg") == "jpeg"
    assert formats.canonical_name("auto") == "auto"
    assert formats.find("JPG") is None and formats.find("bmp") is None
    assert formats.from_filename(".JPG") is formats.get("jpeg")
    assert len(set(formats.SPELLINGS)) == len(formats.SPELLINGS)
    with pytest.raises(ValueError, match="not an output format"):
        formats.get("auto")


def test_media_types_are_the_formats_own() -> None:
    assert {f.name: f.content_type for f in formats.ALL} == {
        "webp": "image/webp", "avif": "image/avif", "png": "image/png", "jpeg": "image/jpeg",
        "gif": "image/gif"}
    assert formats.EMAIL_NAMES == ("png", "jpeg")


def _choices(command: str) -> tuple[str, ...]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    parser = sub.choices[command]
    action = next(a for a in parser._actions if a.dest == "format")
    return tuple(action.choices or ())


def test_every_door_offers_the_same_spellings() -> None:
    assert TEMPLATE_FORMATS == formats.NAMES
    assert _choices("render") == formats.SPELLINGS
    assert _choices("batch") == formats.SPELLINGS
    assert _choices("sign") == formats.URL_SPELLINGS
    output = openapi_document("http://x")["components"]["schemas"]["Output"]
    assert tuple(output["properties"]["format"]["enum"]) == formats.SPELLINGS
