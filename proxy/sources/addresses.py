"""Pure host and IP classification for remote sources: deny table, odd IPv4 forms, host lists."""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

import idna

IPAddress = IPv4Address | IPv6Address

# An explicit table, not `ipaddress.is_global`: DESIGN "Security facts" measured that is_global
# is True for 224.0.0.1, NAT64, 6to4 and ::127.0.0.1, and 100.64/10 is not is_private.
DENIED_V4: tuple[tuple[IPv4Network, str], ...] = tuple(
    (IPv4Network(net), reason) for net, reason in (
        ("0.0.0.0/8", "this network"),
        ("10.0.0.0/8", "private"),
        ("100.64.0.0/10", "carrier-grade NAT"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local"),
        ("172.16.0.0/12", "private"),
        ("192.0.0.0/24", "IETF protocol assignments"),
        ("192.0.2.0/24", "documentation"),
        ("192.88.99.0/24", "6to4 relay anycast"),
        ("192.168.0.0/16", "private"),
        ("198.18.0.0/15", "benchmarking"),
        ("198.51.100.0/24", "documentation"),
        ("203.0.113.0/24", "documentation"),
        ("224.0.0.0/4", "multicast"),
        ("240.0.0.0/4", "reserved"),
        ("255.255.255.255/32", "broadcast"),
    )
)

DENIED_V6: tuple[tuple[IPv6Network, str], ...] = tuple(
    (IPv6Network(net), reason) for net, reason in (
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        # Local-use NAT64 (RFC 8215): the operator picks where the IPv4 sits, so it cannot be
        # unwrapped reliably; refused outright.
        ("64:ff9b:1::/48", "local-use NAT64"),
        ("100::/64", "discard-only"),
        # Teredo tunnels reach an obfuscated client IPv4 through a relay: refused whatever it is.
        ("2001::/32", "Teredo"),
        ("2001:2::/48", "benchmarking"),
        ("2001:10::/28", "ORCHID"),
        ("2001:20::/28", "ORCHIDv2"),
        ("2001:db8::/32", "documentation"),
        ("3fff::/20", "documentation"),
        ("5f00::/16", "segment routing"),
        ("fc00::/7", "unique local"),
        ("fe80::/10", "link-local"),
        ("fec0::/10", "site-local"),
        ("ff00::/8", "multicast"),
    )
)

_LOOPBACK_ALLOWED = (IPv4Address("127.0.0.1"), IPv6Address("::1"))

_MAPPED = IPv6Network("::ffff:0:0/96")
_COMPATIBLE = IPv6Network("::/96")
_NAT64 = IPv6Network("64:ff9b::/96")
_SIX_TO_FOUR = IPv6Network("2002::/16")
_TEREDO = IPv6Network("2001::/32")

# WHATWG URL rule: a host whose last label is a number is parsed as IPv4 by browsers and by
# inet_aton (decimal 2130706433, octal 0177.0.0.1, hex 0x7f.1, short 127.1).
_NUMERIC_LABEL = re.compile(r"^(?:0[xX][0-9a-fA-F]*|[0-9]+)$")
_DOTTED_QUAD = re.compile(r"^(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
                          r"(?:\.(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}$")
# Full stops that IDNA maps to "." (UTS #46): "127。0。0。1" is 127.0.0.1 to yarl.
_DOTS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})


@dataclass(frozen=True)
class AllowedNetwork:
    """One `sources.allow_networks` entry: private addresses an operator vouches for."""

    network: IPv4Network | IPv6Network
    port: int | None                      # None: any port

    def admits(self, ip: IPAddress, port: int | None) -> bool:
        """Same IP version (a mapped or tunnelled form never matches), in the network, and
        the port when one is named (an unknown port never matches a named one)."""
        return (ip.version == self.network.version and ip in self.network
                and (self.port is None or self.port == port))


# Never allowed, whatever the operator lists: cloud metadata lives in link-local space
# (169.254.169.254, fe80::), and multicast, broadcast and "this network" are not hosts.
_NEVER_ALLOWED = (IPv4Network("0.0.0.0/8"), IPv4Network("169.254.0.0/16"),
                  IPv4Network("224.0.0.0/3"), IPv6Network("::/128"), IPv6Network("fe80::/10"),
                  IPv6Network("ff00::/8"))
_WIDEST_PREFIX = {4: 8, 6: 32}   # 10.0.0.0/8 is the widest private range worth allowing


