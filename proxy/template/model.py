"""Templates as frozen data: canvas, typed variables and layers. No I/O here.

Strings in layers may hold `{variable}` references; they are resolved per render by
`template/values.py`. Boxes are `(x, y, width, height)` in template pixels (dpr 1).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from .. import formats

Box = tuple[int, int, int, int]
RGBA = tuple[int, int, int, int]

VariableType = Literal["text", "color", "image", "number", "choice", "boolean"]
Fit = Literal["cover", "contain", "fill"]
Gravity = Literal["centre", "north", "south", "east", "west", "north-east", "north-west",
                  "south-east", "south-west", "smart"]
# Where a layer's box goes when a `follow` canvas takes the requested size: `fill` scales the
# box with the canvas, a gravity keeps its size and its offset from that side.
Anchor = Literal["fill", "centre", "north", "south", "east", "west", "north-east", "north-west",
                 "south-east", "south-west"]
Align = Literal["left", "centre", "right"]
VAlign = Literal["top", "middle", "bottom"]

FORMATS = formats.NAMES


T = TypeVar("T")


def evolve(obj: T, **changes: Any) -> T:
    """`dataclasses.replace` for our frozen dataclasses, without running `__init__` again.

    They validate nothing in `__init__` (the loader does), so a copy of the fields with the
    changes is the same value, built in about a sixth of the time: a render resolves and moves
    a dozen layers, and replace() was 5 µs each (for the fields it passes again).
    """
    new = object.__new__(obj.__class__)
    fields = new.__dict__
    fields.update(obj.__dict__)
    assert fields.keys() >= changes.keys(), f"not fields: {changes.keys() - fields.keys()}"
    fields.update(changes)
    return new


@dataclass(frozen=True)
class Variable:
    """One typed template variable; `default` is already coerced to the type's Python value."""

    name: str
    type: VariableType
    default: object = None           # None: required unless `optional`
    optional: bool = False           # may be empty/missing (then `when` layers are skipped)
    description: str = ""
    max_length: int | None = None    # text
    min: float | None = None         # number
    max: float | None = None         # number
    choices: tuple[str, ...] = ()    # choice
    fallback: str | None = None      # image: template-relative local file used on failure
    allow_svg: bool = False          # image: accept SVG sources
    markup: bool = False             # text: values may use the template's inline style tags

    @property
    def required(self) -> bool:
        """A URL must give a value: no default, not optional, and (images) no fallback."""
        return self.default is None and not self.optional and self.fallback is None


@dataclass(frozen=True)
class Gradient:
    """A linear gradient, angles as in CSS: 0 runs bottom to top, 90 left to right, 180 down."""

    angle_deg: float
    stops: tuple[tuple[float, str], ...]   # (position 0..1, colour or "{var}")


@dataclass(frozen=True)
class LayerBase:
    box: Box
    when: str | None = None          # variable name: draw only when it is non-empty/true
    opacity: float = 1.0
    anchor: Anchor = "north-west"    # only a `follow` canvas moves boxes
    grow: float = 0.0                # in a group: share of the free space along its direction


@dataclass(frozen=True)
class RectLayer(LayerBase):
    fill: str | None = "#000000"     # colour or "{var}"; None with a gradient
    gradient: Gradient | None = None
    radius: int = 0
    stroke: str | None = None
    stroke_width: int = 0


@dataclass(frozen=True)
class Shadow:
    """A soft copy of the glyphs under them: offset and blur in px at dpr 1."""

    color: str = "#00000080"
    dx: float = 0.0
    dy: float = 2.0
    blur: float = 4.0


@dataclass(frozen=True)
class Outline:
    """A ring around the glyphs, `width` px at dpr 1."""

    color: str = "#000000"
    width: float = 2.0


@dataclass(frozen=True)
class Highlight:
    """A band behind each line, spanning its ink plus padding (vertical, horizontal px)."""

    color: str = "#fde047"
    padding: tuple[int, int] = (2, 6)


