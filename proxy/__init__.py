"""PicStream: personalized images rendered on the fly from signed URLs."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
