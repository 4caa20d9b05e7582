"""Mint signed PicStream image URLs from Python, standard library only.

For apps that do not install the server (`proxy.sign_url` also validates values against the
server's limits). Spec and test vectors: docs/signing.md.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from urllib.parse import quote

SALT = b"picstream.url.v1"

Value = str | int | float | bool


def _text(value: Value) -> str:
    # bool before int (bool is an int); a whole float loses ".0" (dpr 2.0 is "2").
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def canonical(template: str, fmt: str, params: Mapping[str, Value] | None = None) -> str:
    """The signed string: "template.fmt?name=value&...", pairs sorted by name."""
    fmt = "jpeg" if fmt == "jpg" else fmt   # one name per format: a .jpg URL is redirected
    pairs = sorted((name, _text(value)) for name, value in (params or {}).items())
    query = "&".join(f"{quote(n, safe='')}={quote(v, safe='')}" for n, v in pairs)
    return f"{template}.{fmt}?{query}" if query else f"{template}.{fmt}"


def signature(canonical_form: str, key: str) -> str:
    """HMAC-SHA256 with a key derived from the salt (itsdangerous's "hmac"), base64url."""
    derived = hmac.new(key.encode(), SALT, hashlib.sha256).digest()
    mac = hmac.new(derived, canonical_form.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")


def sign_path(template: str, fmt: str, params: Mapping[str, Value], key: str) -> str:
    """"/i/{signature}/{canonical}"."""
    c = canonical(template, fmt, params)
    return f"/i/{signature(c, key)}/{c}"


def sign_url(base_url: str, template: str, fmt: str, params: Mapping[str, Value],
             key: str) -> str:
    """sign_url("https://img.example.com", "social-card", "webp", {"name": "Ada", "w": 600}, key)"""
    return base_url.rstrip("/") + sign_path(template, fmt, params, key)