def parse_allowed_network(text: str) -> AllowedNetwork:
    """`10.1.2.0/24:443`, `10.1.2.7` (any port), `[fd00:1::/64]:8443` or `fd00:1::/64`."""
    raw = text.strip()
    port: int | None = None
    if raw.startswith("["):
        inside, sep, rest = raw[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(f"{text!r}: expected [ipv6/prefix]:port")
        raw, port_text = inside, rest[1:] if rest else ""
    elif raw.count(":") == 1:
        raw, port_text = raw.split(":")
    else:
        port_text = ""
    if port_text:
        if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
            raise ValueError(f"{text!r}: port must be 1..65535")
        port = int(port_text)
    try:
        network = ipaddress.ip_network(raw, strict=True)
    except ValueError as exc:
        raise ValueError(f"{text!r}: not a network ({exc})") from None
    if network.prefixlen < _WIDEST_PREFIX[network.version]:
        raise ValueError(f"{text!r}: wider than /{_WIDEST_PREFIX[network.version]}; "
                         "list the networks your image hosts are in")
    for never in _NEVER_ALLOWED:
        if network.version == never.version and network.overlaps(never):
            raise ValueError(f"{text!r}: overlaps {never}, which is never fetched from "
                             "(cloud metadata, multicast, broadcast)")
    return AllowedNetwork(network, port)


class OddHost(ValueError):
    """A host that is an IPv4 address in disguise or not a valid host name."""


def embedded_ipv4(ip: IPv6Address) -> tuple[str, IPv4Address] | None:
    """The IPv4 inside an IPv6 transition form (mapped, compatible, NAT64, 6to4, Teredo)."""
    if ip in _MAPPED:
        return "IPv4-mapped", IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _NAT64:
        return "NAT64", IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _SIX_TO_FOUR:
        return "6to4", IPv4Address((int(ip) >> 80) & 0xFFFFFFFF)
    if ip in _TEREDO:
        # RFC 4380: the client address is the last 32 bits, bit-inverted.
        return "Teredo", IPv4Address(~int(ip) & 0xFFFFFFFF)
    if ip in _COMPATIBLE and int(ip) > 1:
        return "IPv4-compatible", IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_forbidden(ip: IPAddress, *, allow_loopback: bool,
                 allow: tuple[AllowedNetwork, ...] = (), port: int | None = None) -> str | None:
    """Why a source may not be fetched from `ip` (on `port`), or None when it may.

    `allow_loopback` (tests only) admits exactly 127.0.0.1 and ::1, nothing else of 127/8, so
    a canary on 127.0.0.2 stays unreachable even in tests. `allow` (`sources.allow_networks`)
    admits the operator's private image hosts, on the listed port only when one is given.
    """
    if isinstance(ip, IPv6Address) and ip.scope_id:
        ip = IPv6Address(ip.compressed.split("%", 1)[0])
    if allow_loopback and ip in _LOOPBACK_ALLOWED:
        return None
    if any(entry.admits(ip, port) for entry in allow):
        return None
    if isinstance(ip, IPv4Address):
        for net4, reason in DENIED_V4:
            if ip in net4:
                return reason
        return None
    inner = embedded_ipv4(ip)
    if inner is not None:
        form, v4 = inner
        v4_reason = _v4_reason(v4)
        if v4_reason is not None:
            return f"{form} {v4_reason}"
    for net6, reason in DENIED_V6:
        if ip in net6:
            return reason
    if ip.is_reserved and inner is None:
        # ::/8 and friends not listed above (e.g. ::2): nothing legitimate lives there.
        return "reserved"
    return None


def _v4_reason(v4: IPv4Address) -> str | None:
    for net, reason in DENIED_V4:
        if v4 in net:
            return reason
    return None


def parse_ip(host: str) -> IPAddress | None:
    """The address when `host` is an IP literal (brackets allowed), else None."""
    text = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def check_host_form(host: str) -> None:
    """Raise OddHost for IPv4 written any way but a plain dotted quad, incl. non-ASCII digits."""
    folded = "".join(_ascii_digit(c) for c in unicodedata.normalize("NFKC", host).translate(_DOTS))
    if not folded.isascii():
        return  # a real IDN name: IDNA and the resolver check handle it
    name = folded.rstrip(".")
    labels = name.split(".")
    if not _NUMERIC_LABEL.match(labels[-1]):
        return
    if not host.isascii():
        raise OddHost(f"host {host!r} spells an IPv4 address with non-ASCII characters")
    if not _DOTTED_QUAD.match(name):
        raise OddHost(f"host {host!r} is an IPv4 address in a non-standard form")


def _ascii_digit(char: str) -> str:
    value = unicodedata.decimal(char, None)
    return char if value is None or char.isascii() else str(value)


def normalize_host(host: str) -> str:
    """Lower-case ASCII (IDNA) form of a host name without its trailing dot."""
    name = host.strip().rstrip(".").lower()
    if not name:
        raise OddHost("empty host")
    if name.isascii():
        return name
    try:
        return idna.encode(name, uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise OddHost(f"host {host!r} is not a valid IDNA name") from exc


def _matches(host: str, pattern: str) -> bool:
    if pattern.startswith("*."):
        suffix = normalize_host(pattern[2:])
        return host.endswith("." + suffix)
    return host == normalize_host(pattern)


def host_allowed(host: str, allow_hosts: Iterable[str], deny_hosts: Iterable[str]) -> bool:
    """True unless the host is denied, or an allow list exists and does not name it.

    Patterns are exact names or `*.suffix` (any subdomain, not the suffix itself); matching is
    case-insensitive, ignores a trailing dot and compares IDNA forms.
    """
    try:
        name = normalize_host(host)
    except OddHost:
        return False
    if any(_matches(name, p) for p in deny_hosts):
        return False
    allow = tuple(allow_hosts)
    return not allow or any(_matches(name, p) for p in allow)
