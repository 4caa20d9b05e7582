"""Golden-image comparison: ΔE00 per pixel, a budget on the share of pixels over 10.

Goldens are lossless PNGs under tests/goldens/<test-module>/<name>.png, compared against any
output format. PICSTREAM_UPDATE_GOLDENS=1 writes missing or changed goldens;
PICSTREAM_GOLDEN_OUT=dir saves the actual image and a diff image for review.
"""

from __future__ import annotations

import os
from pathlib import Path

import pyvips

GOLDENS = Path(__file__).resolve().parent.parent / "goldens"
DELTA_E = 10.0
# Share of pixels allowed over ΔE00 10 (measured: encoder noise 0.005 % for JPEG q80,
# one changed letter 0.28 %, see ../shared/STYLE.md); lossy formats get more room.
BUDGETS = {"png": 0.0005, "gif": 0.02, "jpeg": 0.001, "webp": 0.001, "avif": 0.002}
MAGENTA = [255, 0, 255]


def _normalise(image: pyvips.Image) -> pyvips.Image:
    if image.hasalpha():
        image = image.flatten(background=MAGENTA)
    if image.bands == 1:
        image = image.bandjoin([image, image])
    return image.colourspace("lab")


def loader_format(data: bytes) -> str:
    """The format libvips detects for encoded bytes: jpeg, png, webp, gif, heif."""
    loader = pyvips.Image.new_from_buffer(data, "").get("vips-loader")
    return str(loader).replace("load_buffer", "").replace("load_source", "")


def share_over(actual: pyvips.Image, golden: pyvips.Image) -> tuple[float, pyvips.Image]:
    """Share of pixels whose ΔE00 exceeds DELTA_E, and the ΔE00 map."""
    diff = _normalise(actual).dE00(_normalise(golden)).copy_memory()
    over = (diff > DELTA_E).avg() / 255.0
    return float(over), diff


def assert_matches_golden(actual: bytes, name: str, *, fmt: str, module: str,
                          budget: float | None = None) -> None:
    """Compare encoded `actual` with the golden PNG `module/name.png`."""
    expected_loader = {"jpeg": "jpeg", "png": "png", "webp": "webp", "gif": "gif",
                       "avif": "heif"}[fmt]
    got = loader_format(actual)
    assert got == expected_loader, f"{name}: expected {fmt}, libvips sees {got}"
    image = pyvips.Image.new_from_buffer(actual, "")
    path = GOLDENS / module / f"{name}.png"
    update = os.environ.get("PICSTREAM_UPDATE_GOLDENS") == "1"
    if not path.exists():
        if update:
            path.parent.mkdir(parents=True, exist_ok=True)
            image.pngsave(str(path), keep="none")
            return
        raise AssertionError(f"missing golden {path}; run with PICSTREAM_UPDATE_GOLDENS=1 "
                             "to write it, then review the image")
    golden = pyvips.Image.new_from_file(str(path))
    assert (image.width, image.height) == (golden.width, golden.height), (
        f"{name}: size {image.width}x{image.height}, golden {golden.width}x{golden.height}")
    share, diff = share_over(image, golden)
    limit = BUDGETS[fmt] if budget is None else budget
    out_dir = os.environ.get("PICSTREAM_GOLDEN_OUT")
    if out_dir and share > limit:
        out = Path(out_dir) / module
        out.mkdir(parents=True, exist_ok=True)
        image.pngsave(str(out / f"{name}.actual.png"))
        (diff * 10).cast("uchar").pngsave(str(out / f"{name}.diff.png"))
    if share > limit and update:
        image.pngsave(str(path), keep="none")
        return
    assert share <= limit, (f"{name} ({fmt}): {share:.4%} of pixels differ by ΔE00 > {DELTA_E} "
                            f"(budget {limit:.4%}); set PICSTREAM_GOLDEN_OUT=dir to see the diff")