Case = Literal["none", "upper", "lower", "title"]


@dataclass(frozen=True)
class TextLayer(LayerBase):
    text: str = ""                   # with {var} references; user values are escaped
    font: str = "Inter"              # family and style, e.g. "Inter Bold"
    size: int = 32                   # px at dpr 1
    min_size: int | None = None      # smart fit: largest size in [min_size, size] that fits
    max_lines: int | None = None     # then ellipsis
    color: str = "#000000"
    align: Align = "left"
    valign: VAlign = "top"
    line_height: float = 1.2         # multiple of the font size
    letter_spacing: float = 0.0      # px at dpr 1
    uppercase: bool = False          # the old spelling of case = "upper"
    case: Case = "none"
    shadow: Shadow | None = None
    outline: Outline | None = None
    highlight: Highlight | None = None
    rich: bool = False               # text holds inline style tags (template/markup.py)


@dataclass(frozen=True)
class ImageLayer(LayerBase):
    src: str = ""                    # "{var}" or a template-relative local file
    fit: Fit = "cover"               # or "{choice_var}" whose choices are all fits
    gravity: Gravity = "centre"      # or "{choice_var}" whose choices are all gravities
    mask: Literal["none", "circle"] = "none"
    radius: int = 0
    tint: str | None = None          # colour or "{var}": multiplies the image by it


@dataclass(frozen=True)
class SvgLayer(LayerBase):
    svg: str = ""                    # SVG source text read at load time, with {var} refs


@dataclass(frozen=True)
class CodeLayer(LayerBase):
    """What QR codes and barcodes share: a value, two colours, a quiet zone, a size floor."""

    value: str = ""                  # with {var} references; empty draws nothing
    color: str = "#000000"           # dark modules, colour or "{var}"
    background: str = "#ffffff"      # light modules and the quiet zone; "#0000" for none
    quiet_zone: int = 4              # light modules around the code
    min_module: float = 1.0          # narrowest module in template px; smaller is a 400


@dataclass(frozen=True)
class QrLayer(CodeLayer):
    error: Literal["L", "M", "Q", "H"] = "M"   # error-correction level


@dataclass(frozen=True)
class BarcodeLayer(CodeLayer):
    symbology: Literal["ean13", "code128"] = "code128"


@dataclass(frozen=True)
class GroupLayer(LayerBase):
    """Children that flow in a row or a column; a child's box is (0, 0, width, height), where
    0 means "from its content" (text hugs its lines, a group hugs its children)."""

    direction: Literal["row", "column"] = "column"
    gap: int = 0
    padding: tuple[int, int, int, int] = (0, 0, 0, 0)     # top, right, bottom, left
    align: Literal["start", "centre", "end", "stretch"] = "start"      # across the direction
    justify: Literal["start", "centre", "end", "space-between"] = "start"   # along it
    wrap: bool = False
    fill: str | None = None          # background of the group's box (hugging, as a child)
    radius: int = 0
    stroke: str | None = None
    stroke_width: int = 0
    children: tuple[Layer, ...] = ()


Layer = RectLayer | TextLayer | ImageLayer | SvgLayer | QrLayer | BarcodeLayer | GroupLayer


@dataclass(frozen=True)
class Template:
    """A loaded template; `version` hashes its file and every local file it uses."""

    name: str
    path: str
    size: tuple[int, int]
    background: str                  # colour or "{var}"
    variables: dict[str, Variable]
    layers: tuple[Layer, ...]
    version: str
    formats: tuple[str, ...] = FORMATS
    description: str = ""
    # What transparent areas are flattened onto in formats without alpha (JPEG): colour or
    # "{var}". PNG, WebP, AVIF and GIF keep the transparency.
    matte: str = "#ffffff"
    follow: bool = False             # the canvas takes the requested w x h (photo templates)
    palette: dict[str, str] = field(default_factory=dict)   # colour tags for inline styles
    files: dict[str, bytes] = field(default_factory=dict, repr=False)  # local art by rel path
