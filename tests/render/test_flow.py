"""Flow arithmetic: justify, align, grow, gap and wrap, without libvips."""

from __future__ import annotations

import pytest

from proxy.render.flow import Flow, Item, content_size, place


def test_column_stacks_with_gaps() -> None:
    rects = place(Flow(direction="column", gap=10), [Item(50, 20), Item(80, 30)],
                  (5, 5, 200, 200))
    assert rects == [(5, 5, 50, 20), (5, 35, 80, 30)]


@pytest.mark.parametrize(("justify", "xs"), [
    ("start", [0, 30]), ("centre", [35, 65]), ("end", [70, 100]), ("space-between", [0, 100]),
])
def test_row_justify(justify: str, xs: list[float]) -> None:
    rects = place(Flow(direction="row", justify=justify), [Item(30, 10), Item(30, 10)],
                  (0, 0, 130, 50))
    assert [r[0] for r in rects] == xs


@pytest.mark.parametrize(("align", "y", "h"), [
    ("start", 0, 10), ("centre", 20, 10), ("end", 40, 10), ("stretch", 0, 50),
])
def test_row_align(align: str, y: float, h: float) -> None:
    (rect,) = place(Flow(direction="row", align=align), [Item(30, 10, stretch_height=True)],
                    (0, 0, 100, 50))
    assert (rect[1], rect[3]) == (y, h)


def test_a_sized_item_does_not_stretch() -> None:
    (rect,) = place(Flow(direction="row", align="stretch"), [Item(30, 10)], (0, 0, 100, 50))
    assert rect[3] == 10


def test_grow_shares_the_free_space() -> None:
    rects = place(Flow(direction="row", gap=10),
                  [Item(20, 5), Item(0, 5, grow=1), Item(0, 5, grow=3), Item(20, 5)],
                  (0, 0, 200, 5))
    assert [r[2] for r in rects] == [20, 32.5, 97.5, 20]
    assert rects[-1][0] == 180


def test_wrap_breaks_lines_and_stacks_them() -> None:
    items = [Item(40, 10), Item(40, 20), Item(40, 10)]
    rects = place(Flow(direction="row", gap=5, wrap=True), items, (0, 0, 100, 100))
    assert [(r[0], r[1]) for r in rects] == [(0, 0), (45, 0), (0, 25)]
    assert content_size(Flow(direction="row", gap=5, wrap=True), items, 100) == (85, 35)


def test_content_size_of_a_column() -> None:
    assert content_size(Flow(direction="column", gap=4), [Item(10, 10), Item(30, 5)],
                        1000) == (30, 19)
    assert content_size(Flow(), [], 100) == (0, 0)
