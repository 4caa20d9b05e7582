"""Signing and verification: vectors, tampering, signature spellings, rotation, expiry."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import string
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from yarl import URL

from proxy.config import Limits
from proxy.errors import BadRequest, Expired, Forbidden, InvalidValue, NotFound, URITooLong
from proxy.spec import RenderSpec, parse_request
from proxy.urls import (
    SALT,
    check_expiry,
    generate_key,
    sign,
    sign_path,
    sign_url,
    verify_raw,
)

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).parent / "vectors" / "signing.json").read_text(encoding="utf-8"))
KEY = "test-key-newest-0123456789abcdef"
OLD_KEY = "test-key-older-fedcba9876543210"
LIMITS = Limits()
NOW = 1_700_000_000.0


def from_path(path: str) -> tuple[str, RenderSpec]:
    """Parse a signed path the way the server does: yarl decodes, parse_request validates."""
    url = URL(path)
    _, _, sig, name = url.path.split("/")
    template, fmt = name.rsplit(".", 1)
    return sig, parse_request(template, fmt, list(url.query.items()), len(path), LIMITS)


def verify(sig: str, spec: RenderSpec, keys: Sequence[str], *, now: float,
           allow_unsafe: bool) -> None:
    """What the GET does: the one verify function over the spec's pairs, then the expiry."""
    verify_raw(sig, spec.template, spec.fmt, spec.params(), keys, allow_unsafe=allow_unsafe)
    check_expiry(spec, now=now)


def check(path: str, keys: tuple[str, ...] = (KEY,), now: float = NOW,
          allow_unsafe: bool = False) -> None:
    sig, spec = from_path(path)
    verify(sig, spec, keys, now=now, allow_unsafe=allow_unsafe)


def vector_spec(vector: dict[str, Any]) -> RenderSpec:
    pairs = [*vector["variables"].items(), *vector["options"].items()]
    return parse_request(vector["template"], vector["fmt"], pairs, 0, LIMITS)


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda v: v["name"])
def test_vector(vector: dict[str, Any]) -> None:
    spec = vector_spec(vector)
    assert spec.canonical() == vector["canonical"]
    assert sign(spec, vector["keys"]) == vector["signature"]
    assert sign_path(spec, vector["keys"]) == vector["path"]
    check(vector["path"], keys=tuple(vector["keys"]))


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda v: v["name"])
def test_vector_signature_matches_the_documented_formula(vector: dict[str, Any]) -> None:
    # docs/signing.md, without itsdangerous: base64url_nopad(HMAC(HMAC(key, salt), canonical)).
    derived = hmac.new(vector["keys"][0].encode(), VECTORS["salt"].encode(), hashlib.sha256)
    mac = hmac.new(derived.digest(), vector["canonical"].encode(), hashlib.sha256).digest()
    assert base64.urlsafe_b64encode(mac).rstrip(b"=").decode() == vector["signature"]
    assert VECTORS["salt"] == SALT


def test_signature_is_43_urlsafe_characters() -> None:
    sig = sign(parse_request("card", "png", [], 0, LIMITS), [KEY])
    assert len(sig) == 43
    assert set(sig) <= set(string.ascii_letters + string.digits + "-_")


def _mutations(path: str) -> list[str]:
    """The path with one character of the template, format or any key or value changed."""
    head, _, query = path.partition("?")
    prefix, _, name = head.rpartition("/")
    template, fmt = name.rsplit(".", 1)
    out = [f"{prefix}/{template}x.{fmt}?{query}", f"{prefix}/{template[:-1]}.{fmt}?{query}",
           f"{prefix}/{template}.{'webp' if fmt != 'webp' else 'png'}?{query}"]
    pairs = URL(path).query
    for i, value in enumerate(pairs.values()):
        for new_value in {value + "x", value[:-1], value.upper() if value != value.upper()
                          else value.lower(), value + " "}:
            if new_value != value:
                changed = [(k, new_value if j == i else v) for j, (k, v) in
                           enumerate(pairs.items())]
                out.append(str(URL(head).with_query(changed)))
    return out


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda v: v["name"])
def test_tampered_template_format_or_value_is_403(vector: dict[str, Any]) -> None:
    checked = 0
    for path in _mutations(vector["path"]):
        try:
            sig, spec = from_path(path)
        except (BadRequest, NotFound):
            continue        # the change made the request invalid: rejected before signatures
        checked += 1
        with pytest.raises(Forbidden):
            verify(sig, spec, tuple(vector["keys"]), now=NOW, allow_unsafe=False)
    assert checked >= 3


