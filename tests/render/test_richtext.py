"""Richer text: inline styles, opted-in value markup with a palette, every effect, case."""

from __future__ import annotations

from pathlib import Path

import pytest
import pyvips

import proxy.render  # noqa: F401  (sets up fonts before any text renders)
from proxy.errors import TemplateError
from proxy.render import RenderJob, RenderMemo, render
from proxy.spec import OutputOptions
from proxy.template.load import load_template
from proxy.template.markup import check, escape, runs, to_colours
from proxy.template.values import coerce, resolve_layer

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "templates"


def rich(dpr: float = 1, **values: str) -> bytes:
    template = load_template(FIXTURES / "richtext.toml")
    job = RenderJob(template=template, values=coerce(template, values),
                    output=OutputOptions(format="png", dpr=dpr))
    return render(job, RenderMemo()).data


def image(data: bytes) -> pyvips.Image:
    return pyvips.Image.new_from_buffer(data, "")


def test_richtext_golden(golden) -> None:  # type: ignore[no-untyped-def]
    golden(rich(), "richtext", fmt="png")


def test_richtext_golden_dpr2(golden) -> None:  # type: ignore[no-untyped-def]
    golden(rich(dpr=2), "richtext-dpr2", fmt="png")


def test_values_are_escaped_inside_template_styles() -> None:
    template = load_template(FIXTURES / "richtext.toml")
    values = coerce(template, {"name": "<b>Eve</b> & <warn>x</warn>"})
    text = resolve_layer(template.layers[0], values, template).text  # type: ignore[union-attr]
    assert "&lt;b&gt;Eve&lt;/b&gt; &amp; &lt;warn&gt;" in text
    pieces = runs(text)
    assert ("<b>Eve</b> & <warn>x</warn>", ("b",)) in pieces
    assert any(styles == ("#dc2626ff",) for _, styles in pieces)   # the template's own <warn>


def test_markup_variable_keeps_only_our_tags_balanced() -> None:
    template = load_template(FIXTURES / "richtext.toml")
    values = coerce(template, {"note": "<b>bold <brand>blue</b> <span foreground='red'>x"})
    text = resolve_layer(template.layers[1], values, template).text  # type: ignore[union-attr]
    pieces = runs(text)
    assert pieces[0] == ("bold ", ("b",))
    # the crossing </b> is dropped, both stay open to the value's end; <span> is printed
    assert pieces[1] == ("blue <span foreground='red'>x", ("b", "#2563ebff"))


def test_bold_value_is_drawn_bolder() -> None:
    def ink(note: str) -> float:
        strip = image(rich(note=note)).crop(20, 90, 760, 60).colourspace("b-w")[0]
        return float((strip < 128).avg())

    assert ink("<b>Heavy words here</b>") > ink("Heavy words here") * 1.1


def test_palette_colour_is_used() -> None:
    strip = image(rich(note="<brand>BLUE BLUE BLUE</brand>")).crop(20, 90, 760, 60)
    blue = (strip[2] > 180) & (strip[0] < 90)
    assert blue.avg() > 0


def test_shadow_and_outline_add_ink_outside_the_glyphs() -> None:
    picture = image(rich())
    shadow = picture.crop(20, 160, 370, 80).colourspace("b-w")[0]
    assert (shadow < 160).avg() > 0                 # white text, visible only by its shadow
    outline = picture.crop(410, 160, 370, 80)
    dark = (outline.colourspace("b-w")[0] < 60).avg()
    assert dark > 0                                 # yellow text ringed in near-black


def test_highlight_spans_each_line() -> None:
    band = image(rich()).crop(0, 250, 540, 140)
    yellow = (band[0] > 230) & (band[1] > 200) & (band[2] < 120)
    rows = [y for y in range(yellow.height) if yellow.crop(0, y, yellow.width, 1).max() > 0]
    assert rows and rows[-1] - rows[0] > 60         # two or more lines highlighted


def test_case_transforms() -> None:
    assert escape("a<b>&") == "a&lt;b&gt;&amp;"
    from proxy.render.richtext import transform_case

    assert transform_case("title case for o'neil", "title") == "Title Case For O'neil"
    assert transform_case("straße", "upper") == "STRASSE"


@pytest.mark.parametrize(("text", "reason"), [
    ("<b>open", "<b> is not closed"), ("</i>x", "closes nothing open"),
    ("<b><i>x</b></i>", "</b> closes <i>"),
])
def test_bad_template_markup_is_a_load_error(tmp_path: Path, text: str, reason: str) -> None:
    assert check(text, {}) is not None
    bad = tmp_path / "bad.toml"
    bad.write_text(f'size = [200, 100]\n[[layers]]\ntype = "text"\nbox = [0, 0, 200, 100]\n'
                   f'text = "{text}"\n')
    with pytest.raises(TemplateError, match=reason):
        load_template(bad)


def test_unknown_tags_in_template_text_are_text() -> None:
    assert to_colours("a <x>b</x>", {}) == "a <x>b</x>"
    assert runs("a <x>b</x>") == [("a <x>b</x>", ())]


def test_bad_effect_is_a_load_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('size = [200, 100]\n[[layers]]\ntype = "text"\nbox = [0, 0, 200, 100]\n'
                   'text = "x"\nshadow = { colour = "#000" }\n')
    with pytest.raises(TemplateError, match=r"layers\[0\]\.shadow\.colour: unknown key"):
        load_template(bad)


EFFECT_COLOURS = """
size = [300, 120]
background = "#ffffff"

[variables.glow]
type = "color"
default = "#ff0000"

[[layers]]
type = "text"
box = [20, 20, 260, 80]
text = "HHHH"
font = "Inter Bold"
size = 60
color = "#ffffff"
outline = { color = "{glow}", width = 4 }
"""


def test_effect_colours_may_name_a_colour_variable(tmp_path: Path) -> None:
    # Effects took literal colours only: a card's outline could not follow its accent.
    path = tmp_path / "glow.toml"
    path.write_text(EFFECT_COLOURS)
    template = load_template(path)

    def ring(**values: str) -> tuple[float, float, float]:
        job = RenderJob(template=template, values=coerce(template, values),
                        output=OutputOptions(format="png"))
        picture = image(render(job, RenderMemo()).data)[0:3]
        inked = (picture[0] < 250) | (picture[1] < 250) | (picture[2] < 250)
        mean = [(band * (inked / 255)).avg() / max((inked / 255).avg(), 1e-9)
                for band in picture.bandsplit()]
        return mean[0], mean[1], mean[2]

    red, blue = ring(), ring(glow="#0000ff")
    assert red[0] > 150 and red[2] < 100            # the default: a red ring
    assert blue[2] > 150 and blue[0] < 100          # the value's colour, not the default's
    bad = tmp_path / "bad.toml"
    bad.write_text(EFFECT_COLOURS.replace("{glow}", "{nope}"))
    with pytest.raises(TemplateError, match=r"outline\.color: references undefined variable"):
        load_template(bad)
