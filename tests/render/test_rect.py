"""Rect drawer: fills, gradients, rounded corners, stroke, opacity, scale."""

from __future__ import annotations

import pyvips

from proxy.render.context import DrawContext
from proxy.render.rect import draw_rect
from proxy.template.model import Gradient, RectLayer


def _draw(layer: RectLayer, scale: float = 1.0) -> tuple[pyvips.Image, int, int]:
    patch = draw_rect(layer, DrawContext(scale=scale, canvas_size=(1200, 630)))
    assert patch is not None
    image = patch.image.copy_memory()
    assert (image.bands, image.format, image.interpretation) == (4, "uchar", "srgb")
    return image, patch.x, patch.y


def _close(actual: list[float], expected: tuple[int, ...], tolerance: int = 3) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))


def test_flat_fill_is_the_colour_at_the_scaled_box() -> None:
    image, x, y = _draw(RectLayer(box=(10, 20, 100, 50), fill="#ff5733"), scale=2.0)
    assert (x, y, image.width, image.height) == (20, 40, 200, 100)
    assert image(100, 50) == [255, 0x57, 0x33, 255]


def test_radius_corner_is_transparent_and_inside_opaque() -> None:
    image, _, _ = _draw(RectLayer(box=(0, 0, 200, 100), fill="#00ff00", radius=30))
    assert image(0, 0)[3] == 0
    assert image(199, 99)[3] == 0
    assert image(100, 50) == [0, 255, 0, 255]
    assert image(100, 0)[3] == 255  # the straight edge between the corners is not cut
    edge = image(9, 9)[3]  # on the arc: antialiased, neither fully in nor out
    assert 0 <= edge <= 255


def test_gradient_angle_90_runs_left_to_right_as_in_css() -> None:
    grad = Gradient(90, ((0.0, "#ff0000"), (1.0, "#0000ff")))
    image, _, _ = _draw(RectLayer(box=(0, 0, 300, 100), fill=None, gradient=grad))
    assert _close(image(0, 50), (255, 0, 0, 255))
    assert _close(image(299, 50), (0, 0, 255, 255))
    assert image(0, 0) == image(0, 99)  # constant down a column


def test_gradient_angle_180_runs_top_to_bottom_and_0_bottom_to_top() -> None:
    down = Gradient(180, ((0.0, "#ffffff"), (1.0, "#000000")))
    image, _, _ = _draw(RectLayer(box=(0, 0, 100, 300), fill=None, gradient=down))
    assert _close(image(50, 0), (255, 255, 255, 255))
    assert _close(image(50, 299), (0, 0, 0, 255))
    assert image(0, 150) == image(99, 150)
    up, _, _ = _draw(RectLayer(box=(0, 0, 100, 300), fill=None,
                               gradient=Gradient(0, down.stops)))
    assert _close(up(50, 0), (0, 0, 0, 255)) and _close(up(50, 299), (255, 255, 255, 255))


def test_gradient_angle_135_runs_top_left_to_bottom_right_as_in_css() -> None:
    # CSS `linear-gradient(135deg, red, blue)`: red in the top-left corner, blue bottom-right
    grad = Gradient(135, ((0.0, "#ff0000"), (1.0, "#0000ff")))
    image, _, _ = _draw(RectLayer(box=(0, 0, 300, 100), fill=None, gradient=grad))
    assert _close(image(0, 0), (255, 0, 0, 255), 6)
    assert _close(image(299, 99), (0, 0, 255, 255), 6)
    # CSS: the gradient line is |w sin a| + |h cos a| long, so the top-right corner of this
    # 300x100 box sits at 3/4 of it and the bottom-left at 1/4
    assert _close(image(299, 0), (64, 0, 191, 255), 6)
    assert _close(image(0, 99), (191, 0, 64, 255), 6)


def test_angled_gradient_has_three_stops_and_stop_alpha() -> None:
    grad = Gradient(135, ((0.0, "#ff0000"), (0.5, "#00ff00"), (1.0, "#0000ff00")))
    image, _, _ = _draw(RectLayer(box=(0, 0, 200, 200), fill=None, gradient=grad))
    assert _close(image(0, 0), (255, 0, 0, 255), 6)
    assert _close(image(100, 100), (0, 255, 0, 255), 6)
    assert image(199, 199)[3] <= 6


def test_stroke_is_inside_the_box_with_its_colour() -> None:
    layer = RectLayer(box=(0, 0, 100, 100), fill="#ffffff", stroke="#ff0000", stroke_width=5)
    image, _, _ = _draw(layer)
    assert (image.width, image.height) == (100, 100)
    assert image(2, 50) == [255, 0, 0, 255]
    assert image(97, 50) == [255, 0, 0, 255]
    assert image(50, 50) == [255, 255, 255, 255]


def test_stroke_with_radius_keeps_corners_transparent() -> None:
    layer = RectLayer(box=(0, 0, 100, 100), fill="#ffffff", stroke="#ff0000",
                      stroke_width=4, radius=20)
    image, _, _ = _draw(layer)
    assert image(0, 0)[3] == 0
    assert image(50, 1) == [255, 0, 0, 255]
    assert image(50, 50) == [255, 255, 255, 255]


def test_opacity_scales_alpha() -> None:
    image, _, _ = _draw(RectLayer(box=(0, 0, 10, 10), fill="#000000", opacity=0.5))
    assert abs(image(5, 5)[3] - 128) <= 1


def test_empty_box_draws_nothing() -> None:
    ctx = DrawContext(scale=1.0, canvas_size=(100, 100))
    assert draw_rect(RectLayer(box=(0, 0, 0, 10)), ctx) is None
