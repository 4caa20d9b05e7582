"""Magic-byte sniffing and header-only checks (pixel floods, frame bombs, truncation)."""

from __future__ import annotations

import time

import pytest
import pyvips

from proxy.errors import BadSource
from proxy.sources.sniff import check_image, header_info, quick_check, sniff
from tests.sources.images import gif_frames, png_flood, real

RASTER = {"jpeg", "png", "webp", "gif", "avif", "heif"}


@pytest.mark.parametrize(("suffix", "fmt"), [
    (".jpg", "jpeg"), (".png", "png"), (".webp", "webp"), (".gif", "gif"), (".avif", "avif"),
])
def test_real_images_sniff_and_read_their_header(suffix: str, fmt: str) -> None:
    data = real(suffix)
    assert sniff(data) == fmt
    assert header_info(data, fmt) == (64, 48, 1)
    assert check_image(data, allowed=RASTER, max_pixels=10_000, max_frames=1) == fmt


@pytest.mark.parametrize("brand", [b"heic", b"heix", b"mif1"])
def test_heif_brands_sniff_as_heif(brand: bytes) -> None:
    assert sniff(b"\x00\x00\x00\x18ftyp" + brand + b"\x00\x00\x00\x00" + brand + b"\0" * 8) \
        == "heif"


@pytest.mark.parametrize("text", [
    b'<svg xmlns="http://www.w3.org/2000/svg"/>',
    b'\xef\xbb\xbf<?xml version="1.0"?>\n<!-- art -->\n<svg width="1"></svg>',
    b'<?xml version="1.0"?><!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "x.dtd">\n<svg>',
    b"  \n<SVG viewBox='0 0 1 1'>",
])
def test_svg_text_sniff(text: bytes) -> None:
    assert sniff(text) == "svg"


@pytest.mark.parametrize("data", [
    b"", b"<html><body><svg></svg></body></html>", b"<!doctype html>", b"GIF8",
    b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom", b"II*\x00\x08\x00\x00\x00",
    b"%PDF-1.7", b"RIFF\x10\x00\x00\x00WAVEfmt ",
])
def test_non_images_sniff_as_none(data: bytes) -> None:
    assert sniff(data) is None


def test_html_is_not_an_image() -> None:
    with pytest.raises(BadSource, match="not an image"):
        check_image(b"<html>hi</html>", allowed=RASTER, max_pixels=10, max_frames=1)


def test_svg_refused_unless_allowed() -> None:
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="3" height="3"/>'
    with pytest.raises(BadSource, match="svg is not allowed"):
        check_image(svg, allowed=RASTER, max_pixels=10, max_frames=1)
    assert check_image(svg, allowed=RASTER | {"svg"}, max_pixels=10, max_frames=1) == "svg"


def test_svg_is_held_to_the_pixel_limit_by_its_declared_size() -> None:
    # it is rasterised at that size; its header used to report 0x0 and pass any limit
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="4" height="3"/>'
    with pytest.raises(BadSource, match="too many pixels"):
        check_image(svg, allowed=RASTER | {"svg"}, max_pixels=10, max_frames=1)


def test_pixel_flood_png_is_refused_from_the_header_fast() -> None:
    data = png_flood(100_000, 100_000)
    start = time.perf_counter()
    with pytest.raises(BadSource, match="too many pixels"):
        check_image(data, allowed=RASTER, max_pixels=40_000_000, max_frames=1)
    assert time.perf_counter() - start < 0.05  # measured ~0.2 ms: nothing was decoded


def test_frame_bomb_gif_is_refused_from_the_header_fast() -> None:
    data = gif_frames(10_000)
    start = time.perf_counter()
    assert header_info(data, "gif") == (1, 1, 10_000)
    with pytest.raises(BadSource, match="too many frames"):
        check_image(data, allowed=RASTER, max_pixels=100, max_frames=10)
    assert time.perf_counter() - start < 0.5


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".webp"])
def test_truncated_images_are_refused(suffix: str) -> None:
    data = real(suffix, 300, 200)
    with pytest.raises(BadSource):
        check_image(data[: len(data) * 3 // 4], allowed=RASTER, max_pixels=10**6, max_frames=1)


def test_jpeg_cut_inside_the_scan_is_detected_as_truncated() -> None:
    data = real(".jpg", 300, 200)
    with pytest.raises(BadSource, match="truncated"):
        check_image(data[:-2], allowed=RASTER, max_pixels=10**6, max_frames=1)


def test_png_without_iend_is_truncated() -> None:
    data = real(".png")
    with pytest.raises(BadSource, match="truncated"):
        check_image(data[:-12], allowed=RASTER, max_pixels=10**6, max_frames=1)


def test_format_named_by_bytes_not_by_claims() -> None:
    # A PNG carrying JPEG bytes is a JPEG: extension and Content-Type never count.
    assert check_image(real(".jpg"), allowed={"jpeg"}, max_pixels=10**6, max_frames=1) == "jpeg"
    with pytest.raises(BadSource, match="jpeg is not allowed"):
        check_image(real(".jpg"), allowed={"png"}, max_pixels=10**6, max_frames=1)


def test_a_plain_whole_jpeg_is_checked_from_its_markers_alone() -> None:
    data = real(".jpg")
    assert quick_check(data, allowed=RASTER, max_pixels=10_000) == "jpeg"


@pytest.mark.parametrize("case", ["not allowed", "over the limit", "truncated", "progressive",
                                  "png"])
def test_anything_but_a_plain_whole_allowed_jpeg_goes_to_the_full_check(case: str) -> None:
    data, allowed, limit = real(".jpg"), RASTER, 10_000
    if case == "not allowed":
        allowed = {"png"}
    elif case == "over the limit":
        limit = 64 * 48 - 1
    elif case == "truncated":
        data = data[:-40]
    elif case == "progressive":
        data = bytes(pyvips.Image.jpegload_buffer(data).jpegsave_buffer(interlace=True))
    else:
        data = real(".png")
    assert quick_check(data, allowed=allowed, max_pixels=limit) is None
    if case in ("not allowed", "over the limit", "truncated"):
        with pytest.raises(BadSource):
            check_image(data, allowed=allowed, max_pixels=limit, max_frames=1)
