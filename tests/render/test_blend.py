"""The NumPy blend of per-render layers gives the very pixels libvips gives the base canvas."""

from __future__ import annotations

import numpy as np
import pyvips

from proxy.render.blend import blend, paste, ready
from proxy.render.patch import Patch


def _canvas(width: int, height: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _vips(pixels: np.ndarray) -> pyvips.Image:
    height, width = pixels.shape[:2]
    return pyvips.Image.new_from_memory(np.ascontiguousarray(pixels).data, width, height, 3,
                                        "uchar").copy(interpretation="srgb")


def _both(canvas: np.ndarray, patch: Patch) -> tuple[np.ndarray, np.ndarray]:
    """(NumPy blend, libvips paste) of `patch` over copies of `canvas`."""
    height, width = canvas.shape[:2]
    made = ready(patch)
    assert made is not None
    ours = canvas.copy()
    blend(ours, made)
    theirs = paste(_vips(canvas), (width, height), 3, made)
    return ours, np.frombuffer(theirs.write_to_memory(), np.uint8).reshape(height, width, 3)


def test_every_alpha_over_every_colour_matches_libvips() -> None:
    # columns: alpha 0-255; rows: 256 colour/background pairs, each channel its own value
    rng = np.random.default_rng(7)
    rgba = rng.integers(0, 256, (256, 256, 4), dtype=np.uint8)
    rgba[:, :, 3] = np.arange(256, dtype=np.uint8)[None, :]
    rgba[0, :, :3] = 255                           # white over black and over white
    rgba[1, :, :3] = 0
    canvas = _canvas(256, 256, 1)
    canvas[0] = 0
    canvas[1] = 255
    image = _vips(rgba.reshape(256, 256, 4)[:, :, :3]).bandjoin(_vips(rgba[:, :, 3:4].repeat(
        3, axis=2))[0])
    ours, theirs = _both(canvas, Patch(image, 0, 0))
    assert np.array_equal(ours, theirs)


def test_ink_crop_and_canvas_edges_keep_pixels_in_place() -> None:
    # a patch with transparent margins, overhanging the canvas on the left and at the bottom
    rgba = np.zeros((40, 60, 4), np.uint8)
    rgba[10:25, 7:50] = [200, 40, 90, 180]
    rgba[12, 30] = [10, 250, 10, 255]
    image = pyvips.Image.new_from_memory(rgba.data, 60, 40, 4, "uchar").copy(
        interpretation="srgb")
    canvas = _canvas(100, 30, 2)
    for x, y in ((-20, 10), (70, -15), (5, 5)):
        ours, theirs = _both(canvas, Patch(image, x, y))
        assert np.array_equal(ours, theirs), (x, y)


def test_a_patch_with_no_ink_is_nothing_to_blend() -> None:
    empty = pyvips.Image.black(8, 8, bands=4).cast("uchar").copy(interpretation="srgb")
    assert ready(Patch(empty, 0, 0)) is None
