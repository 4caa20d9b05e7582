"""Source decoding: JPEGs open with their loader named, everything else by sniffing."""

from __future__ import annotations

import pytest
import pyvips

from proxy.errors import BadSource
from proxy.render.decode import decode_source


def _jpeg(width: int, height: int, orientation: int | None = None) -> bytes:
    image = (pyvips.Image.black(width, height) + [200, 30, 30]).cast("uchar")
    image = image.copy(interpretation="srgb")
    if orientation is not None:
        image.set_type(pyvips.GValue.gint_type, "orientation", orientation)
    return bytes(image.jpegsave_buffer(Q=90))


def test_a_jpeg_decodes_at_its_size_with_its_colour() -> None:
    image = decode_source(_jpeg(40, 20), "k")
    assert (image.width, image.height, image.bands) == (40, 20, 3)
    red, green, blue = image(20, 10)
    assert red > 180 and green < 60 and blue < 60


def test_a_jpeg_is_turned_by_its_exif_orientation() -> None:
    image = decode_source(_jpeg(40, 20, orientation=6), "k")
    assert (image.width, image.height) == (20, 40)


def test_a_large_jpeg_shrinks_on_load_for_a_small_box() -> None:
    image = decode_source(_jpeg(800, 800), "k", hint=(100, 100, "cover"))
    assert 100 <= image.width < 400 and 100 <= image.height < 400


@pytest.mark.parametrize("cut", [3, 100, 400])
def test_a_truncated_jpeg_is_a_bad_source(cut: int) -> None:
    data = _jpeg(300, 300)
    with pytest.raises(BadSource):
        decode_source(data[:cut], "k").copy_memory()


def test_a_png_still_opens_by_sniffing() -> None:
    data = bytes((pyvips.Image.black(8, 6) + 90).cast("uchar").pngsave_buffer())
    assert (decode_source(data, "k").width, decode_source(data, "k").height) == (8, 6)
