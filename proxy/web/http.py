"""Pure HTTP helpers: Accept negotiation and the cache key (validators: web/freshness.py)."""

from __future__ import annotations

# The Accept header is unsigned: reduce it to a few buckets so nobody can multiply cache
# entries with made-up values; the bucket (not the header) is part of the cache key.
AUTO_BUCKETS = ("avif", "webp")


def accepted_media(accept: str) -> list[str]:
    """The media types an Accept header allows (q > 0), in its order; at most 32 are read."""
    accepted: list[str] = []
    for part in accept.lower().split(",")[:32]:
        media, _, params = part.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q > 0:
            accepted.append(media.strip())
    return accepted


def negotiate_format(accept: str, fallback: str) -> str:
    """avif or webp when Accept names them (with q > 0), else `fallback` (jpeg or png)."""
    accepted = set(accepted_media(accept))
    for fmt in AUTO_BUCKETS:
        if f"image/{fmt}" in accepted:
            return fmt
    return fallback


def cache_key(canonical: str, version: str, fmt: str) -> str:
    """The key of a render in every cache tier: the canonical URL, template version, format."""
    return f"{canonical}\n{version}\n{fmt}"
