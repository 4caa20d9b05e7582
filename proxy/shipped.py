"""Where the shipped templates, fonts and default config are: in the wheel, or in a clone.

A built wheel carries the top-level `templates/` and `config/` folders (and `nginx.conf`, which
`picstream init` renders) as package data under
`proxy/_data/` (setup.py copies them at build time; the repository layout stays as it is). A
clone or an editable install has no `_data`, so the folders are read where they live. Paths,
not `importlib.resources` traversables: fontconfig and libvips open the files by name, and
pip always installs wheels unzipped.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
_IN_WHEEL = PACKAGE_DIR / "_data"
_IN_CLONE = PACKAGE_DIR.parent


def shipped_dir(name: str) -> Path:
    """The shipped `templates`, `config` or `nginx.conf`: the wheel's, else the clone's."""
    inside = _IN_WHEEL / name
    return inside if inside.exists() else _IN_CLONE / name


SHIPPED_TEMPLATES = shipped_dir("templates")
SHIPPED_FONTS = SHIPPED_TEMPLATES / "fonts"
DEFAULT_CONFIG = shipped_dir("config") / "default.toml"
SHIPPED_NGINX_CONF = shipped_dir("nginx.conf")
