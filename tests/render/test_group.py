"""Group layers: flow in both directions, nesting, `when` collapse, hugging backgrounds, RTL in
a row; goldens plus geometry read back from the pixels."""

from __future__ import annotations

from pathlib import Path

import pytest
import pyvips

import proxy.render  # noqa: F401  (sets up fonts before any text renders)
from proxy.errors import TemplateError
from proxy.render import RenderJob, RenderMemo, render
from proxy.spec import OutputOptions
from proxy.template.load import load_template
from proxy.template.values import coerce

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "templates"
ACCENT = [0x38, 0xBD, 0xF8]


def flow(dpr: float = 1, **values: str) -> bytes:
    template = load_template(FIXTURES / "flow.toml")
    job = RenderJob(template=template, values=coerce(template, values),
                    output=OutputOptions(format="png", dpr=dpr))
    return render(job, RenderMemo()).data


def image(data: bytes) -> pyvips.Image:
    return pyvips.Image.new_from_buffer(data, "")


def extent(mask: pyvips.Image) -> tuple[int, int, int, int] | None:
    """(left, top, right, bottom) of the non-zero pixels of a one-band mask."""
    columns, rows = mask.project()
    xs = [x for x in range(columns.width) if columns(x, 0)[0] > 0]
    ys = [y for y in range(rows.height) if rows(0, y)[0] > 0]
    if not xs:
        return None
    return xs[0], ys[0], xs[-1] + 1, ys[-1] + 1


def colour_mask(picture: pyvips.Image, rgb: list[int]) -> pyvips.Image:
    return (picture[0:3] == rgb).bandand()


def test_flow_golden(golden) -> None:  # type: ignore[no-untyped-def]
    golden(flow(), "flow", fmt="png")


def test_flow_golden_dpr2(golden) -> None:  # type: ignore[no-untyped-def]
    data = flow(dpr=2)
    assert (image(data).width, image(data).height) == (1600, 1200)
    golden(data, "flow-dpr2", fmt="png")


def test_pill_hugs_its_text_plus_padding(golden) -> None:  # type: ignore[no-untyped-def]
    short = extent(colour_mask(image(flow(badge="Hi")), ACCENT))
    data = flow(badge="Keynote speaker")
    long = extent(colour_mask(image(data), ACCENT))
    assert short is not None and long is not None
    assert long[2] - long[0] > (short[2] - short[0]) + 100      # wider with longer text
    assert short[0] == long[0] == 36                             # both start at the padding
    assert short[1] >= 20 + 16 and long[3] - long[1] < 50        # one line high
    golden(data, "flow-long-badge", fmt="png")


def test_hidden_child_takes_no_space(golden) -> None:  # type: ignore[no-untyped-def]
    data = flow(badge="")
    card = image(data).crop(20, 20, 460, 300)
    assert extent(colour_mask(card, ACCENT)) is None
    golden(data, "flow-when-collapsed", fmt="png")


def test_a_name_that_shrinks_pulls_the_title_up() -> None:
    def title_top(name: str) -> int:
        card = image(flow(name=name, badge="")).crop(36, 36, 428, 268)
        ink = colour_mask(card, [0x33, 0x41, 0x55])            # the title's colour
        found = extent(ink)
        assert found is not None
        return found[1]

    assert title_top("Ada Lovelace, Countess of Lovelace and Mathematician") < title_top("Ada")


def test_rtl_name_follows_the_image_in_the_row() -> None:
    row = image(flow()).crop(500, 20, 280, 96)
    dark = row.colourspace("b-w")[0] < 80
    found = extent(dark)
    assert found is not None
    left, top, right, bottom = found
    assert left >= 8 + 64 + 12 - 2                     # after the padding, the image and gap
    assert 20 < (top + bottom) / 2 < 76                # centred across the row


def test_growing_rect_pushes_the_row_apart() -> None:
    bar = extent(colour_mask(image(flow()), [0x94, 0xA3, 0xB8]))
    assert bar is not None
    left, _top, right, bottom = bar
    assert bar[3] - bar[1] == 4 and right - left > 500


def test_chips_wrap_onto_lines_inside_the_box() -> None:
    chips = extent(colour_mask(image(flow()), [0xFE, 0xCA, 0xCA]))   # the last chip
    assert chips is not None and chips[2] <= 780


def test_child_without_size_is_refused_for_images(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('size = [200, 200]\n[[layers]]\ntype = "group"\nbox = [0, 0, 200, 200]\n'
                   '[[layers.children]]\ntype = "image"\nsrc = "x.png"\n')
    with pytest.raises(TemplateError, match=r"layers\[0\]\.children\[0\]: a image in a group"):
        load_template(bad)


def test_child_box_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('size = [200, 200]\n[[layers]]\ntype = "group"\nbox = [0, 0, 200, 200]\n'
                   '[[layers.children]]\ntype = "rect"\nbox = [0, 0, 10, 10]\n')
    with pytest.raises(TemplateError, match=r"layers\[0\]\.children\[0\]\.box: unknown key"):
        load_template(bad)


def test_explain_outlines_every_child_the_group_laid_out() -> None:
    template = load_template(FIXTURES / "flow.toml")
    job = RenderJob(template=template, values=coerce(template, {}),
                    output=OutputOptions(format="png"), explain=True)
    picture = image(render(job, RenderMemo()).data)
    plain = image(flow())
    # the pill's own outline (a child box) sits inside the card's group box
    changed = ((picture - plain).abs().bandmean() > 30).crop(30, 150, 300, 100)
    assert changed.avg() > 0
    rows = [y for y in range(changed.height) if changed.crop(0, y, changed.width, 1).max() > 0]
    assert len(rows) >= 4    # top and bottom edges of the name, title and pill boxes
