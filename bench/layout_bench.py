"""Flowed layouts and photo templates: the flowed social card against the fixed one it
replaced, and the photo template resizing a 2400x1600 JPEG to 600x400 WebP.

The fixed card is `bench/fixtures/social-card-fixed.toml` (the social card before groups),
loaded from a scratch folder with a copy of the shipped art. Both cards render the same
workload as the render table (a unique name per render, the same title and badge), one
thread, interleaved so machine noise hits both alike. Photos are unique per render (each
source its own bytes), so nothing comes from the memo.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from pathlib import Path

import pyvips

import proxy.render  # noqa: F401  (fonts set up before text)
from proxy.render import RenderJob, RenderMemo, render
from proxy.spec import OutputOptions
from proxy.template.load import load_template
from proxy.template.model import Template
from proxy.template.values import coerce

ROOT = Path(__file__).resolve().parent.parent
CARD = {"title": "Staff engineer at a company with a long name", "badge": "Pro"}


def _fixed_card(scratch: Path) -> Template:
    shutil.copytree(ROOT / "templates" / "art", scratch / "art")
    shutil.copy(ROOT / "bench" / "fixtures" / "social-card-fixed.toml",
                scratch / "social-card.toml")
    return load_template(scratch / "social-card.toml")


def _card_ms(template: Template, memo: RenderMemo, i: int, fmt: str) -> float:
    values = coerce(template, {**CARD, "name": f"Person Number {i}"})
    job = RenderJob(template=template, values=values, output=OutputOptions(format=fmt))
    started = time.perf_counter()
    render(job, memo)
    return (time.perf_counter() - started) * 1000


def card_rows(runs: int = 200, formats: tuple[str, ...] = ("jpeg", "webp")
              ) -> list[dict[str, object]]:
    """Median ms of the fixed and the flowed social card, and their ratio."""
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as scratch:
        fixed = _fixed_card(Path(scratch))
        flowed = load_template(ROOT / "templates" / "social-card.toml")
        for fmt in formats:
            memos = (RenderMemo(), RenderMemo())
            times: tuple[list[float], list[float]] = ([], [])
            for i in range(-20, runs):
                order = (0, 1) if i % 2 else (1, 0)
                for k in order:
                    ms = _card_ms((fixed, flowed)[k], memos[k], i, fmt)
                    if i >= 0:   # the first 20 warm the memo, as a running server's is
                        times[k].append(ms)
            a, b = statistics.median(times[0]), statistics.median(times[1])
            rows.append({"case": f"social card, fixed boxes ({fmt})", "ms": a, "vs": 1.0})
            rows.append({"case": f"social card, flowed group ({fmt})", "ms": b, "vs": b / a})
    return rows


def _photo(i: int) -> bytes:
    """A unique 2400x1600 photo-like JPEG (smooth gradients, noise, a bright subject)."""
    xy = pyvips.Image.xyz(2400, 1600)
    noise = pyvips.Image.gaussnoise(2400, 1600, sigma=18, mean=0, seed=i)
    base = (xy[0] / 12 + noise).bandjoin([xy[1] / 9 + noise, 90 + noise + i])
    cx = 600 + (i * 137) % 1200
    disc = ((xy[0] - cx) ** 2 + (xy[1] - 700) ** 2) < 200 ** 2
    image = disc.ifthenelse([240, 200, 40], base).cast("uchar").copy(interpretation="srgb")
    return bytes(image.jpegsave_buffer(Q=85))


def photo_rows(runs: int = 20) -> list[dict[str, object]]:
    """Median ms of the photo template, 2400x1600 JPEG to 600x400 WebP, per fit/gravity."""
    template = load_template(ROOT / "templates" / "photo.toml")
    sources = [_photo(i) for i in range(runs)]
    rows: list[dict[str, object]] = []
    for label, extra in (("cover, smart", {}), ("cover, centre", {"gravity": "centre"}),
                         ("contain", {"fit": "contain"})):
        memo = RenderMemo()
        times = []
        for i, data in enumerate(sources):
            url = f"https://photos.example.com/{label}/{i}.jpg"
            job = RenderJob(template=template,
                            values=coerce(template, {"src": url, **extra}),
                            images={url: data},
                            output=OutputOptions(format="webp", width=600, height=400))
            started = time.perf_counter()
            rendered = render(job, memo)
            times.append((time.perf_counter() - started) * 1000)
            assert (rendered.width, rendered.height) == (600, 400)
        rows.append({"case": f"photo, 2400x1600 JPEG to 600x400 WebP, {label}",
                     "ms": statistics.median(times), "vs": None})
    return rows


def markdown(rows: list[dict[str, object]]) -> str:
    """The layout table as markdown."""
    out = ["| case | render ms (1 thread, median) | vs fixed card |", "|---|---:|---:|"]
    for r in rows:
        ratio = "" if r["vs"] is None else f"{r['vs']:.2f}"
        out.append(f"| {r['case']} | {r['ms']:.2f} | {ratio} |")
    return "\n".join(out)


if __name__ == "__main__":
    print(markdown(card_rows() + photo_rows()))
