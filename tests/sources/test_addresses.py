"""The deny table, IPv6 unwrapping, odd IPv4 host forms and host allow/deny patterns."""

from __future__ import annotations

from ipaddress import ip_address

import pytest

from proxy.sources.addresses import (
    OddHost,
    check_host_form,
    host_allowed,
    is_forbidden,
    parse_allowed_network,
)

DENIED = [
    "0.0.0.0", "0.1.2.3", "10.0.0.1", "100.64.0.1", "100.127.255.254", "127.0.0.1",
    "127.0.0.2", "127.255.255.255", "169.254.169.254", "172.16.0.1", "172.31.255.255",
    "192.0.0.8", "192.0.2.1", "192.88.99.1", "192.168.1.1", "198.18.0.1", "198.19.255.255",
    "198.51.100.7", "203.0.113.9", "224.0.0.1", "239.255.255.250", "240.0.0.1",
    "255.255.255.255",
    "::", "::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254",
    "::127.0.0.1", "::10.0.0.1", "::2",
    "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe", "64:ff9b:1::1", "64:ff9b:1::5db8:d822",
    "2002:7f00:1::", "2002:a00:1::1", "2002:c0a8:101::1",
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo, public client: still refused
    "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo, client 127.0.0.1 (inverted)
    "fc00::1", "fd12:3456::1", "fe80::1", "fe80::1%eth0", "fec0::1", "ff02::1", "ff05::2",
    "100::1", "2001:db8::1", "2001:db8:ffff::1",
]

ALLOWED = [
    "93.184.216.34", "1.1.1.1", "8.8.8.8", "100.63.255.255", "100.128.0.0", "172.32.0.1",
    "2606:2800:220:1::", "2a00:1450:4001:81c::200e", "::ffff:93.184.216.34",
    "64:ff9b::5db8:d822", "2002:5db8:d822::1",
]


@pytest.mark.parametrize("text", DENIED)
def test_denied_address_has_a_reason(text: str) -> None:
    assert is_forbidden(ip_address(text), allow_loopback=False)


@pytest.mark.parametrize("text", ALLOWED)
def test_public_address_is_allowed(text: str) -> None:
    assert is_forbidden(ip_address(text), allow_loopback=False) is None


@pytest.mark.parametrize("text", ["127.0.0.1", "::1"])
def test_allow_loopback_admits_exactly_the_canonical_loopback(text: str) -> None:
    assert is_forbidden(ip_address(text), allow_loopback=True) is None


@pytest.mark.parametrize("text", ["127.0.0.2", "::ffff:127.0.0.1", "::127.0.0.1",
                                  "64:ff9b::7f00:1", "10.0.0.1", "169.254.169.254"])
def test_allow_loopback_keeps_everything_else_refused(text: str) -> None:
    assert is_forbidden(ip_address(text), allow_loopback=True)


@pytest.mark.parametrize(("text", "reason"), [
    ("::ffff:127.0.0.1", "IPv4-mapped loopback"),
    ("64:ff9b::a9fe:a9fe", "NAT64 link-local"),
    ("2002:c0a8:101::1", "6to4 private"),
    ("2001:0:4136:e378:8000:63bf:80ff:fffe", "Teredo loopback"),
])
def test_unwrapped_ipv4_names_the_form_in_the_reason(text: str, reason: str) -> None:
    assert is_forbidden(ip_address(text), allow_loopback=False) == reason


@pytest.mark.parametrize("host", [
    "2130706433", "0x7f.1", "0x7f000001", "0177.0.0.1", "127.1", "127.0.1", "1.2.3.4.5",
    "0127.0.0.1", "127.0.0.01", "256.0.0.1", "\uff11\uff12\uff17.\uff10.\uff10.\uff11",
    "127\u30020\u30020\u30021", "\u0661\u0662\u0667.0.0.1", "xn--9hbcp.0.0.1", "example.0x1",
])
def test_odd_ipv4_host_forms_are_rejected(host: str) -> None:
    with pytest.raises(OddHost):
        check_host_form(host)


