"""Check a layer's font name against the shipped fonts (fontconfig would silently substitute).

Fonts added to the fonts folder while the server runs are picked up on the next check: their
families become valid names, and each new file is handed to libvips (`text(fontfile=)`, which
adds it to fontconfig and tells Pango), so a template reloaded with the new font renders it
without a restart (issue #12). Fontconfig itself only scans the folder at first use.
"""

from __future__ import annotations

from functools import cache, lru_cache
from pathlib import Path

import pyvips

from .vips import CACHE_MAX_OPS, FONT_SUFFIXES, font_families, fonts_dir, in_family

FontsStamp = tuple[tuple[str, int, int], ...]


def fonts_stamp(folder: Path) -> FontsStamp:
    """(name, size, mtime) of every font file: changes when a font is added or replaced."""
    out = []
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() in FONT_SUFFIXES:
            try:
                st = path.stat()
            except OSError:
                continue
            out.append((path.name, st.st_size, st.st_mtime_ns))
    return tuple(out)


@cache
def _first_stamp(folder: Path) -> FontsStamp:
    """The fonts fontconfig found by itself (it scans the folder once, at first use)."""
    return fonts_stamp(folder)


@lru_cache(maxsize=4)
def _families(folder: Path, stamp: FontsStamp) -> frozenset[str]:
    known = {name for name, _, _ in _first_stamp(folder)}
    added = [name for name, _, _ in stamp if name not in known]
    for name in added:
        pyvips.Image.text(".", fontfile=str(folder / name))
    if added:
        # libvips caches `text` results by their arguments: drop what was drawn without it
        pyvips.cache_set_max(0)
        pyvips.cache_set_max(CACHE_MAX_OPS)
    return frozenset(f.lower() for f in font_families(folder))


def font_ok(font: str) -> bool:
    """True when `font` ("Inter Bold", "Noto Sans Arabic") starts with a shipped family."""
    folder = fonts_dir()
    _first_stamp(folder)
    return any(in_family(font, fam) for fam in _families(folder, fonts_stamp(folder)))
