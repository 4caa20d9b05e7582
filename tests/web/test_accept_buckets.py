"""The app's Accept buckets (proxy/web/http.py) against nginx.conf's regexes, rule by rule."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proxy.web.http import negotiate_format
from tests.conftest import ROOT

# One table for the app, nginx.conf's regexes and real nginx (tests/nginx/test_nginx_request.py).
ACCEPT_TABLE: list[tuple[str, str]] = [
    ("image/avif,image/webp,*/*", "avif"),
    ("image/webp,*/*", "webp"),
    ("image/avif;q=0,image/webp", "webp"),
    ("image/avif;q=0.0;foo=bar, image/webp", "webp"),     # a parameter after q
    ("image/avif;foo=bar;q=0, image/png", "other"),
    ("image/avifx, image/webp", "webp"),                   # a type that only contains avif
    ("application/image/avif", "other"),
    ("image/avif;q=0.0001", "other"),                      # not a qvalue
    ("image/avif;q=1.5", "other"),
    ("image/avif;q=abc", "other"),
    ("image/avif;q=-1", "other"),
    ("image/avif;q", "other"),
    ("image/avif;q=0.001", "avif"),
    ("image/avif;q=0.", "other"),
    ("image/avif;q=1.", "avif"),
    ("IMAGE/AVIF;Q=0.5", "avif"),
    ("image/avif ; q = 0.5", "avif"),
    ("image/avif\t;q=1", "avif"),
    ("image/avif;qq=0", "avif"),
    (",".join(["text/html"] * 31) + ",image/avif", "avif"),    # the 32nd entry is read
    (",".join(["text/html"] * 32) + ",image/avif", "other"),   # the 33rd is not
    ("image/webp;q=0, image/avif;q=0", "other"),
    ("*/*", "other"),
    ("", "other"),
    ("image/*", "other"),
]


def nginx_bucket_regexes() -> dict[str, re.Pattern[str]]:
    """nginx.conf's `$picstream_accept_bucket` regexes, read from the shipped file."""
    text = (ROOT / "nginx.conf").read_text()
    block = text[text.index("map $http_accept $picstream_accept_bucket {"):]
    block = block[:block.index("}\n")]
    found = {}
    for regex, bucket in re.findall(r'"~\*(.*)"\s+(\w+);', block):
        # nginx turns \t inside a quoted string into a tab; other escapes reach PCRE as written
        found[bucket] = re.compile(regex.replace("\\t", "\t"), re.IGNORECASE)
    assert set(found) == {"avif", "webp"}
    return found


NGINX = nginx_bucket_regexes()


def nginx_bucket(accept: str) -> str:
    """What the nginx `map` picks: the first regex (in file order, avif first) that matches."""
    for bucket in ("avif", "webp"):
        if NGINX[bucket].search(accept):
            return bucket
    return "other"


@pytest.mark.parametrize(("accept", "bucket"), ACCEPT_TABLE)
def test_app_and_nginx_conf_pick_the_same_bucket(accept: str, bucket: str) -> None:
    assert negotiate_format(accept, "other") == bucket
    assert nginx_bucket(accept) == bucket


PIECES = st.sampled_from(["image/avif", "image/webp", "image/avifx", "IMAGE/WEBP", "image/*",
                          "*/*", "text/html", ";", ",", ", ", "q", "Q", "=", "0", "1", ".",
                          "0.5", "0.000", "001", " ", "\t", "-", "x"])


@settings(max_examples=2000, deadline=None)
@given(st.lists(PIECES, max_size=14).map("".join))
def test_app_and_nginx_conf_agree_on_any_header(accept: str) -> None:
    assert negotiate_format(accept, "other") == nginx_bucket(accept), accept
