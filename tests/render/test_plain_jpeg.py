"""Plain JPEGs decoded without libvips: the same pixels, and everything unusual left to it."""

from __future__ import annotations

import numpy as np
import pytest
import pyvips
from hypothesis import given, settings
from hypothesis import strategies as st

from proxy.errors import BadSource
from proxy.render import plain_jpeg
from proxy.render.decode import decode_source
from proxy.sources import jpeg_header
from proxy.sources.jpeg_header import PlainJpeg, plain_frame


def _photo(width: int, height: int) -> pyvips.Image:
    """Smooth colour with detail: gradients plus a noise texture, so every block differs."""
    xy = pyvips.Image.xyz(width, height)
    noise = pyvips.Image.gaussnoise(width, height, sigma=40, mean=128, seed=7)  # replayable
    red = xy[0] * (255 / max(1, width))
    green = xy[1] * (255 / max(1, height))
    return red.bandjoin([green, noise]).cast("uchar").copy(interpretation="srgb")


def _libvips(data: bytes) -> np.ndarray:
    image = pyvips.Image.jpegload_buffer(data)
    return np.frombuffer(image.write_to_memory(), dtype=np.uint8)


def _ours(data: bytes) -> np.ndarray:
    image = decode_source(data, "k")
    return np.frombuffer(image.write_to_memory(), dtype=np.uint8)


@pytest.mark.parametrize("size", [(400, 400), (333, 217), (17, 9), (1, 1)])
@pytest.mark.parametrize("subsample", ["on", "off"])
@pytest.mark.parametrize("quality", [40, 95])
def test_plain_colour_jpegs_decode_to_the_pixels_libvips_gives(
        size: tuple[int, int], subsample: str, quality: int) -> None:
    data = bytes(_photo(*size).jpegsave_buffer(Q=quality, subsample_mode=subsample))
    assert plain_frame(data) == PlainJpeg(size[0], size[1], 3)
    assert np.array_equal(_ours(data), _libvips(data))


def test_grey_and_restart_marked_jpegs_decode_to_the_pixels_libvips_gives() -> None:
    grey = bytes(_photo(123, 77).colourspace("b-w").jpegsave_buffer(Q=80))
    marked = bytes(_photo(200, 120).jpegsave_buffer(Q=80, restart_interval=2))
    assert plain_frame(grey) == PlainJpeg(123, 77, 1)
    assert decode_source(grey, "k").interpretation == "b-w"
    for data in (grey, marked):
        assert plain_frame(data) is not None
        assert np.array_equal(_ours(data), _libvips(data))


def _with_orientation(value: int) -> bytes:
    image = _photo(40, 20).copy()
    image.set_type(pyvips.GValue.gint_type, "orientation", value)
    return bytes(image.jpegsave_buffer(Q=90))


def test_an_exif_orientation_of_one_stays_plain_and_any_other_goes_to_libvips() -> None:
    assert plain_frame(_with_orientation(1)) is not None
    for value in (3, 6, 8):
        assert plain_frame(_with_orientation(value)) is None
    assert decode_source(_with_orientation(6), "k").width == 20      # turned, as before


def test_progressive_cmyk_and_large_jpegs_go_to_libvips() -> None:
    progressive = bytes(_photo(64, 64).jpegsave_buffer(interlace=True))
    cmyk = bytes(_photo(64, 64).colourspace("cmyk").jpegsave_buffer())
    side = int(jpeg_header.MAX_PIXELS ** 0.5) + 1
    large = bytes(_photo(side, side).jpegsave_buffer())
    for data in (progressive, cmyk, large):
        assert plain_frame(data) is None
    assert np.array_equal(_ours(progressive), _libvips(progressive))
    assert decode_source(cmyk, "k").bands == 4


@pytest.mark.parametrize("cut", [1000, 3000, 9000])
def test_a_truncated_plain_jpeg_gets_the_libvips_answer(cut: int) -> None:
    data = bytes(_photo(300, 300).jpegsave_buffer(Q=90))[:cut]
    assert plain_frame(data) is not None           # its header is whole
    assert plain_jpeg.decode(data, PlainJpeg(300, 300, 3)) is None
    with pytest.raises((BadSource, pyvips.Error)):      # the draw turns both into a 4xx
        decode_source(data, "k").copy_memory()


_SEED = bytes(_photo(48, 32).jpegsave_buffer(Q=70))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(_SEED) - 1), st.integers(0, 255)),
                min_size=1, max_size=6))
def test_damaged_jpegs_decode_as_libvips_decodes_them_or_fail_as_it_does(
        edits: list[tuple[int, int]]) -> None:
    data = bytearray(_SEED)
    for at, value in edits:
        data[at] = value
    damaged = bytes(data)
    plain_frame(damaged)                     # never raises on hostile headers
    try:
        # upright, as every source is drawn: an edit can make the EXIF orientation 6 (found
        # by this test, byte 30 of the seed), and the oracle without autorot then disagreed
        expected = np.frombuffer(pyvips.Image.jpegload_buffer(
            damaged, fail_on="error").autorot().write_to_memory(), dtype=np.uint8)
    except pyvips.Error:
        expected = None
    try:
        got: np.ndarray | None = _ours(damaged)
    except (BadSource, pyvips.Error):
        got = None
    if expected is None:
        assert got is None
    else:
        assert got is not None and np.array_equal(got, expected)


@pytest.mark.parametrize(("size", "box", "fit", "decoded"), [
    ((400, 400), (220, 220), "cover", (250, 250)),      # 5/8: the smallest scale >= the box
    ((400, 300), (220, 220), "cover", (300, 225)),      # 3/4: the short side decides
    ((400, 400), (220, 220), "fill", (250, 250)),
    ((400, 400), (400, 400), "cover", (400, 400)),      # no smaller scale covers the box
    ((400, 400), (220, 220), "contain", (400, 400)),    # contain keeps the whole source
])
def test_a_plain_jpeg_shrinks_on_load_to_the_smallest_scale_that_covers_its_box(
        size: tuple[int, int], box: tuple[int, int], fit: str, decoded: tuple[int, int]
) -> None:
    data = bytes(_photo(*size).jpegsave_buffer(Q=90))
    image = decode_source(data, "k", hint=(box[0], box[1], fit))
    assert (image.width, image.height) == decoded


def test_an_avatar_shrunk_on_load_looks_like_the_full_decode_resized() -> None:
    data = bytes(_photo(400, 400).gaussblur(1.2).jpegsave_buffer(Q=85))
    full = decode_source(data, "k").resize(220 / 400)
    shrunk = decode_source(data, "k", hint=(220, 220, "cover"))
    shrunk = shrunk.resize(220 / shrunk.width)
    a = np.frombuffer(full.write_to_memory(), dtype=np.uint8).astype(float)
    b = np.frombuffer(shrunk.write_to_memory(), dtype=np.uint8).astype(float)
    psnr = 10 * np.log10(255 ** 2 / np.mean((a - b) ** 2))
    assert psnr > 40, psnr
