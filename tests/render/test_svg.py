"""SVG drawer: external references refused, vector art fitted and crisp at dpr 2."""

from __future__ import annotations

import pytest

from proxy.errors import BadSource
from proxy.render.context import DrawContext
from proxy.render.svg import check_svg, draw_svg
from proxy.template.model import SvgLayer
from proxy.template.refs import xml_escape

NS = 'xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"'
ART = (f'<svg {NS} width="100" height="50" viewBox="0 0 100 50">'
       '<rect width="100" height="50" fill="#ff0000"/></svg>')

REFUSED = [
    f'<svg {NS}><image href="file:///etc/passwd" width="10" height="10"/></svg>',
    f'<svg {NS}><image xlink:href="http://169.254.169.254/x.png"/></svg>',
    f'<svg {NS}><image href="&#102;ile:///etc/passwd"/></svg>',
    f'<svg {NS}><use href="other.svg#a"/></svg>',
    '<!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/passwd">]><svg>&x;</svg>',
    f'<svg {NS}><style>@import url(https://example.com/a.css);</style></svg>',
    f'<svg {NS}><rect style="fill: url(https://example.com/p.svg#g)"/></svg>',
    f'<svg {NS}><style>rect {{ fill: u\\72l(https://example.com) }}</style></svg>',
    f'<svg {NS}><script>alert(1)</script></svg>',
    f'<svg {NS}><foreignObject><p>hi</p></foreignObject></svg>',
    '<?xml-stylesheet href="https://example.com/a.css"?><svg/>',
    "<svg><rect",
]


@pytest.mark.parametrize("text", REFUSED)
def test_external_references_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        check_svg(text)


def test_fragments_and_inline_images_are_allowed() -> None:
    check_svg(f'<svg {NS}><defs><linearGradient id="g"/></defs><rect fill="url(#g)"/>'
              '<use href="#g"/><image href="data:image/png;base64,iVBORw0KGgo="/></svg>')


def test_draw_refuses_with_bad_source() -> None:
    layer = SvgLayer(box=(0, 0, 10, 10), svg=REFUSED[0])
    with pytest.raises(BadSource):
        draw_svg(layer, DrawContext(scale=1.0, canvas_size=(10, 10)))


def test_svg_fits_the_box_and_doubles_at_dpr_2() -> None:
    layer = SvgLayer(box=(10, 10, 200, 200), svg=ART)
    one = draw_svg(layer, DrawContext(scale=1.0, canvas_size=(400, 400)))
    two = draw_svg(layer, DrawContext(scale=2.0, canvas_size=(800, 800)))
    assert one is not None and two is not None
    assert (one.image.width, one.image.height) == (200, 100)
    assert (two.image.width, two.image.height) == (400, 200)
    assert (one.x, one.y) == (10, 60)  # centred vertically in the box
    # crisp: drawn at scale, so the edge pixel is already fully red, not an upscale blur
    assert two.image(0, 0) == [255, 0, 0, 255]
    assert two.image(399, 199) == [255, 0, 0, 255]


def test_xml_escape_makes_values_inert() -> None:
    value = xml_escape('<image href="file:///x"/> & \x00\'')
    assert "<" not in value and '"' not in value and "\x00" not in value
    check_svg(f"<svg {NS}><text>{value}</text></svg>")


def test_art_thinner_than_a_pixel_in_its_box_draws_nothing() -> None:
    # Found by tests/render/test_fuzz.py: 100x40 art in a 1x1 box scaled to 1x0.4 px and
    # librsvg refused the zero-sized image (a 422 for a valid template).
    wide = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 40">'
            '<rect width="100" height="40" fill="#f00"/></svg>')
    assert draw_svg(SvgLayer(box=(0, 0, 1, 1), svg=wide),
                    DrawContext(scale=1.0, canvas_size=(10, 10))) is None
    patch = draw_svg(SvgLayer(box=(0, 0, 5, 5), svg=wide),
                     DrawContext(scale=1.0, canvas_size=(10, 10)))
    assert patch is not None and patch.image.width == 5
