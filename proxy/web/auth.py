"""API keys: `Authorization: Bearer KEY` checked against the sha256 hashes in `api.keys`."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import BadApiKey, ConfigError, Unauthorized

_ENTRY = re.compile(r"([A-Za-z0-9_.-]{1,64}):([0-9a-f]{64})")
# Any printable ASCII token; a longer header is refused before hashing (no unbounded work).
_MAX_KEY_CHARS = 512


@dataclass(frozen=True)
class ApiKey:
    """One configured key: a name (for logs and metrics) and the sha256 of the key."""

    name: str
    digest: bytes


def parse_keys(entries: Sequence[str]) -> tuple[ApiKey, ...]:
    """`name:sha256hex` entries as ApiKeys; ConfigError names the setting on a bad one."""
    keys: list[ApiKey] = []
    for position, entry in enumerate(entries):
        match = _ENTRY.fullmatch(entry.strip())
        if match is None:
            # The entry itself is not echoed: a pasted raw key would end up in a log.
            raise ConfigError(f"api.keys (PICSTREAM_API_KEYS): entry {position} is not "
                              "`name:<64 lowercase hex digits>` (see `picstream keygen --api`)")
        keys.append(ApiKey(match.group(1), bytes.fromhex(match.group(2))))
    return tuple(keys)


def authenticate(authorization: str | None, keys: Sequence[ApiKey]) -> str:
    """The name of the key in an `Authorization: Bearer` header; 401 without one, 403 if wrong."""
    if not keys:
        raise Unauthorized("the API is disabled: no api.keys are configured")
    if not authorization:
        raise Unauthorized("an API key is required: Authorization: Bearer <key>")
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("an API key is required: Authorization: Bearer <key>")
    return check_key(token, keys)


def check_key(token: str, keys: Sequence[ApiKey]) -> str:
    """The name of the configured key `token` is; 403 (BadApiKey) when it is none of them."""
    if len(token) > _MAX_KEY_CHARS or not token.isascii():
        raise BadApiKey("invalid API key")
    given = hashlib.sha256(token.encode("ascii")).digest()
    # Compare against every stored hash (no early exit), so timing says nothing about which
    # key or how many bytes matched.
    found: str | None = None
    for key in keys:
        if hmac.compare_digest(given, key.digest) and found is None:
            found = key.name
    if found is None:
        raise BadApiKey("invalid API key")
    return found