def test_added_or_removed_parameter_is_403() -> None:
    path = sign_url("card", {"name": "Ann"}, keys=[KEY], width=600)
    with pytest.raises(Forbidden):
        check(path + "&title=x")
    with pytest.raises(Forbidden):
        check(path.replace("&w=600", ""))
    with pytest.raises(Forbidden):
        check(path + "&debug=1")


def test_tampering_every_byte_of_the_canonical_form_is_403() -> None:
    spec = parse_request("card", "png", [("name", "Zoë & co"), ("w", "600")], 0, LIMITS)
    sig = sign(spec, [KEY])
    canonical = spec.canonical()
    checked = 0
    for i in range(len(canonical)):
        changed = canonical[:i] + ("A" if canonical[i] != "A" else "B") + canonical[i + 1:]
        try:
            _, other = from_path(f"/i/{sig}/{changed}")
        except (BadRequest, NotFound, ValueError):
            continue        # rejected before signatures are looked at
        if other.canonical() == canonical:     # e.g. hex case inside a %XX: same request
            continue
        checked += 1
        with pytest.raises(Forbidden):
            verify(sig, other, [KEY], now=NOW, allow_unsafe=False)
    assert checked > len(canonical) // 2


def _alternate_spellings(sig: str) -> list[str]:
    alphabet = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"
    last = alphabet.index(sig[-1])
    # 32 bytes -> 43 characters: the last carries 4 bits and 2 unused ones that decoders ignore.
    same_bits = [alphabet[(last & ~0b11) | low] for low in range(4) if alphabet[
        (last & ~0b11) | low] != sig[-1]]
    return [sig + "=", sig + "==", sig + "\n", " " + sig, sig.upper(), sig.lower(),
            sig.replace("-", "+").replace("_", "/"), sig[:-1], sig + "A",
            *(sig[:-1] + c for c in same_bits)]


def test_alternate_spellings_of_a_valid_signature_are_403() -> None:
    spec = parse_request("card", "png", [("name", "Ann")], 0, LIMITS)
    sig = sign(spec, [KEY])
    verify(sig, spec, [KEY], now=NOW, allow_unsafe=False)
    # The trap being avoided: itsdangerous itself accepts these spellings.
    from itsdangerous import Signer
    signer = Signer(KEY, salt=SALT, digest_method=hashlib.sha256, key_derivation="hmac")
    assert signer.verify_signature(spec.canonical(), sig + "=")
    for spelling in _alternate_spellings(sig):
        if spelling == sig:
            continue
        with pytest.raises(Forbidden):
            verify(spelling, spec, [KEY], now=NOW, allow_unsafe=False)


def test_non_ascii_signature_is_403() -> None:
    spec = parse_request("card", "png", [], 0, LIMITS)
    with pytest.raises(Forbidden):
        verify(sign(spec, [KEY])[:-1] + "é", spec, [KEY], now=NOW, allow_unsafe=False)


def test_plus_and_percent_20_both_verify() -> None:
    path = sign_url("card", {"name": "John Smith", "tag": "a+b"}, keys=[KEY])
    assert "name=John%20Smith" in path and "tag=a%2Bb" in path
    check(path)
    check(path.replace("%20", "+"))
    check(path.replace("%2B", "%2b"))


def test_reordered_query_verifies() -> None:
    path = sign_url("card", {"a": "1", "b": "2"}, keys=[KEY], width=10)
    head, query = path.split("?")
    check(head + "?" + "&".join(reversed(query.split("&"))))


def test_rotated_out_key_verifies_while_listed_and_fails_when_removed() -> None:
    new_key = generate_key()
    old_path = sign_url("card", {"name": "Ann"}, keys=[OLD_KEY])
    check(old_path, keys=(new_key, OLD_KEY))
    with pytest.raises(Forbidden):
        check(old_path, keys=(new_key,))


