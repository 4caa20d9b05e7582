"""Image drawer: fit, gravity, smart crop, masks, tint, opacity, any input format."""

from __future__ import annotations

import pytest
import pyvips

from proxy.render.context import DrawContext
from proxy.render.image import draw_image
from proxy.template.model import ImageLayer


def _solid(width: int, height: int, rgb: list[int]) -> pyvips.Image:
    return (pyvips.Image.black(width, height) + rgb).cast("uchar").copy(interpretation="srgb")


def _two_tone() -> pyvips.Image:
    """100x200: red top half, blue bottom half."""
    return _solid(100, 100, [255, 0, 0]).join(_solid(100, 100, [0, 0, 255]), "vertical")


def _draw(
    layer: ImageLayer, image: pyvips.Image, scale: float = 1.0
) -> tuple[pyvips.Image, int, int]:
    ctx = DrawContext(scale=scale, canvas_size=(1000, 1000), images={"a": image})
    patch = draw_image(layer, ctx)
    assert patch is not None
    out = patch.rgba().copy_memory()
    assert (out.bands, out.format, out.interpretation) == (4, "uchar", "srgb")
    return out, patch.x, patch.y


@pytest.mark.parametrize("fit", ["cover", "fill"])
def test_cover_and_fill_are_the_box_size(fit: str) -> None:
    layer = ImageLayer(box=(5, 6, 80, 50), src="a", fit=fit)  # type: ignore[arg-type]
    out, x, y = _draw(layer, _two_tone(), scale=2)
    assert (out.width, out.height, x, y) == (160, 100, 10, 12)


def test_contain_fits_inside_and_is_placed_by_gravity() -> None:
    out, x, y = _draw(ImageLayer(box=(0, 0, 100, 100), src="a", fit="contain"), _two_tone())
    assert (out.width, out.height) == (50, 100)
    assert (x, y) == (25, 0)
    _, x, _ = _draw(ImageLayer(box=(0, 0, 100, 100), src="a", fit="contain", gravity="west"),
                    _two_tone())
    assert x == 0


def test_gravity_north_keeps_the_top() -> None:
    out, _, _ = _draw(ImageLayer(box=(0, 0, 100, 50), src="a", gravity="north"), _two_tone())
    assert out(50, 2)[:3] == [255, 0, 0] and out(50, 47)[:3] == [255, 0, 0]
    out, _, _ = _draw(ImageLayer(box=(0, 0, 100, 50), src="a", gravity="south"), _two_tone())
    assert out(50, 25)[:3] == [0, 0, 255]


def test_smart_crop_finds_the_interesting_region() -> None:
    # a flat grey field with one saturated, detailed patch near the right edge
    noise = pyvips.Image.gaussnoise(60, 60, sigma=80, mean=128)
    detail = (noise.bandjoin([noise * 0.2, noise.rot90()])).cast("uchar")
    base = _solid(400, 100, [128, 128, 128]).insert(detail.copy(interpretation="srgb"), 320, 20)
    out, _, _ = _draw(ImageLayer(box=(0, 0, 100, 100), src="a", gravity="smart"), base)
    assert out.deviate() > 20  # the crop holds the detail, not flat grey


def test_circle_mask_corners_clear_centre_opaque() -> None:
    out, _, _ = _draw(ImageLayer(box=(0, 0, 64, 64), src="a", mask="circle"),
                      _solid(64, 64, [10, 20, 30]))
    assert out(0, 0)[3] == 0 and out(63, 63)[3] == 0
    assert out(32, 32) == [10, 20, 30, 255]


def test_radius_rounds_the_corners() -> None:
    out, _, _ = _draw(ImageLayer(box=(0, 0, 64, 64), src="a", radius=16),
                      _solid(64, 64, [10, 20, 30]))
    assert out(0, 0)[3] == 0 and out(32, 0)[3] == 255


def test_tint_turns_white_into_the_colour_and_keeps_shading() -> None:
    white = _solid(20, 20, [255, 255, 255]).insert(_solid(10, 20, [128, 128, 128]), 10, 0)
    out, _, _ = _draw(ImageLayer(box=(0, 0, 20, 20), src="a", fit="fill", tint="#ff8000"), white)
    assert out(2, 10) == [255, 128, 0, 255]
    assert abs(out(17, 10)[0] - 128) <= 2 and out(17, 10)[2] == 0


