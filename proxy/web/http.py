"""Pure HTTP helpers: Accept negotiation and the cache key (validators: web/freshness.py)."""

from __future__ import annotations

import re

# The Accept header is unsigned: reduce it to a few buckets so nobody can multiply cache
# entries with made-up values; the bucket (not the header) is part of the cache key.
AUTO_BUCKETS = ("avif", "webp")

# nginx.conf computes the same bucket with one regex per bucket (`$picstream_accept_bucket`),
# so every rule here is one a regex can state: the first 32 comma-separated entries; the
# media range and parameter names compared without case, trimmed of spaces and tabs only
# (RFC 9110's OWS); an entry counts unless a `q` parameter (with or without a value) is not
# a positive qvalue in RFC 9110's grammar (0.001 to 1, three decimals at most). A test feeds
# one table of headers to both (tests/nginx/test_nginx_request.py).
MAX_ACCEPT_ENTRIES = 32
_OWS = " \t"
_POSITIVE_Q = re.compile(r"1(?:\.0{0,3})?|0\.(?=[0-9]{0,2}[1-9])[0-9]{1,3}")


def _allowed(params: list[str]) -> bool:
    for param in params:
        name, _, value = param.partition("=")
        if name.strip(_OWS).lower() == "q" and not _POSITIVE_Q.fullmatch(value.strip(_OWS)):
            return False
    return True


def accepted_media(accept: str) -> list[str]:
    """The media ranges an Accept header allows, lowercased, in its order (32 entries read)."""
    accepted: list[str] = []
    for entry in accept.split(",")[:MAX_ACCEPT_ENTRIES]:
        media, *params = entry.split(";")
        if _allowed(params):
            accepted.append(media.strip(_OWS).lower())
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
