"""RenderSpec and OutputOptions: a request parsed into pure, validated data."""

from __future__ import annotations

from dataclasses import dataclass

CONTENT_TYPES = {
    "webp": "image/webp",
    "avif": "image/avif",
    "png": "image/png",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
}


@dataclass(frozen=True)
class OutputOptions:
    """What to encode: format, optional size (aspect kept unless both), quality, dpr."""

    format: str = "png"              # one of CONTENT_TYPES (never "auto" here)
    width: int | None = None
    height: int | None = None
    quality: int | None = None       # None: the encoder table's default
    dpr: float = 1.0                 # 1..4: text and vectors drawn at that scale
