"""Validators and lifetime of an image response, decided in one place from what was drawn.

Every cache between us and the viewer (nginx, a CDN, the browser) believes these headers, so
each rule below closes a way they could lie:

- The real image's ETag is known before rendering (a hash of the cache key), so a 304 needs
  no render. A render that drew a fallback is another image: it gets its own ETag, derived
  from the key and the fallback's reason, so `If-None-Match` with it never matches the real
  image's tag and a cache revalidating a placeholder gets the real image once the source
  works (nginx's `proxy_cache_revalidate` would otherwise keep the placeholder forever).
- A URL with `exp` is refused (410) from `exp` on, so no lifetime outlives it: max-age plus
  stale-while-revalidate end at `exp`, and such a URL is never `immutable`.
- Errors are `no-store` (web/middleware.py and web/protocol.py).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

from ..config import Cache

ONE_YEAR_S = 31536000


def etag(key: str) -> str:
    """A strong ETag: a hash of the cache key (plus the fallback's reason, if one was drawn)."""
    return '"' + hashlib.sha256(key.encode("utf-8")).hexdigest()[:32] + '"'


def drawn_etag(key: str, fallback_reason: str | None) -> str:
    """The ETag of what was drawn: the real image's tag, or a fallback's own tag."""
    if fallback_reason is None:
        return etag(key)
    return etag(f"{key}\nfallback\n{fallback_reason}")


@dataclass(frozen=True, slots=True)
class Lifetime:
    """What decides how long caches may keep one response."""

    pinned_current: bool            # the URL pins the template version being served
    expires: int | None             # the URL's `exp` (unix seconds), if any
    fallback: bool = False          # a source failed and its fallback was drawn


def cache_control(lifetime: Lifetime, cache: Cache, now: float) -> str:
    """Cache-Control for an image: immutable only when pinned and never expiring."""
    if lifetime.fallback:
        max_age, stale = cache.fallback_max_age_s, 0
    elif lifetime.pinned_current:
        max_age, stale = ONE_YEAR_S, 0
    else:
        max_age, stale = cache.max_age_s, cache.stale_while_revalidate_s
    if lifetime.expires is None:
        if lifetime.pinned_current and not lifetime.fallback:
            return f"public, max-age={ONE_YEAR_S}, immutable"
    else:
        # floor: a cache that stores at `now` must drop the entry no later than `exp`.
        left_s = max(0, math.floor(lifetime.expires - now))
        max_age = min(max_age, left_s)
        stale = min(stale, left_s - max_age)
    if stale > 0:
        return f"public, max-age={max_age}, stale-while-revalidate={stale}"
    return f"public, max-age={max_age}"


def is_not_modified(if_none_match: str | None, current: str) -> bool:
    """RFC 9110 weak comparison for If-None-Match: `*`, or any listed tag equal to ours."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    bare = current.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == bare for tag in if_none_match.split(",")[:64])
