"""QR code and barcode layers: goldens at dpr 1 and 3, decoded back, and the 400s they raise."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import pyvips

import proxy.render  # noqa: F401  (sets up fonts before any text renders)
from proxy.errors import InvalidValue, TemplateError
from proxy.render import RenderJob, RenderMemo, render
from proxy.spec import OutputOptions
from proxy.template.load import load_template
from proxy.template.symbols import qr_matrix
from proxy.template.values import coerce

zxingcpp = pytest.importorskip("zxingcpp", reason="zxing-cpp decodes the rendered codes")

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "templates"


def codes(*, dpr: float = 1, width: int | None = None, fmt: str = "png", **values: str) -> bytes:
    template = load_template(FIXTURES / "codes.toml")
    job = RenderJob(template=template, values=coerce(template, values),
                    output=OutputOptions(format=fmt, dpr=dpr, width=width))
    return render(job, RenderMemo()).data


def decode(data: bytes, crop: tuple[float, float, float, float] = (0, 0, 1, 1)) -> list[str]:
    image = pyvips.Image.new_from_buffer(data, "")
    if image.hasalpha():
        image = image.flatten(background=[255] * (image.bands - 1))
    x, y, w, h = crop
    image = image.crop(round(x * image.width), round(y * image.height),
                       round(w * image.width), round(h * image.height))
    grey = np.ndarray(buffer=image.colourspace("b-w")[0].write_to_memory(), dtype=np.uint8,
                      shape=(image.height, image.width))
    return [r.text for r in zxingcpp.read_barcodes(grey)]


def test_codes_golden_dpr1(golden) -> None:  # type: ignore[no-untyped-def]
    golden(codes(), "codes", fmt="png")


def test_codes_golden_dpr3_is_drawn_at_scale(golden) -> None:  # type: ignore[no-untyped-def]
    data = codes(dpr=3)
    image = pyvips.Image.new_from_buffer(data, "")
    assert (image.width, image.height) == (1920, 1080)
    golden(data, "codes-dpr3", fmt="png")


@pytest.mark.parametrize("side", [600, 120])
def test_qr_decodes_back_to_its_value(side: int) -> None:
    value = "https://shop.example.com/c/SPRING-2026?u=42&ref=mail"
    # the QR box is half the canvas height: width 2 * side / (320/360) puts it at ~side px
    width = round(side * 640 / 320)
    data = codes(coupon=value, width=width, ean="", code="")
    qr_side = pyvips.Image.new_from_buffer(data, "").width * 320 / 640
    assert abs(qr_side - side) <= 2
    assert value in decode(data, (0, 0, 0.55, 1))


def test_barcodes_decode_back(golden) -> None:  # type: ignore[no-untyped-def]
    data = codes(ean="4006381333931", code="SAVE-20%")
    texts = decode(data, (0.55, 0, 0.45, 0.5)) + decode(data, (0.55, 0.5, 0.45, 0.5))
    assert "4006381333931" in texts and "SAVE-20%" in texts


def test_twelve_digits_get_their_check_digit() -> None:
    assert "5901234123457" in decode(codes(ean="590123412345"), (0.55, 0, 0.45, 0.5))


def test_qr_modules_are_the_asked_colour() -> None:
    image = pyvips.Image.new_from_buffer(codes(ink="#dc2626"), "")
    # the finder pattern's top-left module sits just inside the quiet zone
    qr = image.crop(20, 20, 320, 320)
    dark = [p for p in (qr(x, y) for x in range(0, 320, 7) for y in range(0, 320, 7))
            if p[0] > 150 and p[1] < 90]
    assert dark, "no module in #dc2626"
    # whole-pixel modules, centred; the quiet zone is the layer's background colour
    modules = len(qr_matrix("https://shop.example.com/c/SPRING-2026", "Q")) + 8
    inset = 20 + (320 - 320 // modules * modules) // 2
    assert image(inset + 2, inset + 2)[:3] == [255, 255, 255]
    assert image(inset - 2, inset - 2)[:3] == [241, 245, 249]


def test_value_too_long_for_any_qr_is_400_naming_the_layer() -> None:
    with pytest.raises(InvalidValue, match=r"layers\[0\] \(qr\): .*too many"):
        codes(coupon="x" * 3000)


def test_code_that_cannot_fit_its_box_is_400_naming_the_layer(tmp_path: Path) -> None:
    small = tmp_path / "small.toml"
    small.write_text(
        'size = [100, 100]\nbackground = "#ffffff"\n'
        '[variables.val]\ntype = "text"\ndefault = "hello"\nmax_length = 300\n'
        '[[layers]]\ntype = "qr"\nbox = [0, 0, 30, 30]\nvalue = "{val}"\n')
    template = load_template(small)

    def run(value: str) -> None:
        job = RenderJob(template=template, values=coerce(template, {"val": value}),
                        output=OutputOptions(format="png"))
        render(job, RenderMemo())

    run("hi")  # 21 + 8 modules of 1 px fit in 30 px
    with pytest.raises(InvalidValue, match=r"layers\[0\] \(qr\): the code needs \d+ modules"):
        run("a longer value that needs a bigger QR version" * 2)


@pytest.mark.parametrize(("ean", "reason"), [("12345", "12 or 13 digits"),
                                             ("5901234123458", "check digit is 7")])
def test_bad_ean13_is_400(ean: str, reason: str) -> None:
    with pytest.raises(InvalidValue, match=reason):
        codes(ean=ean)


def test_non_ascii_code128_is_400() -> None:
    with pytest.raises(InvalidValue, match="printable ASCII"):
        codes(code="café")


def test_fixed_bad_barcode_fails_at_load(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('size = [300, 100]\n[[layers]]\ntype = "barcode"\nbox = [0, 0, 300, 100]\n'
                   'symbology = "ean13"\nvalue = "12ab"\n')
    with pytest.raises(TemplateError, match=r"layers\[0\]\.value"):
        load_template(bad)


def test_empty_value_draws_nothing() -> None:
    image = pyvips.Image.new_from_buffer(codes(code=""), "")
    assert image.crop(360, 190, 260, 150).min() > 200
