"""The shipped photo template: a canvas that follows the requested box, cover and contain with
gravity (smart included), the watermark anchored to its corner."""

from __future__ import annotations

from pathlib import Path

import pytest
import pyvips

import proxy.render  # noqa: F401  (sets up fonts before any text renders)
from proxy.render import Rendered, RenderJob, RenderMemo, render
from proxy.spec import OutputOptions
from proxy.template.load import load_template
from proxy.template.model import Template
from proxy.template.values import coerce

ROOT = Path(__file__).resolve().parents[2]
SRC = "https://photos.example.com/beach.jpg"


@pytest.fixture(scope="module")
def template() -> Template:
    return load_template(ROOT / "templates" / "photo.toml")


@pytest.fixture(scope="module")
def photo() -> bytes:
    """A 2400x1600 JPEG: calm blue-grey sky and sea, one red buoy far right of centre."""
    xy = pyvips.Image.xyz(2400, 1600)
    sky = (xy[1] < 800).ifthenelse([150, 180, 210], [40, 90, 130])
    buoy = ((xy[0] - 2050) ** 2 + (xy[1] - 900) ** 2) < 150 ** 2
    image = buoy.ifthenelse([220, 30, 30], sky).cast("uchar").copy(interpretation="srgb")
    return bytes(image.jpegsave_buffer(Q=90))


def run(template: Template, photo: bytes, fmt: str = "webp", width: int | None = 600,
        height: int | None = 400, **values: str) -> Rendered:
    job = RenderJob(template=template, values=coerce(template, {"src": SRC, **values}),
                    images={SRC: photo}, output=OutputOptions(format=fmt, width=width,
                                                              height=height))
    return render(job, RenderMemo())


def image(rendered: Rendered) -> pyvips.Image:
    return pyvips.Image.new_from_buffer(rendered.data, "")


def test_cover_is_exactly_the_requested_box(template: Template, photo: bytes, golden) -> None:  # type: ignore[no-untyped-def]
    rendered = run(template, photo, gravity="centre")
    assert (rendered.width, rendered.height, rendered.format) == (600, 400, "webp")
    golden(run(template, photo, fmt="png", gravity="centre").data, "cover-centre", fmt="png")
    golden(rendered.data, "cover-centre", fmt="webp")
    # a 3:2 source into 3:2 is the whole photo: the buoy is at the right
    assert image(rendered)(512, 225)[0] > 180


def test_smart_cover_keeps_the_buoy(template: Template, photo: bytes, golden) -> None:  # type: ignore[no-untyped-def]
    smart = image(run(template, photo, fmt="png", width=300, height=400))
    centre = image(run(template, photo, fmt="png", width=300, height=400, gravity="centre"))
    golden(run(template, photo, fmt="png", width=300, height=400).data, "cover-smart", fmt="png")
    red = lambda im: (im[0] > 160) & (im[1] < 80)  # noqa: E731
    assert red(smart).avg() > 5 and red(centre).avg() == 0


def test_gravity_east_cover(template: Template, photo: bytes) -> None:
    east = image(run(template, photo, fmt="png", width=300, height=400, gravity="east"))
    # the photo scaled to 600x400 and its right half kept: the buoy (x 512) lands at x 212
    assert east(212, 225)[0] > 150


def test_contain_letterboxes_on_the_background(template: Template, photo: bytes, golden) -> None:  # type: ignore[no-untyped-def]
    rendered = run(template, photo, fmt="png", width=600, height=600, fit="contain",
                   background="#000000", gravity="north")
    picture = image(rendered)
    assert (picture.width, picture.height) == (600, 600)
    assert picture(300, 590)[:3] == [0, 0, 0]          # below the photo: the background
    assert picture(300, 10)[2] > 150                   # north: the sky is at the top
    golden(rendered.data, "contain-north", fmt="png")


def test_watermark_sits_in_the_bottom_right_corner(template: Template, photo: bytes,
                                                   golden) -> None:  # type: ignore[no-untyped-def]
    for width, height in ((600, 400), (1000, 300)):
        rendered = run(template, photo, fmt="png", width=width, height=height,
                       watermark="© Ann Example", gravity="centre")
        plain = run(template, photo, fmt="png", width=width, height=height, gravity="centre")
        diff = (image(rendered) - image(plain)).abs().bandmean() > 40
        columns, rows = diff.project()
        ink_x = [x for x in range(columns.width) if columns(x, 0)[0] > 0]
        ink_y = [y for y in range(rows.height) if rows(0, y)[0] > 0]
        assert width - 60 < ink_x[-1] < width - 10 and height - 40 < ink_y[-1] < height
        assert ink_x[0] > width / 2
    golden(rendered.data, "watermark", fmt="png")


def test_one_side_keeps_the_template_aspect(template: Template, photo: bytes) -> None:
    rendered = run(template, photo, width=300, height=None)
    assert (rendered.width, rendered.height) == (300, 200)


def test_dpr_multiplies_the_box(template: Template, photo: bytes) -> None:
    job = RenderJob(template=template, values=coerce(template, {"src": SRC}),
                    images={SRC: photo},
                    output=OutputOptions(format="jpeg", width=300, height=200, dpr=2))
    rendered = render(job, RenderMemo())
    assert (rendered.width, rendered.height) == (600, 400)


def test_sizes_share_a_memo_without_mixing(template: Template, photo: bytes) -> None:
    memo = RenderMemo()
    for width, height in ((600, 400), (200, 500), (600, 400)):
        job = RenderJob(template=template, values=coerce(template, {"src": SRC}),
                        images={SRC: photo},
                        output=OutputOptions(format="png", width=width, height=height))
        rendered = render(job, memo)
        assert (rendered.width, rendered.height) == (width, height)