def test_opacity_halves_alpha() -> None:
    out, _, _ = _draw(ImageLayer(box=(0, 0, 8, 8), src="a", opacity=0.5), _solid(8, 8, [0, 0, 0]))
    assert abs(out(4, 4)[3] - 128) <= 1


@pytest.mark.parametrize("kind", ["grey", "grey16", "rgb16", "cmyk", "rgba"])
def test_any_input_becomes_srgb_rgba(kind: str) -> None:
    base = pyvips.Image.black(40, 30) + 200
    image = {
        "grey": base.cast("uchar").copy(interpretation="b-w"),
        "grey16": (base * 256).cast("ushort").copy(interpretation="grey16"),
        "rgb16": (base.bandjoin([base, base]) * 256).cast("ushort").copy(interpretation="rgb16"),
        "cmyk": (pyvips.Image.black(40, 30, bands=4) + [0, 0, 0, 0]).cast("uchar")
        .copy(interpretation="cmyk"),
        "rgba": base.bandjoin([base, base, 255]).cast("uchar").copy(interpretation="srgb"),
    }[kind]
    out, _, _ = _draw(ImageLayer(box=(0, 0, 20, 15), src="a", fit="fill"), image)
    assert out(10, 7)[3] == 255


def test_orientation_is_applied() -> None:
    image = _solid(40, 20, [255, 0, 0]).copy()
    image.set_type(pyvips.GValue.gint_type, "orientation", 6)
    out, _, _ = _draw(ImageLayer(box=(0, 0, 100, 100), src="a", fit="contain"), image)
    assert (out.width, out.height) == (50, 100)


def test_missing_source_draws_nothing() -> None:
    ctx = DrawContext(scale=1.0, canvas_size=(10, 10))
    assert draw_image(ImageLayer(box=(0, 0, 10, 10), src="nope"), ctx) is None


@pytest.mark.parametrize("mask", ["circle", "radius"])
def test_a_masked_opaque_layer_blends_from_its_planes_like_its_rgba(mask: str) -> None:
    import numpy as np

    from proxy.render.blend import blend, paste, ready
    from proxy.render.patch import Patch

    rng = np.random.default_rng(5)
    photo = pyvips.Image.new_from_memory(
        rng.integers(0, 256, (300, 300, 3), dtype=np.uint8).tobytes(), 300, 300, 3, "uchar")
    layer = ImageLayer(box=(7, 9, 110, 110), src="a", fit="cover",
                       mask="circle" if mask == "circle" else "none",
                       radius=0 if mask == "circle" else 30)
    patch = draw_image(layer, DrawContext(scale=2.0, canvas_size=(260, 260),
                                          images={"a": photo}))
    assert patch is not None and patch.rgb is not None and patch.coverage is not None
    fast = ready(patch)
    slow = ready(Patch(patch.rgba(), patch.x, patch.y))   # through the RGBA, as before
    assert fast is not None and slow is not None
    canvas = rng.integers(0, 256, (260, 260, 3), dtype=np.uint8)
    ours, theirs = canvas.copy(), canvas.copy()
    assert blend(ours, fast) == blend(theirs, slow)
    assert np.array_equal(ours, theirs)
    # the base canvas reads the same layer through libvips: the same pixels again
    base = pyvips.Image.new_from_memory(canvas.tobytes(), 260, 260, 3, "uchar")
    pasted = paste(base.copy(interpretation="srgb"), (260, 260), 3, fast)
    assert np.array_equal(
        np.frombuffer(pasted.write_to_memory(), np.uint8).reshape(260, 260, 3), ours)


def test_a_tinted_or_faded_masked_layer_takes_the_rgba_path() -> None:
    layer = ImageLayer(box=(0, 0, 50, 50), src="a", mask="circle", opacity=0.5)
    patch = draw_image(layer, DrawContext(scale=1.0, canvas_size=(100, 100),
                                          images={"a": _two_tone()}))
    assert patch is not None and patch.rgb is None and patch.coverage is None
