"""Non-canonical spellings of one valid signed URL: each must verify, and each must redirect.

Shared by tests/web/test_canonical.py (the app) and tests/nginx (the app behind nginx).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from proxy.config import Limits
from proxy.spec import parse_request
from proxy.urls import sign_path, sign_url
from tests.conftest import TEST_KEYS

# Values chosen so every rule below has something to act on: a space, a letter, a tilde
# (left raw by the canonical form), "(" and "!" (encoded by it) and a two-byte UTF-8 letter.
VARIABLES = {"name": "Yann Smith", "title": "(a~b! café"}


def canonical_path() -> str:
    """The canonical signed path the spellings below are made from."""
    return sign_url("social-card", VARIABLES, keys=TEST_KEYS, fmt="png", width=300)


def jpg_and_jpeg_paths() -> tuple[str, str]:
    """A URL minted with the `jpg` alias (as older tools did: signed over `.jpg`) and the one
    canonical URL of the same image (`.jpeg`), which every tool mints now."""
    pairs = sorted({**VARIABLES, "w": "300"}.items())
    legacy = sign_path(parse_request("social-card", "jpg", pairs, 0, Limits()), TEST_KEYS)
    return legacy, sign_url("social-card", VARIABLES, keys=TEST_KEYS, fmt="jpeg", width=300)


def _query(path: str, change: Callable[[list[str]], list[str]]) -> str:
    head, _, query = path.partition("?")
    return head + "?" + "&".join(change(query.split("&")))


def _encode_first_sig_char(path: str) -> str:
    sig = path.split("/")[2]
    return path.replace(f"/{sig}/", f"/%{ord(sig[0]):02X}{sig[1:]}/", 1)


SPELLINGS: dict[str, Callable[[str], str]] = {
    "plus for %20": lambda p: p.replace("%20", "+"),
    "pairs reordered": lambda p: _query(p, lambda pairs: pairs[::-1]),
    "%-encoded letter (%59ann)": lambda p: p.replace("Yann", "%59ann"),
    "lowercase hex (%c3%a9)": lambda p: p.replace("%C3%A9", "%c3%a9"),
    "run of &": lambda p: p.replace("&", "&&", 1),
    "leading &": lambda p: p.replace("?", "?&", 1),
    "trailing &": lambda p: p + "&",
    "encoded - in the template": lambda p: p.replace("social-card", "social%2Dcard", 1),
    "encoded . before the format": lambda p: p.replace("social-card.png", "social-card%2Epng"),
    "encoded letter in the format": lambda p: p.replace(".png?", ".%70ng?"),
    "encoded letter in the signature": _encode_first_sig_char,
    "tilde encoded (%7E)": lambda p: p.replace("~", "%7E"),
    "( left raw, %21 kept": lambda p: p.replace("%28", "("),
    "encoded option name (%77=300)": lambda p: p.replace("&w=300", "&%77=300"),
    "encoded digit in a value": lambda p: re.sub(r"w=3", "w=%33", p),
    "encoded letter in a variable name": lambda p: p.replace("name=", "n%61me=", 1),
}
