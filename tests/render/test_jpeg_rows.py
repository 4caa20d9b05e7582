"""JPEGs spliced from a base's rows and a changed band: the bytes of a whole encode."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import pyvips

import proxy.render  # noqa: F401  (fonts are set up before any text renders)
from proxy.render import RenderJob, RenderMemo, render
from proxy.render import pipeline as pipeline_module
from proxy.render.encode import encode
from proxy.render.jpeg_rows import Encoder, RowSegments, encode_rows, restart_interval, split
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


def _encoder(quality: int) -> Encoder:
    def encoder(image: pyvips.Image, restarts: int) -> bytes:
        return encode(image, "jpeg", quality, restart_interval=restarts)
    return encoder


def _base_rows(base: np.ndarray, quality: int = 82) -> tuple[RowSegments, int]:
    """`base` encoded whole with a restart per MCU row and cut into its rows; the interval."""
    height, width = base.shape[:2]
    interval = restart_interval(width, quality)
    segments = split(_encoder(quality)(_canvas(base), interval), height)
    assert segments is not None
    return segments, interval


@pytest.mark.parametrize("quality", [82, 95])          # 4:2:0 (16-row MCUs), 4:4:4 (8-row)
@pytest.mark.parametrize("rows", [(0, 5), (37, 38), (100, 180), (200, 251), (130, 251)])
def test_a_spliced_jpeg_is_the_whole_encode_byte_for_byte(quality: int,
                                                          rows: tuple[int, int]) -> None:
    width, height = 333, 251           # neither side a multiple of an MCU
    base, changed = _pair(width, height, rows)
    segments, interval = _base_rows(base, quality)
    encoder = _encoder(quality)
    spliced = encode_rows(_canvas(changed), segments, rows, encoder, interval)
    assert spliced == encoder(_canvas(changed), interval)
    decoded = pyvips.Image.jpegload_buffer(spliced)
    assert (decoded.width, decoded.height) == (width, height)


def test_no_changed_rows_is_the_base_itself() -> None:
    base, _ = _pair(200, 120, (0, 1))
    segments, interval = _base_rows(base)
    data = _encoder(82)(_canvas(base), interval)
    assert encode_rows(_canvas(base), segments, (0, 0), _encoder(82), interval) == data


def test_a_band_of_most_of_the_canvas_is_left_to_the_whole_encode() -> None:
    base, changed = _pair(200, 160, (0, 150))
    segments, interval = _base_rows(base)
    assert encode_rows(_canvas(changed), segments, (0, 150), _encoder(82), interval) is None


def test_a_band_encoded_with_other_tables_is_not_spliced() -> None:
    base, changed = _pair(200, 160, (40, 60))
    segments, interval = _base_rows(base)
    # same sampling, other quantisation tables: the header check must refuse the band
    assert encode_rows(_canvas(changed), segments, (40, 60), _encoder(60), interval) is None


def test_only_baseline_single_scan_jpegs_with_a_restart_per_row_split() -> None:
    image = _canvas(_pair(200, 120, (0, 1))[0])
    assert split(image.jpegsave_buffer(Q=82, interlace=True, restart_interval=13), 120) is None
    assert split(image.jpegsave_buffer(Q=82), 120) is None                 # no restarts
    assert split(image.jpegsave_buffer(Q=82, restart_interval=5), 120) is None  # not per row
    assert split(image.pngsave_buffer(), 120) is None
    assert split(image.jpegsave_buffer(Q=82, restart_interval=13), 120) is not None


def _card(memo: RenderMemo, name: str, fmt: str, **output: int) -> bytes:
    template = Registry(ROOT / "templates").get("social-card")
    values = coerce(template, {"name": name, "title": "A title that stays"})
    return render(RenderJob(template=template, values=values,
                            output=OutputOptions(format=fmt, **output)), memo).data


def test_a_card_is_spliced_and_equals_its_canvas_encoded_whole(
        monkeypatch: pytest.MonkeyPatch) -> None:
    spliced: list[bool] = []
    real = pipeline_module.encode_rows

    def spy(*args: object, **kwargs: object) -> bytes | None:
        result = real(*args, **kwargs)  # type: ignore[arg-type]
        spliced.append(result is not None)
        return result

    monkeypatch.setattr(pipeline_module, "encode_rows", spy)
    memo = RenderMemo()
    for name in ("Ada Lovelace", "Grace Brewster Murray Hopper the Admiral"):
        data = _card(memo, name, "jpeg")
        canvas = pyvips.Image.new_from_buffer(_card(memo, name, "png"), "")
        assert data == encode(canvas, "jpeg", None, restart_interval=restart_interval(1200, 82))
    assert spliced == [True, True]


def test_a_stretched_output_is_encoded_whole() -> None:
    memo = RenderMemo()
    half = _card(memo, "Ada", "jpeg", width=600)       # drawn at half scale: spliced
    assert b"\xff\xdd" in half.split(b"\xff\xda", 1)[0]
    stretched = _card(memo, "Ada", "jpeg", width=600, height=400)     # resized after drawing
    assert b"\xff\xdd" not in stretched.split(b"\xff\xda", 1)[0]     # no restart interval
    image = pyvips.Image.jpegload_buffer(stretched)
    assert (image.width, image.height) == (600, 400)
