"""Every shipped template in every format against one lossless golden per template."""

from __future__ import annotations

from pathlib import Path

import pytest
import pyvips

import proxy.render  # noqa: F401  (fonts are set up before any text renders)
from proxy.render import RenderJob, RenderMemo, render
from proxy.spec import OutputOptions
from proxy.template.registry import Registry
from proxy.template.values import coerce

ROOT = Path(__file__).resolve().parents[2]
VALUES = {
    "social-card": {"name": "Ada Lovelace", "title": "First programmer, analytical engine",
                    "badge": "Speaker"},
    "product-mockup-v2": {"customerName": "Grace", "productColor": "#16a34a"},
    "email-header": {"headline": "Your weekly digest is here", "name": "Alan"},
    "photo": {"src": "https://photos.example.com/ramp.jpg", "watermark": "© PicStream"},
}


def _photo() -> bytes:
    """A 2400x1600 JPEG with a bright disc right of centre (what smart crop should keep)."""
    xy = pyvips.Image.xyz(2400, 1600)
    ramp = (xy[0] / 10).cast("uchar").bandjoin([(xy[1] / 8).cast("uchar"), 90])
    disc = ((xy[0] - 1700) ** 2 + (xy[1] - 700) ** 2) < 220 ** 2
    image = disc.ifthenelse([250, 220, 40], ramp).cast("uchar").copy(interpretation="srgb")
    return bytes(image.jpegsave_buffer(Q=90))


IMAGES = {"photo": {"https://photos.example.com/ramp.jpg": _photo()}}
FORMATS = ("png", "jpeg", "webp", "avif", "gif")


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry(ROOT / "templates")


def test_every_shipped_template_is_covered(registry: Registry) -> None:
    assert set(registry.names()) == set(VALUES)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", sorted(VALUES))
def test_template_format_matches_golden(registry: Registry, golden, name: str, fmt: str) -> None:  # type: ignore[no-untyped-def]
    template = registry.get(name)
    if fmt not in template.formats:
        pytest.skip(f"{name} is not offered as {fmt}")
    job = RenderJob(template=template, values=coerce(template, VALUES[name]),
                    output=OutputOptions(format=fmt), images=IMAGES.get(name, {}))
    rendered = render(job, RenderMemo())
    assert (rendered.width, rendered.height) == template.size
    golden(rendered.data, name, fmt=fmt)


def test_social_card_pixels(registry: Registry) -> None:
    template = registry.get("social-card")
    job = RenderJob(template=template, values=coerce(template, VALUES["social-card"]),
                    output=OutputOptions(format="png"))
    image = pyvips.Image.new_from_buffer(render(job, RenderMemo()).data, "")
    assert list(image(600, 5))[:3] == [0x38, 0xBD, 0xF8]    # the accent bar
    assert list(image(350, 348))[:3] == [0x38, 0xBD, 0xF8]  # the badge pill, hugging "SPEAKER"
    assert list(image(540, 348))[:3] != [0x38, 0xBD, 0xF8]
    # the background is `angle = 135` as CSS draws it: dark top-left, light bottom-right
    top_left, top_right, bottom_left = image(60, 60), image(1190, 60), image(10, 620)
    bottom_right = image(1190, 620)
    assert top_left[2] < top_right[2] < bottom_right[2]
    assert top_left[2] < bottom_left[2] < bottom_right[2]
    assert abs(bottom_right[2] - 0x5f) <= 4


def test_product_mockup_is_tinted_by_the_colour(registry: Registry) -> None:
    template = registry.get("product-mockup-v2")
    job = RenderJob(template=template, values=coerce(template, VALUES["product-mockup-v2"]),
                    output=OutputOptions(format="png"))
    image = pyvips.Image.new_from_buffer(render(job, RenderMemo()).data, "")
    r, g, b = list(image(540, 500))[:3]
    assert g > r + 40 and g > b + 40                        # the shirt is green
    assert list(image(65, 450))[:3] == [0x16, 0xA3, 0x4A]   # the frame stroke


def test_email_header_at_2x_and_resized(registry: Registry) -> None:
    template = registry.get("email-header")
    for output, size in ((OutputOptions(format="png", dpr=2), (1200, 400)),
                         (OutputOptions(format="jpeg", width=300), (300, 100)),
                         (OutputOptions(format="jpeg", width=300, height=300), (300, 300))):
        job = RenderJob(template=template, values=coerce(template, {}), output=output)
        rendered = render(job, RenderMemo())
        assert (rendered.width, rendered.height) == size
