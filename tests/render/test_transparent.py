"""Transparent canvases and alpha colours: PNG, WebP, AVIF and GIF keep the alpha; JPEG is
flattened onto the template's `matte` (issue #12: every one of these was a 500)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import pyvips

import proxy.render  # noqa: F401  (fonts are set up before any text renders)
from proxy.render import RenderJob, RenderMemo, render
from proxy.spec import OutputOptions
from proxy.template.load import load_template
from proxy.template.registry import Registry
from proxy.template.values import coerce

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "templates" / "transparent.toml"


def _render(fmt: str, values: dict[str, str] | None = None, **output: int) -> bytes:
    template = load_template(FIXTURE)
    job = RenderJob(template=template, values=coerce(template, values or {}),
                    output=OutputOptions(format=fmt, **output))  # type: ignore[arg-type]
    return render(job, RenderMemo()).data


@pytest.mark.parametrize("fmt", ["png", "webp"])
def test_transparent_canvas_keeps_its_alpha(fmt: str, golden: Callable[..., None]) -> None:
    data = _render(fmt)
    image = pyvips.Image.new_from_buffer(data, "")
    assert image.hasalpha()
    assert image(2, 2)[3] == 0                      # outside the panel: nothing
    assert abs(image(200, 180)[3] - 0x99) <= 3      # inside the translucent panel, no text
    golden(data, "transparent", fmt=fmt)


def test_transparent_canvas_jpeg_is_flattened_onto_the_matte(golden: Callable[..., None]) -> None:
    data = _render("jpeg")
    image = pyvips.Image.new_from_buffer(data, "")
    assert image.bands == 3
    assert all(abs(a - b) <= 4 for a, b in zip(image(2, 2), (0xfe, 0xf3, 0xc7), strict=True))
    # The golden is the lossless render flattened onto the matte by libvips (written from
    # PNG, reviewed as an image); the JPEG must match it within the lossy budget.
    golden(_flattened_png(), "transparent-jpeg", fmt="png")
    golden(data, "transparent-jpeg", fmt="jpeg")


def _flattened_png() -> bytes:
    image = pyvips.Image.new_from_buffer(_render("png"), "")
    flat = image.flatten(background=[0xfe, 0xf3, 0xc7]).cast("uchar")
    return bytes(flat.pngsave_buffer())


@pytest.mark.parametrize("fmt", ["avif", "gif"])
def test_transparent_canvas_other_formats(fmt: str) -> None:
    image = pyvips.Image.new_from_buffer(_render(fmt), "")
    assert image.hasalpha()
    assert (image.width, image.height) == (400, 200)


@pytest.mark.parametrize(("width", "height", "dpr"), [(100, None, 1), (123, 77, 2), (400, None, 3)])
def test_transparent_canvas_at_other_sizes(width: int, height: int | None, dpr: int) -> None:
    output: dict[str, int] = {"width": width, "dpr": dpr}
    if height:
        output["height"] = height
    image = pyvips.Image.new_from_buffer(_render("png", **output), "")
    assert (image.width, image.height) == (width * dpr, (height or width // 2) * dpr)
    assert image.hasalpha()
    assert image(0, 0)[3] == 0


def test_matte_can_be_a_variable(tmp_path: Path) -> None:
    text = FIXTURE.read_text().replace('matte = "#fef3c7"', 'matte = "{panel}"')
    (tmp_path / "art").mkdir()
    photo = (FIXTURE.parent / "art" / "photo.jpg").read_bytes()
    (tmp_path / "art" / "photo.jpg").write_bytes(photo)
    (tmp_path / "sticker.toml").write_text(text)
    template = load_template(tmp_path / "sticker.toml")
    job = RenderJob(template=template, values=coerce(template, {"panel": "#0000ff80"}),
                    output=OutputOptions(format="jpeg"))
    image = pyvips.Image.new_from_buffer(render(job, RenderMemo()).data, "")
    r, g, b = image(2, 2)
    assert b > 200 and r < 40 and g < 40


@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp"])
def test_shipped_template_with_a_translucent_brand_colour(fmt: str) -> None:
    template = Registry(ROOT / "templates").get("email-header")
    job = RenderJob(template=template, values=coerce(template, {"brand": "#4f46e580"}),
                    output=OutputOptions(format=fmt))
    image = pyvips.Image.new_from_buffer(render(job, RenderMemo()).data, "")
    assert (image.width, image.height) == (600, 200)
    assert image.hasalpha() == (fmt != "jpeg")
    if fmt != "jpeg":
        assert abs(image(590, 5)[3] - 0x80) <= 2
