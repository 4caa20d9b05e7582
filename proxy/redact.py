"""Text made safe for logs: URL queries and credentials removed, control characters escaped.

A source URL's query often carries a presigned token (S3 `X-Amz-Signature`, GCS `Signature`),
and a decoded request path can carry CR/LF that forge log lines in a line-based format.
"""

from __future__ import annotations

import re

# scheme://[userinfo@]rest-of-URL, up to whitespace or a quote; the query and fragment go.
_URL = re.compile(r"(?i)\b([a-z][a-z0-9+.-]{1,15}://)(?:[^\s/?#@\"'<>]*@)?([^\s?#\"'<>]*)"
                  r"(?:[?#][^\s\"'<>]*)?")
# C0 and C1 controls, DEL, and the Unicode line and paragraph separators
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def redact_urls(text: str) -> str:
    """Every URL in `text` without its credentials, query and fragment (`?…` marks a cut)."""
    def cut(match: re.Match[str]) -> str:
        tail = match.group(0)[len(match.group(1)):]
        had_query = "?" in tail or "#" in tail
        return match.group(1) + match.group(2) + ("?…" if had_query else "")

    return _URL.sub(cut, text)


def escape_controls(text: str) -> str:
    """Control characters as `\\xNN` / `\\uNNNN`, so one log line stays one line."""
    def escape(match: re.Match[str]) -> str:
        code = ord(match.group(0))
        return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"

    return _CONTROLS.sub(escape, text)
