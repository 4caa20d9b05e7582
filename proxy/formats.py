"""Output formats: one `Format` per image format, and the lookups every front door uses.

The URL, the JSON API, the CLI (`--format`, an output file's extension), the batch files, the
playground and the OpenAPI document all name formats through this table, so a spelling one
door takes is one every door takes, and each format has exactly one name in a signed URL.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Format:
    """One output format: its canonical name, other spellings, media type and file extension."""

    name: str                       # the one spelling in a minted URL and in the API's answers
    content_type: str
    extension: str                  # of a written file (batch --out, the shipped examples)
    aliases: tuple[str, ...] = ()   # accepted on input; a URL using one is redirected
    email_safe: bool = False        # mail clients show it (no WebP or AVIF in email)


ALL: tuple[Format, ...] = (
    Format("webp", "image/webp", "webp"),
    Format("avif", "image/avif", "avif"),
    Format("png", "image/png", "png", email_safe=True),
    # `jpeg` is the name: the template `formats`, the API's `format` and the encoder use it;
    # `jpg` stays an input spelling so URLs minted with it keep working (as a 301).
    Format("jpeg", "image/jpeg", "jpg", aliases=("jpg",), email_safe=True),
    Format("gif", "image/gif", "gif"),
)

# Not a format: the URL's way to ask for one chosen from `Accept` (web/http.py).
AUTO = "auto"

_BY_SPELLING = {spelling: fmt for fmt in ALL for spelling in (fmt.name, *fmt.aliases)}

NAMES: tuple[str, ...] = tuple(fmt.name for fmt in ALL)
# Every input spelling, in table order (argparse choices, the OpenAPI enum, error messages).
SPELLINGS: tuple[str, ...] = tuple(_BY_SPELLING)
# What a URL's extension may be.
URL_SPELLINGS: tuple[str, ...] = (*SPELLINGS, AUTO)
EMAIL_NAMES: tuple[str, ...] = tuple(fmt.name for fmt in ALL if fmt.email_safe)


def find(spelling: str) -> Format | None:
    """The format a name or alias spells (case as given), or None."""
    return _BY_SPELLING.get(spelling)


def get(spelling: str) -> Format:
    """The format a name or alias spells; ValueError for anything else (a programming error)."""
    fmt = _BY_SPELLING.get(spelling)
    if fmt is None:
        raise ValueError(f"not an output format: {spelling!r}")
    return fmt


def canonical_name(spelling: str) -> str:
    """The URL's one spelling of a requested format: aliases resolved, `auto` kept."""
    if spelling == AUTO:
        return AUTO
    fmt = _BY_SPELLING.get(spelling)
    return spelling if fmt is None else fmt.name


def from_filename(suffix: str) -> Format | None:
    """The format a file extension (".jpg", "PNG") names, or None."""
    return _BY_SPELLING.get(suffix.lstrip(".").lower())
