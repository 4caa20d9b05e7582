"""PicStream: personalized images rendered on the fly from signed URLs.

Public surface: `sign_url()` and `sign_srcset()` (mint signed image URLs) and `__version__`;
rendering lives in `proxy.render.render` (imported on demand so signing never loads libvips).
"""

from __future__ import annotations

from .urls import sign_srcset, sign_url

__version__ = "0.1.0"

__all__ = ["__version__", "sign_srcset", "sign_url"]
