"""Signed image URLs: sign a RenderSpec's canonical form, verify it, rotate keys.

The signature is itsdangerous's HMAC-SHA256 with `key_derivation="hmac"` and a fixed salt:
`base64url_nopad(HMAC(HMAC(key, SALT), canonical))`. docs/signing.md specifies it with test
vectors (tests/vectors/signing.json) so other languages can mint URLs.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping, Sequence

from itsdangerous import Signer

from . import formats
from .config import Limits
from .errors import Expired, Forbidden, InvalidValue, URITooLong
from .spec import RESERVED, RenderSpec, parse_request, url_value

# Changing the salt invalidates every URL ever sent: it names the scheme's version.
SALT = "picstream.url.v1"
UNSAFE_SIGNATURE = "unsafe"
PATH_PREFIX = "/i/"


def generate_key() -> str:
    """A new random signing key (32 bytes, URL-safe base64)."""
    return secrets.token_urlsafe(32)


def _signature(canonical: str, key: str) -> str:
    # One key per Signer: itsdangerous signs with the LAST key of its list while our config
    # lists the newest FIRST, so passing the tuple through would sign with the oldest key.
    signer = Signer(key, salt=SALT, digest_method=hashlib.sha256, key_derivation="hmac")
    return signer.get_signature(canonical).decode("ascii")


def sign(spec: RenderSpec, keys: Sequence[str]) -> str:
    """The signature of `spec` with the newest key (`keys[0]`): 43 base64url characters."""
    if not keys:
        raise ValueError("no signing keys configured (signing.keys)")
    return _signature(spec.canonical(), keys[0])


def sign_path(spec: RenderSpec, keys: Sequence[str]) -> str:
    """The signed path `/i/{sig}/{template}.{fmt}?{canonical query}`."""
    return f"{PATH_PREFIX}{sign(spec, keys)}/{spec.canonical()}"


def verify_raw(sig: str, template: str, fmt: str, pairs: Sequence[tuple[str, str]],
               keys: Sequence[str], *, allow_unsafe: bool) -> str:
    """Check the signature over the decoded pairs; return the image's one canonical path.

    It runs before any value is validated, so an unsigned request learns nothing from the
    validator: a tampered value is a 403, never a 400 that tells which values parse. Valid
    URLs spell every option one way, so the canonical form of the raw pairs equals that of
    the parsed spec. A format alias (`jpg`) was signed as written: its canonical path names
    the format (`jpeg`) and is signed anew with the newest key, so old URLs keep working
    through the redirect while every cache holds the image under one URL.
    """
    spec = RenderSpec(template=template, fmt=fmt, variables=tuple(sorted(pairs)))
    canonical = spec.canonical()
    if sig == UNSAFE_SIGNATURE:
        if not allow_unsafe:
            raise Forbidden("invalid signature")
    elif not _matches(sig, canonical, keys):
        raise Forbidden("invalid signature")
    named = formats.canonical_name(fmt)
    if named != fmt:
        spec = RenderSpec(template=template, fmt=named, variables=spec.variables)
        canonical = spec.canonical()
        if sig != UNSAFE_SIGNATURE:
            sig = sign(spec, keys)
    return f"{PATH_PREFIX}{sig}/{canonical}"


# yarl (the URL type of aiohttp's client) decodes these in a query whatever its caller wrote
# (yarl 1.25), so a redirect to their %-encoded canonical form would loop for every Python
# aiohttp client. That one spelling is accepted too: at most two URLs per image, never more.
_YARL_DECODED = {f"%{ord(c):02X}": c for c in "!$'()*,:@/?"}
_YARL_ESCAPES = re.compile("|".join(re.escape(escape) for escape in _YARL_DECODED))


def yarl_spelling(path: str) -> str:
    """`path` as yarl sends it: the sub-delimiters above left raw in the query."""
    head, sep, query = path.partition("?")
    return head + sep + _YARL_ESCAPES.sub(lambda m: _YARL_DECODED[m[0]], query)


def check_expiry(spec: RenderSpec, *, now: float) -> None:
    """Raise Expired when the (already verified) spec's `exp` has passed."""
    if spec.expires is not None and now >= spec.expires:
        raise Expired("this link has expired")


