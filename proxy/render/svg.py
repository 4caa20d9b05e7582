"""Placeholder while the real drawer is written."""

from __future__ import annotations

from typing import Any

from .context import DrawContext
from .patch import Patch


def draw_svg(layer: Any, ctx: DrawContext) -> Patch | None:
    """Not implemented yet."""
    return None
