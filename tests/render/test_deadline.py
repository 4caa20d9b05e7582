"""The render deadline stops libvips work in progress, not only between steps."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import pytest
import pyvips

import proxy.render  # noqa: F401  (fonts are set up before any text renders)
from proxy.errors import RenderTimeout
from proxy.render import RenderJob, RenderMemo, render
from proxy.render.deadline import Deadline
from proxy.spec import OutputOptions
from proxy.template.registry import Registry
from proxy.template.values import coerce

ROOT = Path(__file__).resolve().parents[2]
# How long past its deadline a render may still run: libvips checks `kill` once per work unit,
# and a unit of the worst shapes below takes milliseconds; the rest is scheduling noise on a
# shared 2-core CI machine.
OVERRUN_BOUND_S = 0.75


def thin_png(width: int, height: int) -> bytes:
    image = pyvips.Image.black(width, height).new_from_image([200, 10, 10]).cast("uchar")
    return bytes(image.copy(interpretation="srgb").pngsave_buffer())


def test_watched_work_is_killed_at_the_deadline() -> None:
    deadline = Deadline(time.monotonic() + 0.2)
    source = deadline.watch(pyvips.Image.new_from_buffer(thin_png(1, 4000), ""))
    started = time.monotonic()
    with pytest.raises(pyvips.Error, match="killed"):
        # 400 million pixels: many seconds when nothing stops it
        source.thumbnail_image(20000, height=20000, size="force").avg()
    assert deadline.killed
    assert time.monotonic() - started < 0.2 + OVERRUN_BOUND_S
    deadline.release()


def test_unwatched_work_and_no_deadline_are_untouched() -> None:
    deadline = Deadline(None)
    source = deadline.watch(pyvips.Image.new_from_buffer(thin_png(1, 400), ""))
    assert source.thumbnail_image(400, height=400, size="force").avg() > 0
    assert not deadline.expired


def test_thin_source_at_dpr4_stops_near_its_deadline() -> None:
    # The reproduction: a PNG of a few hundred bytes, one pixel wide and 3000 tall,
    # covering a 200x300 box at dpr 4, ran for over a minute (a 3.6-gigapixel intermediate);
    # libvips now stops between work units once the deadline has passed. (Work inside one
    # unit is bounded by cropping in source pixels before resizing: render/image.py.)
    template = Registry(ROOT / "tests" / "fixtures" / "templates").get("photo")
    url = "https://img.test/thin.png"
    values = coerce(template, {"photo": url})
    timeout_s = 1.0
    started = time.monotonic()
    # once work is bounded by the output, it may simply finish in time
    with contextlib.suppress(RenderTimeout):
        render(RenderJob(template=template, values=values,
                         output=OutputOptions(format="jpeg", dpr=4),
                         images={url: thin_png(1, 3000)},
                         deadline=started + timeout_s), RenderMemo(max_bytes=0))
    assert time.monotonic() - started < timeout_s + OVERRUN_BOUND_S