def test_signs_with_the_newest_key_first_in_the_list() -> None:
    new_key = generate_key()
    path = sign_url("card", {"name": "Ann"}, keys=[new_key, OLD_KEY])
    check(path, keys=(new_key,))
    with pytest.raises(Forbidden):
        check(path, keys=(OLD_KEY,))


def test_no_keys_verifies_nothing_and_signs_nothing() -> None:
    spec = parse_request("card", "png", [], 0, LIMITS)
    with pytest.raises(Forbidden):
        verify(sign(spec, [KEY]), spec, [], now=NOW, allow_unsafe=False)
    with pytest.raises(ValueError):
        sign(spec, [])


def test_unsafe_only_when_allowed() -> None:
    path = "/i/unsafe/card.png?name=Ann"
    with pytest.raises(Forbidden):
        check(path)
    check(path, allow_unsafe=True)
    with pytest.raises(Forbidden):
        check("/i/UNSAFE/card.png?name=Ann", allow_unsafe=True)


def test_expired_only_with_a_valid_signature() -> None:
    path = sign_url("card", {"name": "Ann"}, keys=[KEY], expires=int(NOW))
    check(path, now=NOW - 1)
    with pytest.raises(Expired):
        check(path, now=NOW)
    forged = path.replace(f"exp={int(NOW)}", f"exp={int(NOW) - 5}")
    with pytest.raises(Forbidden):
        check(forged, now=NOW)


def test_unsafe_urls_still_expire() -> None:
    with pytest.raises(Expired):
        check("/i/unsafe/card.png?exp=5", allow_unsafe=True)


def test_sign_url_builds_the_documented_example() -> None:
    vector = next(v for v in VECTORS["vectors"] if v["name"] == "readme-example")
    url = sign_url("social-card", {"name": "John Smith", "color": "#FF5733"}, keys=[KEY],
                   fmt="webp", width=600, base_url="https://img.example.com/")
    assert url == "https://img.example.com" + vector["path"]


def test_sign_url_all_options_match_the_vector() -> None:
    vector = next(v for v in VECTORS["vectors"] if v["name"] == "all-options")
    path = sign_url("og-image", vector["variables"], keys=[KEY], fmt="auto", width=1200,
                    height=630, quality=75, dpr=1.5, version="0a1b2c3d", expires=1893456000,
                    debug=True)
    assert path == vector["path"]


def test_sign_url_stringifies_typed_values() -> None:
    path = sign_url("card", {"n": 3, "x": 2.5, "y": 2.0, "on": True, "off": False},
                    keys=[KEY], dpr=2.0)
    _, spec = from_path(path)
    assert dict(spec.variables) == {"n": "3", "x": "2.5", "y": "2", "on": "true",
                                    "off": "false"}
    assert spec.dpr == 2.0 and "dpr=2&" in path


@pytest.mark.parametrize("bad", [{"w": "600"}, {"exp": "1"}, {"debug": "1"}])
def test_sign_url_refuses_reserved_variable_names(bad: dict[str, str]) -> None:
    with pytest.raises(InvalidValue):
        sign_url("card", bad, keys=[KEY])


def test_sign_url_validates_like_the_server() -> None:
    with pytest.raises(InvalidValue):
        sign_url("card", {"x": float("nan")}, keys=[KEY])
    with pytest.raises(InvalidValue):
        sign_url("card", {}, keys=[KEY], dpr=1.333)
    with pytest.raises(InvalidValue):
        sign_url("card", {"x": "\ud800"}, keys=[KEY])
    with pytest.raises(URITooLong):
        sign_url("card", {"x": "é" * 500}, keys=[KEY], limits=Limits(max_url_bytes=1024))


def test_generate_key_is_random_and_long() -> None:
    a, b = generate_key(), generate_key()
    assert a != b and len(a) >= 43


def test_docs_worked_example_is_the_vector() -> None:
    docs = (Path(__file__).parent.parent / "docs" / "signing.md").read_text(encoding="utf-8")
    vector = next(v for v in VECTORS["vectors"] if v["name"] == "readme-example")
    for field in ("canonical", "signature", "path"):
        assert vector[field] in docs
    head = vector["path"].split("?")[0]
    check(f"{head}?name=John+Smith&w=600&color=%23FF5733")
