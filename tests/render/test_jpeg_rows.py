"""JPEGs spliced from a base's rows and a changed band: the bytes of the whole canvas's rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import pyvips
import simplejpeg

import proxy.render  # noqa: F401  (fonts are set up before any text renders)
from proxy.render import RenderJob, RenderMemo, render
from proxy.render import pipeline as pipeline_module
from proxy.render.encode import encode
from proxy.render.jpeg_rows import RowSegments, encode_rows, join, splice
from proxy.spec import OutputOptions
from proxy.template.registry import Registry
from proxy.template.values import coerce

ROOT = Path(__file__).resolve().parents[2]


def _canvas(pixels: np.ndarray) -> pyvips.Image:
    height, width = pixels.shape[:2]
    return pyvips.Image.new_from_memory(pixels.tobytes(), width, height, 3, "uchar")


def _pair(width: int, height: int, rows: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """A base with a gradient and texture, and a copy changed in `rows` only."""
    rng = np.random.default_rng(3)
    ys, xs = np.mgrid[0:height, 0:width]
    base = np.stack(((xs * 255 // width), (ys * 255 // height), (xs + ys) % 256), axis=2)
    base = (base + rng.integers(0, 24, base.shape)).clip(0, 255).astype(np.uint8)
    changed = base.copy()
    y0, y1 = rows
    changed[y0:y1] = rng.integers(0, 256, (y1 - y0, width, 3), dtype=np.uint8)
    return base, changed


def _rows(pixels: np.ndarray, quality: int = 82) -> RowSegments:
    segments = encode_rows(pixels, quality)
    assert segments is not None
    return segments


def _whole(pixels: np.ndarray, quality: int = 82) -> bytes:
    rows = _rows(pixels, quality)
    return join(rows.header, rows.segments)


def _decoded(data: bytes) -> np.ndarray:
    return np.frombuffer(pyvips.Image.jpegload_buffer(data).write_to_memory(), dtype=np.uint8)


@pytest.mark.parametrize("quality", [82, 95])          # 4:2:0 (16-row MCUs), 4:4:4 (8-row)
@pytest.mark.parametrize("rows", [(0, 5), (37, 38), (100, 180), (200, 251), (0, 251)])
def test_a_spliced_jpeg_is_the_whole_canvas_encoded_by_rows_byte_for_byte(
        quality: int, rows: tuple[int, int]) -> None:
    width, height = 333, 251           # neither side a multiple of an MCU
    base, changed = _pair(width, height, rows)
    spliced = splice(_rows(base, quality), changed, rows, quality)
    assert spliced == _whole(changed, quality)
    decoded = pyvips.Image.jpegload_buffer(spliced)
    assert (decoded.width, decoded.height) == (width, height)


@pytest.mark.parametrize("quality", [82, 95])
def test_rows_decode_to_the_pixels_of_one_encode_and_near_libvips_own(quality: int) -> None:
    base, _ = _pair(333, 251, (0, 1))
    data = _whole(base, quality)
    sampling = "444" if quality >= 90 else "420"
    # the same coefficients as one libjpeg-turbo encode of the canvas: the same pixels
    one = simplejpeg.encode_jpeg(base, quality=quality, colorspace="RGB",
                                 colorsubsampling=sampling, fastdct=False)
    assert np.array_equal(_decoded(data), _decoded(one))
    # as close to the source as libvips' (mozjpeg's) encode of it, in about as many bytes
    theirs = encode(_canvas(base), "jpeg", quality)
    source = base.reshape(-1).astype(int)
    ours_error = np.abs(_decoded(data).astype(int) - source).mean()
    their_error = np.abs(_decoded(theirs).astype(int) - source).mean()
    assert ours_error <= 1.05 * their_error
    assert len(data) <= 1.03 * len(theirs)
    restart = data.split(b"\xff\xdd\x00\x04", 1)[1][:2]
    assert int.from_bytes(restart, "big") == -(-333 // (8 if quality >= 90 else 16))


def test_no_changed_rows_is_the_base_itself() -> None:
    base, _ = _pair(200, 120, (0, 1))
    assert splice(_rows(base), base, (0, 0), 82) == _whole(base)


def test_a_band_encoded_at_another_quality_is_not_spliced() -> None:
    base, changed = _pair(200, 160, (40, 60))
    # same sampling, other quantisation tables: the header check must refuse the band
    assert splice(_rows(base, 82), changed, (40, 60), 60) is None


def _card(memo: RenderMemo, name: str, fmt: str, **output: int) -> bytes:
    template = Registry(ROOT / "templates").get("social-card")
    values = coerce(template, {"name": name, "title": "A title that stays"})
    return render(RenderJob(template=template, values=values,
                            output=OutputOptions(format=fmt, **output)), memo).data


def test_a_card_is_spliced_and_equals_its_canvas_encoded_by_rows(
        monkeypatch: pytest.MonkeyPatch) -> None:
    spliced: list[bool] = []
    real = pipeline_module.splice

    def spy(*args: object, **kwargs: object) -> bytes | None:
        result = real(*args, **kwargs)  # type: ignore[arg-type]
        spliced.append(result is not None)
        return result

    monkeypatch.setattr(pipeline_module, "splice", spy)
    memo = RenderMemo()
    for name in ("Ada Lovelace", "Grace Brewster Murray Hopper the Admiral"):
        data = _card(memo, name, "jpeg")
        canvas = pyvips.Image.new_from_buffer(_card(memo, name, "png"), "")
        pixels = np.frombuffer(canvas.write_to_memory(), dtype=np.uint8).reshape(630, 1200, 3)
        assert data == _whole(pixels)
    assert spliced == [True, True]


def test_a_stretched_output_is_encoded_whole() -> None:
    memo = RenderMemo()
    half = _card(memo, "Ada", "jpeg", width=600)       # drawn at half scale: spliced
    assert b"\xff\xdd" in half.split(b"\xff\xda", 1)[0]
    stretched = _card(memo, "Ada", "jpeg", width=600, height=400)     # resized after drawing
    assert b"\xff\xdd" not in stretched.split(b"\xff\xda", 1)[0]     # no restart interval
    image = pyvips.Image.jpegload_buffer(stretched)
    assert (image.width, image.height) == (600, 400)
