"""Check a layer's font name against the shipped fonts (fontconfig would silently substitute)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from .vips import font_families, fonts_dir


@lru_cache(maxsize=4)
def _families(folder: Path) -> frozenset[str]:
    return frozenset(f.lower() for f in font_families(folder))


def font_ok(font: str) -> bool:
    """True when `font` ("Inter Bold", "Noto Sans Arabic") starts with a shipped family."""
    name = font.strip().lower()
    return any(name == fam or name.startswith(fam + " ") for fam in _families(fonts_dir()))