def _matches(sig: str, canonical: str, keys: Sequence[str]) -> bool:
    # Compare strings against our own encoding instead of itsdangerous's verify_signature,
    # which base64-decodes first and so accepts several spellings of one signature (trailing
    # "=", other values of the last character's unused bits): one image must have one URL,
    # or anyone can multiply CDN cache entries (DESIGN.md, security facts).
    if not sig.isascii():
        return False
    given = sig.encode("ascii")
    ok = False
    for key in keys:
        ok |= hmac.compare_digest(given, _signature(canonical, key).encode("ascii"))
    return ok


def build_spec(template: str, variables: Mapping[str, str | int | float | bool], *,
               fmt: str = "png", width: int | None = None, height: int | None = None,
               quality: int | None = None, dpr: float | None = None,
               version: str | None = None, expires: int | None = None, debug: bool = False,
               limits: Limits | None = None) -> RenderSpec:
    """The RenderSpec a GET of the minted URL parses: the same validation as a request."""
    limits = Limits() if limits is None else limits
    pairs: list[tuple[str, str]] = []
    for name, value in variables.items():
        if name in RESERVED:
            raise InvalidValue(f"{name}: reserved for an output option; use its argument",
                               field=name)
        pairs.append((name, url_value(name, value)))
    options = {"w": width, "h": height, "q": quality, "v": version, "exp": expires}
    for name, option in options.items():
        if option is not None:
            pairs.append((name, url_value(name, option)))
    if dpr is not None:
        pairs.append(("dpr", url_value("dpr", dpr)))
    if debug:
        pairs.append(("debug", "1"))
    # Minted URLs name the format, never an alias: one image, one URL.
    return parse_request(template, formats.canonical_name(fmt), pairs, 0, limits)


def signed_url(spec: RenderSpec, keys: Sequence[str], *, base_url: str = "",
               limits: Limits | None = None) -> str:
    """`base_url` + the signed path of `spec`, refused when longer than the server accepts."""
    limits = Limits() if limits is None else limits
    path = sign_path(spec, keys)
    if len(path) > limits.max_url_bytes:
        raise URITooLong(f"URL longer than {limits.max_url_bytes} bytes")
    return base_url.rstrip("/") + path


def sign_url(template: str, variables: Mapping[str, str | int | float | bool], *,
             keys: Sequence[str], fmt: str = "png", width: int | None = None,
             height: int | None = None, quality: int | None = None,
             dpr: float | None = None, version: str | None = None,
             expires: int | None = None, debug: bool = False, base_url: str = "",
             limits: Limits | None = None) -> str:
    """A signed image URL for `template` with these variables and output options."""
    spec = build_spec(template, variables, fmt=fmt, width=width, height=height,
                      quality=quality, dpr=dpr, version=version, expires=expires, debug=debug,
                      limits=limits)
    return signed_url(spec, keys, base_url=base_url, limits=limits)


def sign_srcset(template: str, variables: Mapping[str, str | int | float | bool], *,
                keys: Sequence[str], fmt: str = "png", width: int | None = None,
                dprs: Sequence[float] = (1, 2), base_url: str = "",
                **options: object) -> str:
    """A `srcset` value, "URL1 1x, URL2 2x": one signed URL per device pixel ratio.

    The 1x URL carries no `dpr`, so it is the same URL (and cache entry) as a plain `src`.
    """
    entries = []
    for dpr in dprs:
        url = sign_url(template, variables, keys=keys, fmt=fmt, width=width,
                       dpr=None if dpr == 1 else float(dpr), base_url=base_url,
                       **options)  # type: ignore[arg-type]
        entries.append(f"{url} {url_value('dpr', float(dpr))}x")
    return ", ".join(entries)
