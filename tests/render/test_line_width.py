"""A line's width predicted from its font file (line_width.py) against Pango's layout."""

from __future__ import annotations

from pathlib import Path

import pytest

import proxy.render  # noqa: F401  (fonts are set up before any text renders)
from proxy.render import text
from proxy.render.line_width import line_font

NAMES = ("Alexandra Konstantinopoulou 00042", "Wilhelmina Venkataraghavan", "Tyrone Avery-Watts",
         "Seán O’Súilleabháin", "Αλέξανδρος Παπαδόπουλος", "Александра Константинова",
         "Nguyễn Thị Minh Khai", "AVAVAVAV To Ty Yo")


@pytest.mark.parametrize(("font", "file"), [
    ("Inter Bold", "Inter-Bold.otf"), ("Inter", "Inter-Regular.otf"),
    ("Inter SemiBold", "Inter-SemiBold.otf"), ("Inter Black", "Inter-Black.otf")])
def test_the_file_pango_lays_a_font_out_from_is_found_by_its_widths(font: str, file: str
                                                                    ) -> None:
    found = line_font(font, text._line_width)
    assert found is not None and found.path.name == file


def test_a_font_with_no_file_of_its_family_gets_no_prediction() -> None:
    assert line_font("Nonesuch Grotesk Bold", text._line_width) is None


@pytest.mark.parametrize("name", NAMES)
def test_shaped_widths_match_the_laid_out_line_at_every_size(name: str) -> None:
    # Within 0.5 % (Pango's figure is the ink between two markers, which the end glyphs'
    # side bearings move by a few pixels); kerning and each size's rounding are in it.
    font = line_font("Inter Bold", text._line_width)
    assert font is not None
    shaped = font.shape(name)
    assert shaped is not None
    for size in (29.0, 36.0, 43.0, 50.5, 61.0, 76.0):
        laid_out = text._line_width("Inter Bold", name, size)
        assert abs(shaped.width(size) - laid_out) <= max(3, 0.005 * laid_out), (size, laid_out)


def test_a_character_the_font_lacks_leaves_the_line_unpredicted() -> None:
    # Pango would draw it from another font, whose advances this file does not know
    font = line_font("Inter Bold", text._line_width)
    assert font is not None
    assert font.shape("Ann 李") is None
    assert font.shape("Ann Lee") is not None


def test_a_damaged_file_of_the_family_is_passed_over(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # Operators drop fonts into the folder; one HarfBuzz or the name table cannot read is no
    # candidate, and the file that predicts the widths is still found.
    import shutil

    from proxy.render.line_width import _PROBE, _PROBE_PX, LineFont
    from proxy.render.vips import FONTS_DIR_ENV

    shipped = Path(__file__).resolve().parents[2] / "templates" / "fonts" / "Inter-Bold.otf"
    shutil.copy(shipped, tmp_path / "Inter-Bold.otf")
    (tmp_path / "Inter-Broken.otf").write_bytes(b"OTTO" + b"\x00\x09" + b"\xff" * 40)
    (tmp_path / "Inter-Empty.ttf").write_bytes(b"")
    probe = LineFont(shipped).shape(_PROBE)
    assert probe is not None
    widths = {size: probe.width(size) for size in _PROBE_PX}   # Pango's, as the file predicts
    monkeypatch.setenv(FONTS_DIR_ENV, str(tmp_path))
    found = line_font("Inter Bold", lambda font, text, size: widths[size])
    assert found is not None and found.path.name == "Inter-Bold.otf"


def test_a_damaged_font_file_names_no_family(tmp_path: Path) -> None:
    # fontcheck asks for the folder's families on every template check: one bad file there
    # raised struct.error out of it
    import shutil

    from proxy.render.vips import font_families

    shipped = Path(__file__).resolve().parents[2] / "templates" / "fonts" / "Inter-Bold.otf"
    shutil.copy(shipped, tmp_path / "Inter-Bold.otf")
    (tmp_path / "Broken.otf").write_bytes(b"OTTO" + b"\x00\x09" + b"\xff" * 40)
    assert font_families(tmp_path) == {"Inter"}
