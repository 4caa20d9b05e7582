"""A render thread's canvas buffers (memo.py CanvasBuffers): one per base, rects put back."""

from __future__ import annotations

import gc
from pathlib import Path

import numpy as np

import proxy.render  # noqa: F401  (fonts are set up before any text renders)
from proxy.render import RenderJob, RenderMemo, render
from proxy.render.memo import SCRATCH_BUFFERS, SCRATCH_MAX_BYTES, CanvasBuffers
from proxy.spec import OutputOptions
from proxy.template.registry import Registry
from proxy.template.values import coerce

ROOT = Path(__file__).resolve().parents[2]


def base(value: int, shape: tuple[int, ...] = (630, 1200, 3)) -> np.ndarray:
    return np.full(shape, value, dtype=np.uint8)


def test_two_bases_taking_turns_keep_a_buffer_each_and_put_back_only_rects() -> None:
    # Names that straddle a size step put a flowed title at two heights: two bases taking
    # turns. With one buffer every turn copied a whole base.
    buffers = CanvasBuffers()
    a, b = base(10), base(20)
    first = buffers.holding(a)
    first.pixels[0:5, 0:5] = 99
    first.touched((0, 5, 0, 5))
    first.pixels[600, 1100] = 77           # not noted as touched: a whole copy would erase it
    second = buffers.holding(b)
    assert second is not first and (second.pixels == 20).all()
    again = buffers.holding(a)
    assert again is first
    assert (again.pixels[0:5, 0:5] == 10).all()
    assert (again.pixels[600, 1100] == 77).all()   # only the touched rect was put back
    assert len(buffers) == 2


def test_a_base_the_memo_dropped_hands_its_buffer_on() -> None:
    buffers = CanvasBuffers()
    a = base(1)
    kept = buffers.holding(a)
    del a
    gc.collect()
    assert buffers.holding(base(2)) is kept     # no new 2.3 MB array for the new base
    assert len(buffers) == 1


def test_buffers_stay_within_their_count_and_bytes() -> None:
    buffers = CanvasBuffers()
    bases = [base(i) for i in range(SCRATCH_BUFFERS + 3)]
    for one in bases:
        buffers.holding(one)
    assert len(buffers) == SCRATCH_BUFFERS
    big = [base(i, (1260, 2400, 3)) for i in range(3)]       # 9 MB each, dpr 2
    for one in big:
        assert (buffers.holding(one).pixels == one).all()
    assert sum(held.pixels.nbytes for held in buffers._kept) <= SCRATCH_MAX_BYTES
    assert buffers._kept[-1].holds(big[-1])
    poster = base(5, (2520, 4800, 3))                         # 36 MB: used once, not kept
    assert (buffers.holding(poster).pixels == 5).all()
    assert all(held.pixels.nbytes <= SCRATCH_MAX_BYTES for held in buffers._kept)


def test_cards_whose_title_takes_turns_between_two_places_keep_their_pixels() -> None:
    # These names fit at 42 and 43 px: the centred column puts the default title at two
    # heights, both hot, so renders take turns between two memoised bases.
    template = Registry(ROOT / "templates").get("social-card")

    def one(memo: RenderMemo, i: int) -> bytes:
        values = coerce(template, {"name": f"Alexandra Konstantinopoulou {i:05d}"})
        return render(RenderJob(template=template, values=values,
                                output=OutputOptions(format="jpeg")), memo).data

    memo = RenderMemo()
    indices = [0, 14, 7, 21, 28, 77, 35, 91] * 3
    for i in indices:
        one(memo, i)
    for i in indices[:8]:
        assert one(memo, i) == one(RenderMemo(), i), i
