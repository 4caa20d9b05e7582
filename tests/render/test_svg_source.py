"""An SVG source is rasterised at the size it is drawn, not at its declared size."""

from __future__ import annotations

import time
from pathlib import Path

import pyvips

import proxy.render  # noqa: F401  (fonts are set up before any text renders)
from proxy.render import RenderJob, RenderMemo, render
from proxy.spec import OutputOptions
from proxy.template.registry import Registry
from proxy.template.values import coerce

TEMPLATE = '''size = [400, 300]
background = "#ffffff"

[variables.src]
type = "image"
allow_svg = true

[[layers]]
type = "image"
src = "{src}"
box = [0, 0, 400, 300]
fit = "cover"
'''


def blurred_svg(side: int) -> bytes:
    # legal (36 Mpx is under the default 40 Mpx), and a blur's cost follows the drawn size
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{side}" height="{side}">'
            f'<filter id="b"><feGaussianBlur stdDeviation="30"/></filter>'
            f'<rect width="{side}" height="{side}" fill="#ff0000" filter="url(#b)"/>'
            f'<circle cx="{side // 2}" cy="{side // 2}" r="{side // 3}" fill="#0000ff"/>'
            f'</svg>').encode()


def test_huge_declared_svg_is_drawn_at_its_box_size(tmp_path: Path) -> None:
    # At its declared 6000x6000 this ran for over two minutes, past any deadline.
    (tmp_path / "vector.toml").write_text(TEMPLATE)
    template = Registry(tmp_path).get("vector")
    url = "https://img.test/art.svg"
    started = time.monotonic()
    rendered = render(RenderJob(template=template, values=coerce(template, {"src": url}),
                                output=OutputOptions(format="png"),
                                images={url: blurred_svg(6000)},
                                deadline=started + 10), RenderMemo(max_bytes=0))
    assert time.monotonic() - started < 5
    image = pyvips.Image.new_from_buffer(rendered.data, "")
    assert (image.width, image.height) == (400, 300)
    red, green, blue = image(200, 150)[:3]
    assert blue > 200 and red < 60 and green < 60        # the circle, at the centre
    red, _, blue = image(200, 2)[:3]
    assert red > 150 and blue < 100                       # the blurred red around it
