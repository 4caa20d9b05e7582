"""Pixels computed in the calling thread: the same bytes as a sink, errors kept, no hand-offs."""

from __future__ import annotations

import resource

import numpy as np
import pytest
import pyvips

from proxy.render import pixels as pixels_module
from proxy.render.pixels import pixels


def _noisy_jpeg(width: int, height: int) -> bytes:
    rng = np.random.default_rng(7)
    data = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    image = pyvips.Image.new_from_memory(data.tobytes(), width, height, 3, "uchar")
    return bytes(image.copy(interpretation="srgb").jpegsave_buffer(Q=90))


def test_a_decoded_and_resized_jpeg_gives_the_sinks_bytes() -> None:
    data = _noisy_jpeg(400, 400)

    def pipeline() -> pyvips.Image:
        decoded = pyvips.Image.jpegload_buffer(data, access="sequential", fail_on="error")
        return decoded.resize(220 / 400)

    fetched = pixels(pipeline())
    assert bytes(fetched) == pipeline().write_to_memory()
    assert len(fetched) == 220 * 220 * 3


def test_a_text_patch_gives_the_sinks_bytes() -> None:
    text = pyvips.Image.text("Ada Lovelace", font="Inter Bold 40px", dpi=72, rgba=True)
    patch = text.crop(2, 1, text.width - 4, text.height - 2)
    assert bytes(pixels(patch)) == patch.write_to_memory()


def test_the_buffer_outlives_the_image_and_region() -> None:
    image = (pyvips.Image.black(64, 32) + [10, 20, 30]).cast("uchar")
    fetched = pixels(image)
    del image
    import gc
    gc.collect()
    assert np.frombuffer(fetched, dtype=np.uint8).reshape(32, 64, 3)[31, 63].tolist() == [
        10, 20, 30]


def test_a_small_image_is_computed_without_thread_hand_offs() -> None:
    data = _noisy_jpeg(400, 400)
    pixels(pyvips.Image.jpegload_buffer(data, access="sequential"))     # warm the loader
    before = resource.getrusage(resource.RUSAGE_SELF).ru_nvcsw
    for _ in range(5):
        pixels(pyvips.Image.jpegload_buffer(data, access="sequential"))
    # A sink woke this thread about 40 times a decode; a fetch does not wait on a worker.
    assert resource.getrusage(resource.RUSAGE_SELF).ru_nvcsw - before < 20


def test_a_large_image_goes_through_the_sink(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pixels_module, "MAX_FETCH_PIXELS", 100)

    def no_region(image: pyvips.Image) -> None:
        raise AssertionError("a large image was fetched in one request")

    monkeypatch.setattr(pyvips.Region, "new", no_region)
    image = (pyvips.Image.black(20, 20) + [1, 2, 3]).cast("uchar")
    assert bytes(pixels(image)) == image.write_to_memory()


def test_a_truncated_jpeg_still_fails() -> None:
    data = _noisy_jpeg(300, 300)[:2000]
    image = pyvips.Image.jpegload_buffer(data, access="sequential", fail_on="error")
    with pytest.raises(pyvips.Error):
        pixels(image)
