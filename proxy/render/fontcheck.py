"""Check a layer's font name against the shipped fonts (fontconfig would silently substitute)."""

from __future__ import annotations

from functools import lru_cache

from .vips import font_families


@lru_cache(maxsize=1)
def _families() -> frozenset[str]:
    return frozenset(f.lower() for f in font_families())


def font_ok(font: str) -> bool:
    """True when `font` ("Inter Bold", "Noto Sans Arabic") starts with a shipped family."""
    name = font.strip().lower()
    return any(name == fam or name.startswith(fam + " ") for fam in _families())
