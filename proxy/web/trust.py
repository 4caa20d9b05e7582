"""What a request may claim about itself: forwarded scheme from trusted proxies, and whether
it comes from this host directly (not relayed), for the operator-only views."""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Sequence
from functools import lru_cache

from aiohttp import web

from ..errors import OperatorOnly

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))


@lru_cache(maxsize=16)
def networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    """`server.trusted_proxies` entries (addresses or CIDR networks) as networks."""
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries)


def _remote_in(request: web.Request, nets: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address((request.remote or "").split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in net for net in nets)


def is_https(request: web.Request, trusted_proxies: tuple[str, ...]) -> bool:
    """The client's connection is TLS: directly, or per `X-Forwarded-Proto` from a trusted
    proxy (anyone else could send the header)."""
    if request.secure:
        return True
    if not _remote_in(request, networks(trusted_proxies)):
        return False
    proto = request.headers.get("X-Forwarded-Proto", "")
    return proto.split(",", 1)[0].strip().lower() == "https"


def is_direct_local(request: web.Request) -> bool:
    """From this host and not relayed by a proxy (nginx always adds `X-Forwarded-For`)."""
    forwarded = any(h in request.headers for h in ("X-Forwarded-For", "Forwarded",
                                                    "X-Real-Ip"))
    return not forwarded and _remote_in(request, _LOOPBACK)


def is_operator(request: web.Request, token: str) -> bool:
    """An operator's request: `Authorization: Bearer <token>` when a token is configured,
    else a direct request from this host."""
    if token:
        scheme, _, given = request.headers.get("Authorization", "").strip().partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode("utf-8", "surrogateescape"), token.encode("utf-8"))
    return is_direct_local(request)


def require_operator(request: web.Request, token: str) -> None:
    """Raise OperatorOnly unless `is_operator`."""
    if not is_operator(request, token):
        raise OperatorOnly("operators only: send the metrics token, or ask from the host itself")