@pytest.mark.parametrize("host", ["127.0.0.1", "93.184.216.34", "example.com", "a.b.c.d",
                                  "b\u00fccher.de", "xn--bcher-kva.de", "1example.com",
                                  "93.184.216.34."])
def test_plain_hosts_pass_the_form_check(host: str) -> None:
    check_host_form(host)


@pytest.mark.parametrize(("host", "allow", "deny", "expected"), [
    ("example.com", (), (), True),
    ("EXAMPLE.com.", ("example.com",), (), True),
    ("img.example.com", ("*.example.com",), (), True),
    ("a.b.example.com", ("*.example.com",), (), True),
    ("example.com", ("*.example.com",), (), False),
    ("badexample.com", ("*.example.com",), (), False),
    ("other.org", ("example.com",), (), False),
    ("img.example.com", ("*.example.com",), ("img.example.com",), False),
    ("x.EVIL.test.", (), ("*.evil.test",), False),
    ("evil.test", (), ("*.evil.test",), True),
    ("B\u00dcCHER.de", ("b\u00fccher.de",), (), True),
    ("xn--bcher-kva.de", ("b\u00fccher.de",), (), True),
    ("b\u00fccher.de", (), ("xn--bcher-kva.de",), False),
])
def test_host_allowed_patterns(host: str, allow: tuple[str, ...], deny: tuple[str, ...],
                               expected: bool) -> None:
    assert host_allowed(host, allow, deny) is expected


# --- sources.allow_networks -------------------------------------------------------------

@pytest.mark.parametrize(("text", "network", "port"), [
    ("10.1.2.0/24:443", "10.1.2.0/24", 443),
    ("10.1.2.7", "10.1.2.7/32", None),
    (" 192.168.0.0/16 ", "192.168.0.0/16", None),
    ("[fd00:1::/64]:8443", "fd00:1::/64", 8443),
    ("fd00:1::/64", "fd00:1::/64", None),
    ("127.0.0.0/8:8080", "127.0.0.0/8", 8080),
])
def test_allowed_network_forms(text: str, network: str, port: int | None) -> None:
    entry = parse_allowed_network(text)
    assert (str(entry.network), entry.port) == (network, port)


@pytest.mark.parametrize("text", [
    "10.1.2.0/24:0", "10.1.2.0/24:70000", "10.1.2.0/24:https", "10.1.2.1/24",   # host bits set
    "0.0.0.0/0", "10.0.0.0/7", "::/0", "fd00::/8",                               # too wide
    "169.254.169.254", "169.254.0.0/16:80", "fe80::/64", "224.0.0.0/8", "ff02::1",
    "0.0.0.0/8", "[fd00::/64", "example.com:443", "",
])
def test_refused_allowed_network_entries(text: str) -> None:
    with pytest.raises(ValueError):
        parse_allowed_network(text)


def test_allowed_network_admits_its_addresses_on_its_port_only() -> None:
    allow = (parse_allowed_network("10.1.2.0/24:443"), parse_allowed_network("[fd00:1::/64]:8443"))
    assert is_forbidden(ip_address("10.1.2.7"), allow_loopback=False, allow=allow,
                        port=443) is None
    assert is_forbidden(ip_address("10.1.2.7"), allow_loopback=False, allow=allow, port=22)
    assert is_forbidden(ip_address("10.1.2.7"), allow_loopback=False, allow=allow, port=None)
    assert is_forbidden(ip_address("10.1.3.7"), allow_loopback=False, allow=allow, port=443)
    # the IPv4 in another form is not the allowed host: refused as before
    assert is_forbidden(ip_address("::ffff:10.1.2.7"), allow_loopback=False, allow=allow,
                        port=443)
    assert is_forbidden(ip_address("fd00:1::5"), allow_loopback=False, allow=allow,
                        port=8443) is None
    assert is_forbidden(ip_address("fd00:2::5"), allow_loopback=False, allow=allow, port=8443)
    any_port = (parse_allowed_network("10.1.2.0/24"),)
    assert is_forbidden(ip_address("10.1.2.7"), allow_loopback=False, allow=any_port,
                        port=22) is None
