"""One-time libvips setup: shipped fonts, cache limits, allowed loaders; plus version and fonts.

`proxy/render/__init__.py` must call `setup_vips()` before anything lays out text: fontconfig
reads `FONTCONFIG_FILE` once, when libvips first renders text, and keeps that configuration
for the life of the process. Importing pyvips earlier is harmless; rendering text earlier is
not (the process would keep the host's fonts).
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pyvips

from ..shipped import SHIPPED_FONTS

FONTS_DIR = SHIPPED_FONTS
FONTS_CONF = FONTS_DIR / "fonts.conf"
# `templates.fonts_dir` travels in its own environment variable: the CLI exports it before
# libvips starts, and spawned workers inherit it before they import this package.
FONTS_DIR_ENV = "PICSTREAM_TEMPLATES_FONTS_DIR"
FONT_SUFFIXES = (".ttf", ".otf")

# Modest operation-cache limits: renders differ per request, so a big cache only holds
# memory; a small one still reuses repeated template art and text within a burst.
CACHE_MAX_OPS = 200
CACHE_MAX_MEM_BYTES = 64 * 1024 * 1024
CACHE_MAX_FILES = 20

# Loaders re-enabled after blocking every VipsForeignLoad (names checked against libvips
# 8.18's class tree). SVG only from a buffer or source: from a file path librsvg can reach
# sibling files (DESIGN.md, "Security facts"). Everything else stays blocked, TIFF included.
ALLOWED_LOADERS = (
    "VipsForeignLoadJpeg",        # jpegload, jpegload_buffer, jpegload_source
    "VipsForeignLoadPng",         # pngload*
    "VipsForeignLoadWebp",        # webpload*
    "VipsForeignLoadNsgif",       # gifload*
    "VipsForeignLoadHeif",        # heifload* (AVIF)
    "VipsForeignLoadSvgBuffer",   # svgload_buffer
    "VipsForeignLoadSvgSource",   # svgload_source
)


def setup_vips(fonts_conf: Path | None = None) -> None:
    """Point fontconfig at the shipped fonts, bound the cache and block untrusted loaders.

    Idempotent: every step sets a value rather than toggling one, so calling it again (from
    tests, the CLI and the server in one process) does no harm.
    """
    conf = (fonts_conf or fonts_dir() / "fonts.conf").resolve()
    if not conf.is_file():
        raise FileNotFoundError(f"fontconfig file not found: {conf}")
    # os.environ calls putenv(), so fontconfig's getenv() in the same process sees it.
    os.environ["FONTCONFIG_FILE"] = str(conf)

    pyvips.cache_set_max(CACHE_MAX_OPS)
    pyvips.cache_set_max_mem(CACHE_MAX_MEM_BYTES)
    pyvips.cache_set_max_files(CACHE_MAX_FILES)

    # Untrusted first (it does not cover TIFF), then every loader, then the allow list.
    # Non-loader operations (text, black, new_from_memory, saves) are not affected.
    pyvips.block_untrusted_set(True)
    pyvips.operation_block_set("VipsForeignLoad", True)
    for name in ALLOWED_LOADERS:
        pyvips.operation_block_set(name, False)


def bound_vips_cache(max_ops: int, max_bytes: int) -> None:
    """libvips' operation cache bounds from config (`cache.vips_max_ops`, `vips_max_bytes`)."""
    pyvips.cache_set_max(max_ops)
    pyvips.cache_set_max_mem(max_bytes)


def vips_version() -> str:
    """The libvips version as "major.minor.micro"."""
    return ".".join(str(pyvips.version(i)) for i in range(3))


def fonts_dir() -> Path:
    """The fonts folder in use: `templates.fonts_dir` when set, else the shipped fonts."""
    return Path(os.environ.get(FONTS_DIR_ENV) or FONTS_DIR).resolve()


def font_files(folder: Path | None = None) -> list[tuple[Path, str]]:
    """Each font file in use with its family name, read from its `name` table."""
    out = []
    for path in sorted((folder or fonts_dir()).iterdir()):
        if path.suffix.lower() in FONT_SUFFIXES:
            try:
                family = _family_name(path)
            except (OSError, ValueError, UnicodeError, struct.error):
                continue        # a damaged file dropped into the folder names no family
            if family:
                out.append((path, family))
    return out


def font_families(folder: Path | None = None) -> set[str]:
    """Family names of the font files in use."""
    return {family for _, family in font_files(folder)}


def in_family(font: str, family: str) -> bool:
    """Whether a font name ("Inter Bold") names `family` ("Inter"), case aside."""
    name, family = font.strip().lower(), family.lower()
    return name == family or name.startswith(family + " ")


def _family_name(path: Path) -> str | None:
    """The typographic family (name ID 16) or else the legacy family (ID 1) of one font file.

    A few dozen lines of struct instead of fontTools (not a dependency) and instead of
    fc-list (absent from slim images); it seeks, so the 11 MB emoji file costs two reads.
    """
    with path.open("rb") as f:
        head = f.read(12)
        if len(head) < 12:
            return None
        (num_tables,) = struct.unpack(">H", head[4:6])
        records = f.read(16 * num_tables)
        name_offset = None
        for i in range(num_tables):
            tag, _checksum, offset, _length = struct.unpack(">4sIII", records[16 * i:16 * i + 16])
            if tag == b"name":
                name_offset = offset
                break
        if name_offset is None:
            return None
        f.seek(name_offset)
        _fmt, count, string_offset = struct.unpack(">HHH", f.read(6))
        entries = f.read(12 * count)
        found: dict[int, str] = {}
        for i in range(count):
            platform, encoding, language, name_id, length, offset = struct.unpack(
                ">HHHHHH", entries[12 * i:12 * i + 12])
            # Windows, Unicode BMP, US English: present in every font we ship.
            if name_id in (1, 16) and (platform, encoding, language) == (3, 1, 0x409):
                f.seek(name_offset + string_offset + offset)
                found[name_id] = f.read(length).decode("utf-16-be", errors="replace")
        return found.get(16) or found.get(1)
