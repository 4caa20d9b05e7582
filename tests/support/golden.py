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
# Share of pixels allowed over ΔE00 10. Calibrated on the shipped templates (share in %):
#
#                       jpeg   webp   avif   one letter changed
#   no blur            0.734  0.572  0.601   0.252   <- chroma subsampling on thin saturated
#   Gaussian σ 0.8     0.099  0.052  0.019   0.354      lines looks like a real change
#   Gaussian σ 1.2     0.035  0.012  0.002   0.387
#
# So lossy outputs are compared after a σ 1.2 blur of both sides, which removes encoder noise
# and keeps a changed letter 10x over budget; PNG (lossless) is compared as is.
BUDGETS = {"png": 0.0005, "gif": 0.001, "jpeg": 0.001, "webp": 0.001, "avif": 0.001}
LOSSY_BLUR_SIGMA = 1.2
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


def share_over(actual: pyvips.Image, golden: pyvips.Image,
               blur_sigma: float = 0.0) -> tuple[float, pyvips.Image]:
    """Share of pixels whose ΔE00 exceeds DELTA_E, and the ΔE00 map."""
    a, b = _normalise(actual), _normalise(golden)
    if blur_sigma:
        a, b = a.gaussblur(blur_sigma), b.gaussblur(blur_sigma)
    diff = a.dE00(b).copy_memory()
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
    # Goldens are written only from lossless output, so a lossy format never becomes the truth.
    update = os.environ.get("PICSTREAM_UPDATE_GOLDENS") == "1" and fmt == "png"
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
    share, diff = share_over(image, golden, 0.0 if fmt == "png" else LOSSY_BLUR_SIGMA)
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
