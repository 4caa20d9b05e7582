"""Inline styles: a tiny markup of our own, never raw Pango markup.

Tags are `<b>`, `<i>`, `<u>`, `<s>` and `<name>` for a colour the template's `palette` names,
each closed by `</tag>`; `&lt;`, `&gt;` and `&amp;` stand for themselves. A template's own
text may use them around `{variables}` (`"Hello, <b>{name}</b>"`). A value is escaped before
it is substituted, so `<b>` in a name prints `<b>`, unless its variable sets `markup = true`:
then its tags are kept when they are tags of this markup (anything else stays text), and are
balanced inside the value so it cannot close the template's own.

At substitution palette names become `<#rrggbb>` tags, so the drawer needs no palette: it
parses the resolved text into styled runs and writes each run as one Pango span.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from .colors import parse_color

STYLE_TAGS = ("b", "i", "u", "s")
_TAG = re.compile(r"<(/?)([A-Za-z_][A-Za-z0-9_-]{0,31}|#[0-9a-f]{8})>|&(lt|gt|amp);")
_ENTITIES = {"lt": "<", "gt": ">", "amp": "&"}
_PANGO = {"b": "weight='bold'", "i": "style='italic'", "u": "underline='single'",
          "s": "strikethrough='true'"}

Run = tuple[str, tuple[str, ...]]          # text and its styles (tags, "#rrggbbaa" colours)


def escape(value: str) -> str:
    """A plain value as text of this markup: its `<`, `>` and `&` print as themselves."""
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def tags_in(text: str, palette: Mapping[str, str]) -> set[str]:
    """The tags (opening or closing) of this markup in `text`; other `<...>` are text."""
    known = set(STYLE_TAGS) | set(palette)
    return {m.group(2) for m in _TAG.finditer(text) if m.group(2) in known}


def check(text: str, palette: Mapping[str, str]) -> str | None:
    """Why a template's own text is not well-formed markup, or None."""
    known = set(STYLE_TAGS) | set(palette)
    open_tags: list[str] = []
    for m in _TAG.finditer(text):
        closing, name = m.group(1), m.group(2)
        if name is None or name not in known:
            continue
        if not closing:
            open_tags.append(name)
        elif not open_tags or open_tags[-1] != name:
            return f"</{name}> closes nothing open" if not open_tags else (
                f"</{name}> closes <{open_tags[-1]}>")
        else:
            open_tags.pop()
    return f"<{open_tags[-1]}> is not closed" if open_tags else None


def to_colours(text: str, palette: Mapping[str, str], *, balance: bool = False) -> str:
    """Palette names as `<#rrggbbaa>` tags; with `balance`, stray closers dropped and open tags
    closed at the end (a value's markup stays inside the value)."""
    colours = {name: "#{:02x}{:02x}{:02x}{:02x}".format(*parse_color(value))
               for name, value in palette.items()}
    known = set(STYLE_TAGS) | set(colours)
    out: list[str] = []
    open_tags: list[str] = []
    at = 0
    for m in _TAG.finditer(text):
        name = m.group(2)
        if name is None or name not in known:
            continue
        out.append(text[at:m.start()])
        at = m.end()
        tag = colours.get(name, name)
        if not m.group(1):
            open_tags.append(tag)
            out.append(f"<{tag}>")
        elif open_tags and open_tags[-1] == tag:
            open_tags.pop()
            out.append(f"</{tag}>")
        elif not balance:
            out.append(f"</{tag}>")
    out.append(text[at:])
    if balance:
        out += [f"</{tag}>" for tag in reversed(open_tags)]
    return "".join(out)


def runs(text: str) -> list[Run]:
    """Resolved markup as styled runs; tags not of this markup are text."""
    result: list[Run] = []
    styles: list[str] = []
    at = 0

    def add(piece: str) -> None:
        if not piece:
            return
        if result and result[-1][1] == tuple(styles):
            result[-1] = (result[-1][0] + piece, result[-1][1])   # one run per style change
        else:
            result.append((piece, tuple(styles)))

    for m in _TAG.finditer(text):
        entity, name = m.group(3), m.group(2)
        if entity is not None:
            add(text[at:m.start()])
            add(_ENTITIES[entity])
            at = m.end()
            continue
        if name not in STYLE_TAGS and not name.startswith("#"):
            continue
        add(text[at:m.start()])
        at = m.end()
        if not m.group(1):
            styles.append(name)
        elif name in styles:
            styles.reverse()
            styles.remove(name)
            styles.reverse()
    add(text[at:])
    return result


Span = tuple[int, int, str]                # start, end, Pango span attributes


def spans_of(pieces: list[Run]) -> tuple[str, tuple[Span, ...]]:
    """The plain text of runs and its styled spans (character offsets)."""
    body: list[str] = []
    spans: list[Span] = []
    at = 0
    for text, styles in pieces:
        colours = [s for s in styles if s.startswith("#")]
        used = [s for s in dict.fromkeys(styles) if not s.startswith("#")] + colours[-1:]
        if used:
            attrs = " ".join(_attr(style) for style in used)
            spans.append((at, at + len(text), attrs))
        body.append(text)
        at += len(text)
    return "".join(body), tuple(spans)


def _attr(style: str) -> str:
    if style.startswith("#"):
        return f"foreground='{style[:7]}' fgalpha='{max(1, int(style[7:9], 16) * 257)}'"
    return _PANGO[style]


def pango_markup(body: str, spans: tuple[Span, ...], escape_text: Callable[[str], str]) -> str:
    """`body` (the whole text or a prefix of it) as Pango markup with its spans."""
    if not spans:
        return escape_text(body)
    out: list[str] = []
    at = 0
    for start, end, attrs in spans:
        if start >= len(body):
            break
        out.append(escape_text(body[at:start]))
        out.append(f"<span {attrs}>{escape_text(body[start:min(end, len(body))])}</span>")
        at = min(end, len(body))
    out.append(escape_text(body[at:]))
    return "".join(out)
