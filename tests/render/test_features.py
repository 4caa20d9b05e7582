"""Every layer feature rendered and compared with a golden image, plus targeted asserts."""

from __future__ import annotations

from pathlib import Path

import pytest
import pyvips

import proxy.render  # noqa: F401  (sets up fonts before any text renders)
from proxy.render import RenderJob, RenderMemo, render
from proxy.spec import OutputOptions
from proxy.template.load import load_template
from proxy.template.values import coerce
from tests.support.golden import share_over

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "templates"


def features(**values: str) -> pyvips.Image:
    template = load_template(FIXTURES / "features.toml")
    job = RenderJob(template=template, values=coerce(template, values),
                    output=OutputOptions(format="png"))
    return render(job, RenderMemo())


@pytest.fixture(scope="module")
def default_png() -> bytes:
    return features().data


def pixel(data: bytes, x: int, y: int) -> list[float]:
    return list(pyvips.Image.new_from_buffer(data, "")(x, y))


def test_all_features_golden(default_png: bytes, golden) -> None:  # type: ignore[no-untyped-def]
    golden(default_png, "features", fmt="png")


def test_gradient_endpoints(default_png: bytes) -> None:
    left, right = pixel(default_png, 2, 60), pixel(default_png, 797, 60)
    assert left[0] > 230 and left[1] < 80          # #f43f5e
    assert right[1] > 170 and right[0] < 40        # #10b981


def test_rounded_rect_corner_is_background_and_stroke_is_dark(default_png: bytes) -> None:
    assert pixel(default_png, 21, 141)[:3] == [255, 255, 255]
    assert max(pixel(default_png, 120, 142)[:3]) < 50          # the stroke on the top edge
    assert pixel(default_png, 120, 200)[:3] == [226, 232, 240]  # the fill


def test_circle_mask_and_tint(default_png: bytes) -> None:
    assert pixel(default_png, 241, 141)[:3] == [255, 255, 255]  # outside the circle
    tinted = pixel(default_png, 440, 160)                       # placeholder background, tinted
    assert tinted[2] > tinted[0] and tinted[2] > tinted[1]


def test_fitting_shrinks_then_cuts_with_ellipsis() -> None:
    fitted = features(name="A considerably longer name here")
    fit = next(f for f in fitted.fits if f.layer_index == 5)
    assert 20 <= fit.size < 64 and not fit.cut and fit.lines <= 2
    cut = features(name="W" * 200)
    fit = next(f for f in cut.fits if f.layer_index == 5)
    assert fit.size == 20 and fit.cut and fit.lines == 2


def test_ellipsis_golden(golden) -> None:  # type: ignore[no-untyped-def]
    golden(features(name="Wolfgang Amadeus Mozart " * 8).data, "features-ellipsis", fmt="png")


def test_rtl_is_right_aligned(default_png: bytes) -> None:
    image = pyvips.Image.new_from_buffer(default_png, "").crop(400, 280, 380, 60)
    ink = image.colourspace("b-w")[0] < 128
    columns = ink.project()[0]  # column sums
    inked = [x for x in range(columns.width) if columns(x, 0)[0] > 0]
    assert inked and inked[-1] > 340 and inked[0] > 60


def test_emoji_are_in_colour(default_png: bytes) -> None:
    region = pyvips.Image.new_from_buffer(default_png, "").crop(20, 390, 360, 60)
    saturation = region.colourspace("lch")[1]
    assert saturation.max() > 40


def test_cjk_is_not_tofu() -> None:
    a = features(cjk="你好").data
    b = features(cjk="世界").data
    region = lambda d: pyvips.Image.new_from_buffer(d, "").crop(400, 390, 380, 60)  # noqa: E731
    assert (region(a) - region(b)).abs().max() > 100


def test_dpr2_is_crisp_not_upscaled(golden) -> None:  # type: ignore[no-untyped-def]
    template = load_template(FIXTURES / "features.toml")
    job = RenderJob(template=template, values=coerce(template, {}),
                    output=OutputOptions(format="png", dpr=2))
    data = render(job, RenderMemo()).data
    image = pyvips.Image.new_from_buffer(data, "")
    assert (image.width, image.height) == (1600, 1200)
    golden(data, "features-dpr2", fmt="png")
    # drawn at 2x, not the 1x render upscaled: text edges differ from an upscale's
    one_x = pyvips.Image.new_from_buffer(features().data, "").resize(2, kernel="linear")
    share, _ = share_over(image.crop(320, 940, 1240, 240), one_x.crop(320, 940, 1240, 240))
    assert share > 0.01


def test_when_false_skips_the_layer() -> None:
    shown = features().data
    hidden = features(show="false").data
    region = lambda d: pyvips.Image.new_from_buffer(d, "").crop(160, 470, 620, 120)  # noqa: E731
    assert region(hidden).min() == 255 and region(shown).min() < 200
