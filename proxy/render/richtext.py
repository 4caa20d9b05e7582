"""Text styles at draw time: resolved inline markup as a plain body plus Pango spans, and case.

The fit search (text.py) works on the plain body: shrinking and cutting never see a tag, and
the spans (character offsets) are written around whatever prefix is being tried.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from ..template import markup
from ..template.markup import Span, pango_markup
from ..template.model import TextLayer

__all__ = ["Span", "pango_markup", "styled_body", "transform_case"]

_WORD_START = re.compile(r"(?<![\w'’])(\w)")


def transform_case(text: str, case: str) -> str:
    """`upper`, `lower`, `title` (each word's first letter, the rest untouched) or as is."""
    if case == "upper":
        return text.upper()
    if case == "lower":
        return text.lower()
    if case == "title":
        return _WORD_START.sub(lambda m: m.group(1).upper(), text)
    return text


def styled_body(layer: TextLayer, text: str, clean: Callable[[str], str]
                ) -> tuple[str, tuple[Span, ...]]:
    """The text to lay out (cleaned, case applied) and its inline style spans."""
    case = "upper" if layer.uppercase else layer.case
    if not layer.rich:
        return transform_case(clean(text), case), ()
    pieces: list[markup.Run] = []
    for piece, styles in markup.runs(text):
        # clean each run without trimming it (the space in "Hello, <b>Ann</b>" stays)
        kept = clean("a" + piece + "a")[1:-1]
        pieces.append((transform_case(kept, case), styles))
    body, spans = markup.spans_of(pieces)
    lead = len(body) - len(body.lstrip())
    body = body.strip()
    moved = tuple((max(0, s - lead), min(len(body), e - lead), attrs) for s, e, attrs in spans
                  if min(len(body), e - lead) > max(0, s - lead))
    return body, moved
