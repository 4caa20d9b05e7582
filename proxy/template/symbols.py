"""Values to module matrices: QR codes (segno) and EAN-13 / Code 128 barcodes (python-barcode).

A matrix is a tuple of rows of 0/1 modules, without any quiet zone; a barcode is one row that
the drawer stretches to the box height. Bad values raise ValueError with a reason the drawer
turns into a 400 naming the layer.
"""

from __future__ import annotations

from functools import lru_cache

import barcode
import segno
from barcode.errors import BarcodeError

Matrix = tuple[bytes, ...]


@lru_cache(maxsize=512)
def qr_matrix(value: str, error: str) -> Matrix:
    """The QR code of `value` at the smallest version that holds it at level `error`."""
    try:
        # boost_error=False: the level asked for is the level drawn, so a template's code does
        # not change density with the value's length beyond what the version needs.
        code = segno.make_qr(value, error=error.lower(), boost_error=False)
    except segno.DataOverflowError:
        raise ValueError(f"{len(value)} characters are too many for a QR code at level "
                         f"{error}") from None
    return tuple(bytes(row) for row in code.matrix)


def ean13_digits(value: str) -> str:
    """Twelve digits get their check digit; thirteen must carry the right one."""
    digits = value.strip()
    if not digits.isascii() or not digits.isdigit() or len(digits) not in (12, 13):
        raise ValueError("an EAN-13 code is 12 or 13 digits")
    odd = sum(int(d) for d in digits[0:12:2])
    even = sum(int(d) for d in digits[1:12:2])
    check = str((10 - (odd + 3 * even) % 10) % 10)
    if len(digits) == 13 and digits[12] != check:
        raise ValueError(f"EAN-13 check digit is {check}, not {digits[12]}")
    return digits[:12] + check


@lru_cache(maxsize=512)
def barcode_matrix(value: str, symbology: str) -> Matrix:
    """One row of bars for `value` in `symbology` (ean13 or code128)."""
    if symbology == "ean13":
        value = ean13_digits(value)
    elif not value.isascii() or not value.isprintable():
        # Code 128 sets A-C cover ASCII; python-barcode's own error lists every bad character
        raise ValueError("Code 128 holds printable ASCII characters only")
    try:
        row = barcode.get(symbology, value).build()[0]
    except (BarcodeError, IndexError) as exc:
        raise ValueError(f"not a valid {symbology} value: {exc}") from None
    return (bytes(1 if c == "1" else 0 for c in row),)
