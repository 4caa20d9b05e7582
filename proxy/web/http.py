"""Pure HTTP helpers: ETag, Cache-Control, Accept negotiation, conditional requests."""

from __future__ import annotations

import hashlib

from ..config import Cache

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


def etag(key: str) -> str:
    """A strong ETag known before rendering: a hash of the cache key."""
    return '"' + hashlib.sha256(key.encode("utf-8")).hexdigest()[:32] + '"'


def cache_control(*, pinned_current: bool, fallback: bool, cache: Cache) -> str:
    """Immutable for a URL pinning the current version; shorter otherwise; short on fallback."""
    if fallback:
        return f"public, max-age={cache.fallback_max_age_s}"
    if pinned_current:
        return "public, max-age=31536000, immutable"
    return (f"public, max-age={cache.max_age_s}, "
            f"stale-while-revalidate={cache.stale_while_revalidate_s}")


def is_not_modified(if_none_match: str | None, current: str) -> bool:
    """RFC 9110 weak comparison for If-None-Match: `*`, or any listed tag equal to ours."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    bare = current.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == bare for tag in if_none_match.split(",")[:64])
