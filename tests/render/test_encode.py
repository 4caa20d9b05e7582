"""Encoder: every format decodes as itself, carries no metadata, and RGBA JPEG works."""

from __future__ import annotations

import pytest
import pyvips

from proxy.render.encode import SAVE_OPTIONS, encode

LOADERS = {"jpeg": "jpegload_buffer", "png": "pngload_buffer", "webp": "webpload_buffer",
           "gif": "gifload_buffer", "avif": "heifload_buffer"}


def _card(alpha: bool = False) -> pyvips.Image:
    image = (pyvips.Image.black(120, 63) + [15, 23, 42]).cast("uchar")
    image = image.insert((pyvips.Image.black(40, 20) + [255, 87, 51]).cast("uchar"), 10, 10)
    if alpha:
        image = image.bandjoin(200)
    image = image.copy(interpretation="srgb").copy()
    image.set_type(pyvips.GValue.gstr_type, "exif-ifd0-Artist", "secret")
    image.set_type(pyvips.GValue.blob_type, "xmp-data", b"<x:xmpmeta>secret</x:xmpmeta>")
    return image


def _saver_available(fmt: str) -> bool:
    try:
        pyvips.Operation.new_from_name({"avif": "heifsave_buffer"}.get(fmt, f"{fmt}save_buffer"))
    except pyvips.Error:
        return False
    return True


@pytest.mark.parametrize("fmt", sorted(SAVE_OPTIONS))
def test_each_format_decodes_as_itself_without_metadata(fmt: str) -> None:
    if not _saver_available(fmt):
        pytest.skip(f"libvips has no {fmt} saver in this build")
    data = encode(_card(), fmt, None)
    image = pyvips.Image.new_from_buffer(data, "")
    assert image.get("vips-loader") == LOADERS[fmt]
    assert (image.width, image.height) == (120, 63)
    fields = image.get_fields()
    assert not any(f.startswith(("exif", "xmp")) for f in fields)
    assert b"secret" not in data


def test_jpg_alias_and_quality() -> None:
    small = encode(_card(), "jpg", 30)
    large = encode(_card(), "jpeg", 95)
    assert pyvips.Image.new_from_buffer(small, "").get("vips-loader") == "jpegload_buffer"
    assert len(small) < len(large)


def test_rgba_jpeg_is_flattened_onto_white() -> None:
    image = pyvips.Image.new_from_buffer(encode(_card(alpha=True), "jpeg", 90), "")
    assert image.bands == 3
    # 200/255 of the dark blue over white
    assert abs(image(100, 50)[2] - round(42 * 200 / 255 + 255 * 55 / 255)) <= 6


def test_alpha_survives_in_png_and_webp() -> None:
    for fmt in ("png", "webp"):
        image = pyvips.Image.new_from_buffer(encode(_card(alpha=True), fmt, None), "")
        assert image.bands == 4


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError):
        encode(_card(), "bmp", None)
