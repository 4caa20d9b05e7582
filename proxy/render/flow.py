"""Flow layout: measured child sizes in, child positions out (pure arithmetic, no libvips).

One CSS-flexbox-like line model, small on purpose: `direction` row or column, `gap` between
items (and between wrapped lines), `justify` along the main axis (start, centre, end,
space-between), `align` across it (start, centre, end, stretch), `grow` shares of the free
main space, and `wrap` onto new lines when the main axis is full.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

Rect = tuple[float, float, float, float]     # x, y, width, height in template px


@dataclass(frozen=True)
class Item:
    """One child as the flow sees it: its measured size and how it may grow."""

    width: float
    height: float
    grow: float = 0.0
    stretch_width: bool = False    # may take the line's cross size (align = stretch)
    stretch_height: bool = False


@dataclass(frozen=True)
class Flow:
    """A group's flow settings (template px)."""

    direction: str = "column"      # row | column
    gap: float = 0.0
    justify: str = "start"         # start | centre | end | space-between
    align: str = "start"           # start | centre | end | stretch
    wrap: bool = False


def _lines(flow: Flow, mains: Sequence[float], limit: float) -> list[list[int]]:
    """Item indices per line: everything on one line unless `wrap` and the line is full."""
    if not flow.wrap:
        return [list(range(len(mains)))] if mains else []
    lines: list[list[int]] = []
    used = 0.0
    for index, main in enumerate(mains):
        if lines and lines[-1] and used + flow.gap + main > limit + 1e-6:
            lines.append([index])
            used = main
        elif lines:
            used += (flow.gap if lines[-1] else 0.0) + main
            lines[-1].append(index)
        else:
            lines.append([index])
            used = main
    return lines


def content_size(flow: Flow, items: Sequence[Item], limit_main: float) -> tuple[float, float]:
    """The (width, height) the items take: what a group that hugs its content measures."""
    row = flow.direction == "row"
    mains = [i.width if row else i.height for i in items]
    crosses = [i.height if row else i.width for i in items]
    lines = _lines(flow, mains, limit_main)
    main = max((sum(mains[i] for i in line) + flow.gap * (len(line) - 1) for line in lines),
               default=0.0)
    cross = sum(max(crosses[i] for i in line) for line in lines) + flow.gap * max(
        0, len(lines) - 1)
    return (main, cross) if row else (cross, main)


def place(flow: Flow, items: Sequence[Item], inner: Rect) -> list[Rect]:
    """Each item's rect inside the `inner` rect (the group's box less its padding)."""
    row = flow.direction == "row"
    ix, iy, iw, ih = inner
    inner_main, inner_cross = (iw, ih) if row else (ih, iw)
    mains = [i.width if row else i.height for i in items]
    crosses = [i.height if row else i.width for i in items]
    lines = _lines(flow, mains, inner_main)
    rects: list[Rect] = [(0.0, 0.0, 0.0, 0.0)] * len(items)
    single = len(lines) == 1
    cross_at = 0.0
    for line in lines:
        sizes = {i: mains[i] for i in line}
        free = inner_main - sum(sizes.values()) - flow.gap * (len(line) - 1)
        growth = sum(items[i].grow for i in line)
        if free > 0 and growth > 0:
            for i in line:
                sizes[i] += free * items[i].grow / growth
            free = 0.0
        gap = flow.gap
        start = 0.0
        if flow.justify == "centre":
            start = free / 2
        elif flow.justify == "end":
            start = free
        elif flow.justify == "space-between" and len(line) > 1 and free > 0:
            gap += free / (len(line) - 1)
        line_cross = inner_cross if single else max(crosses[i] for i in line)
        at = start
        for i in line:
            item = items[i]
            cross = crosses[i]
            may_stretch = item.stretch_height if row else item.stretch_width
            if flow.align == "stretch" and may_stretch:
                cross = line_cross
            offset = {"centre": (line_cross - cross) / 2, "end": line_cross - cross}.get(
                flow.align, 0.0)
            main_pos, cross_pos = at, cross_at + offset
            if row:
                rects[i] = (ix + main_pos, iy + cross_pos, sizes[i], cross)
            else:
                rects[i] = (ix + cross_pos, iy + main_pos, cross, sizes[i])
            at += sizes[i] + gap
        cross_at += line_cross + flow.gap
    return rects
