"""Colour strings to RGBA: #rgb, #rgba, #rrggbb, #rrggbbaa and CSS named colours."""

from __future__ import annotations

import re

from .model import RGBA

_HEX = re.compile(r"#([0-9a-fA-F]{3,4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})")

# CSS Color Module Level 4 named colours (the common subset designers actually type).
NAMED: dict[str, str] = {
    "transparent": "#00000000", "black": "#000000", "white": "#ffffff", "red": "#ff0000",
    "green": "#008000", "blue": "#0000ff", "yellow": "#ffff00", "orange": "#ffa500",
    "purple": "#800080", "pink": "#ffc0cb", "gray": "#808080", "grey": "#808080",
    "silver": "#c0c0c0", "maroon": "#800000", "olive": "#808000", "lime": "#00ff00",
    "aqua": "#00ffff", "cyan": "#00ffff", "teal": "#008080", "navy": "#000080",
    "fuchsia": "#ff00ff", "magenta": "#ff00ff", "brown": "#a52a2a", "gold": "#ffd700",
    "indigo": "#4b0082", "violet": "#ee82ee", "coral": "#ff7f50", "crimson": "#dc143c",
    "salmon": "#fa8072", "tomato": "#ff6347", "turquoise": "#40e0d0", "beige": "#f5f5dc",
    "ivory": "#fffff0", "khaki": "#f0e68c", "lavender": "#e6e6fa", "plum": "#dda0dd",
    "orchid": "#da70d6", "tan": "#d2b48c", "chocolate": "#d2691e", "skyblue": "#87ceeb",
    "steelblue": "#4682b4", "royalblue": "#4169e1", "slategray": "#708090",
    "slategrey": "#708090", "darkgray": "#a9a9a9", "darkgrey": "#a9a9a9",
    "lightgray": "#d3d3d3", "lightgrey": "#d3d3d3", "darkblue": "#00008b",
    "darkgreen": "#006400", "darkred": "#8b0000", "forestgreen": "#228b22",
    "hotpink": "#ff69b4", "deeppink": "#ff1493", "midnightblue": "#191970",
    "rebeccapurple": "#663399", "whitesmoke": "#f5f5f5", "seagreen": "#2e8b57",
    "firebrick": "#b22222", "goldenrod": "#daa520", "limegreen": "#32cd32",
    "dodgerblue": "#1e90ff", "deepskyblue": "#00bfff", "mintcream": "#f5fffa",
}


def parse_color(text: str) -> RGBA:
    """Parse a colour or raise ValueError with a short reason."""
    raw = text.strip().lower()
    raw = NAMED.get(raw, raw)
    m = _HEX.fullmatch(raw)
    if not m:
        raise ValueError(f"not a colour: {text[:40]!r} "
                         "(use #rgb, #rrggbb, #rrggbbaa or a CSS name)")
    digits = m.group(1)
    if len(digits) in (3, 4):
        digits = "".join(c * 2 for c in digits)
    if len(digits) == 6:
        digits += "ff"
    r, g, b, a = (int(digits[i:i + 2], 16) for i in range(0, 8, 2))
    return (r, g, b, a)


def to_hex(rgba: RGBA) -> str:
    """Canonical spelling: #rrggbb, or #rrggbbaa when not opaque."""
    r, g, b, a = rgba
    return f"#{r:02x}{g:02x}{b:02x}" + ("" if a == 255 else f"{a:02x}")
