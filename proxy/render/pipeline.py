"""The render flow as a list of steps; each takes and returns the RenderState.

STEPS = (plan_output, make_canvas, draw_layers, resize_output, encode_output)
The deadline is checked between steps and between layers.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pyvips

from .. import formats
from ..errors import BadSource, InvalidValue, RenderTimeout, TooLarge
from ..spec import OutputOptions
from ..template.colors import parse_color
from ..template.model import CodeLayer, GroupLayer, ImageLayer, Layer, Template, TextLayer
from ..template.refs import has_refs, layer_strings, substitute
from ..template.values import Values, is_drawn, resolve_layer
from .blend import Ready, blend, paste, patch_bytes, ready
from .context import DrawContext, TextFit
from .deadline import Deadline, WatchedImages
from .decode import LazyImages
from .encode import encode, quality_of
from .follow import follow, follow_size
from .group import PlacedText, flatten_group
from .jpeg_rows import encode_rows, join, splice
from .layers import DRAW
from .memo import RenderMemo


@dataclass(frozen=True)
class OutputLimits:
    """Output bounds from config (`limits.max_output_side`, `limits.max_output_pixels`)."""

    max_side: int = 8192
    max_pixels: int = 16_000_000


@dataclass(frozen=True)
class RenderJob:
    """Everything one render needs; sources are already fetched (bytes by image key)."""

    template: Template
    values: Values
    output: OutputOptions
    images: Mapping[str, bytes] = field(default_factory=dict)
    limits: OutputLimits = field(default_factory=OutputLimits)
    deadline: float | None = None      # time.monotonic() value
    explain: bool = False


@dataclass(frozen=True)
class Rendered:
    """An encoded image and the facts about it."""

    data: bytes
    format: str
    width: int
    height: int
    render_ms: float
    fits: tuple[TextFit, ...] = ()
    fallback_reason: str | None = None     # set when an image layer drew its fallback


@dataclass
class RenderState:
    """Mutable only inside one render; never shared between threads."""

    job: RenderJob
    memo: RenderMemo
    deadline: Deadline
    scale: float = 1.0
    out_size: tuple[int, int] = (0, 0)
    draw_size: tuple[int, int] = (0, 0)
    canvas: pyvips.Image | None = None
    ctx: DrawContext | None = None
    sources: LazyImages | None = None
    rest: list[tuple[int, Layer]] = field(default_factory=list)   # per-render layers
    new: frozenset[int] = frozenset()       # positions in rest drawn without the memo
    bands: int = 3                                                # 4 on a transparent canvas
    base_pixels: np.ndarray | None = None                         # the memoised base, as NumPy
    pixels: np.ndarray | None = None        # the canvas's own array, when it was blended there
    base_key: tuple[object, ...] = ()                             # its memo key
    changed_rows: tuple[int, int] | None = None     # (y0, y1): the canvas is the base elsewhere
    fallback_reasons: list[str] = field(default_factory=list)
    data: bytes = b""


def _check_deadline(state: RenderState) -> None:
    state.deadline.check()


def plan_output(state: RenderState) -> RenderState:
    """Output size and drawing scale: text and vectors are drawn at scale, not upscaled."""
    out = state.job.output
    if not 1 <= out.dpr <= 4:
        raise InvalidValue("dpr: must be between 1 and 4", field="dpr")
    if state.job.template.follow:
        # the canvas takes the requested size: lay the boxes out again (once per size)
        template = state.job.template
        size = follow_size(template, out.width, out.height)
        state.job = dataclasses.replace(state.job, template=state.memo.get_or_make(
            ("follow", template.version, size), lambda: follow(template, size),
            lambda t: 256 * (1 + len(t.layers))))
    tw, th = state.job.template.size
    if out.width and out.height:
        css_w, css_h = out.width, out.height
    elif out.width:
        css_w, css_h = out.width, max(1, round(th * out.width / tw))
    elif out.height:
        css_w, css_h = max(1, round(tw * out.height / th)), out.height
    else:
        css_w, css_h = tw, th
    out_w, out_h = round(css_w * out.dpr), round(css_h * out.dpr)
    limits = state.job.limits
    if out_w > limits.max_side or out_h > limits.max_side:
        raise TooLarge(f"output {out_w}x{out_h} exceeds {limits.max_side} pixels per side")
    if out_w * out_h > limits.max_pixels:
        raise TooLarge(f"output {out_w}x{out_h} exceeds {limits.max_pixels} pixels")
    # Draw at the width's scale; a different height (both given) is a final resize. Below
    # MIN_DRAW_SCALE text would be laid out at fractions of a pixel (cairo refuses some of
    # those sizes outright), so tiny outputs are drawn at that scale and shrunk.
    state.scale = max(out_w / tw, MIN_DRAW_SCALE)
    draw_h = th * state.scale
    if draw_h > out_h and (draw_h > limits.max_side or draw_h * out_w > limits.max_pixels):
        # A stretch far from the template's aspect (fuzzing: a 1x403 canvas asked as 975x2407
        # drew 975x392,925 px for 25 s): draw at the height's scale and stretch the width.
        state.scale = max(out_h / th, MIN_DRAW_SCALE)
    state.draw_size = (max(1, round(tw * state.scale)), max(1, round(th * state.scale)))
    state.out_size = (out_w, out_h)
    return state


def _solid(width: int, height: int, rgba: tuple[int, int, int, int]) -> pyvips.Image:
    bands = list(rgba) if rgba[3] < 255 else list(rgba[:3])
    return (pyvips.Image.black(width, height).new_from_image(bands)
            .copy(interpretation="srgb").cast("uchar"))


def _colour(text: str, where: str) -> tuple[int, int, int, int]:
    try:
        return parse_color(text)
    except ValueError as exc:
        raise InvalidValue(f"{where}: {exc}", field=where) from None


def _repeats(layer: Layer, resolved: Layer) -> bool:
    """Whether a layer's resolved form repeats across renders, so it can join the base canvas.

    Text with variables (names: one value per render) and remote images (one per avatar)
    would make a new base every render; colours, choices and local art repeat.
    """
    if isinstance(layer, TextLayer):
        return not has_refs(layer.text)
    if isinstance(layer, CodeLayer):
        return not has_refs(layer.value)     # a coupon code is new every render
    if isinstance(layer, GroupLayer):
        # its parts join the base one by one, when each keeps coming (HOT_AFTER)
        return not any(has_refs(text) for _, text in layer_strings(layer))
    if isinstance(resolved, ImageLayer):
        return resolved.src == "" or resolved.src.startswith("local:")
    return True


def _is_static(layer: Layer) -> bool:
    """No `{variable}` in any field and no `when`: the layer is the same in every render."""
    return layer.when is None and not any(has_refs(text) for _, text in layer_strings(layer))


def _overlaps(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


MIN_DRAW_SCALE = 0.25
# A text layer whose value filled HOT_AFTER of its last HOT_WINDOW renders joins the base
# canvas. A share, not a count: a batch whose 10,000 rows spread over 60 titles brings each
# title back often, and counting returns made all 60 hot, 60 base canvases of 4.5 MB each
# that evicted one another from the memo (a rebuild of the base, ~50 ms, on most renders:
# the real workload slowed from 115 to 64 cards/s as the memo filled).
HOT_AFTER = 8
HOT_WINDOW = 32


def _parts(template: Template, index: int, resolved: Layer, ctx: DrawContext
           ) -> tuple[Layer, ...]:
    """A group as the plain layers it lays out (memoised by its resolved form); others as is."""
    if not isinstance(resolved, GroupLayer):
        return (resolved,)
    assert ctx.memo is not None
    return ctx.memo.get_or_make(("flow", template.version, index, ctx.scale, resolved),
                                lambda: flatten_group(resolved, ctx, DRAW),
                                lambda parts: 256 * (1 + len(parts)))


def _plan(template: Template, values: Values, memo: RenderMemo, ctx: DrawContext
          ) -> tuple[list[tuple[int, Layer]], list[tuple[int, Layer]], frozenset[int],
                     frozenset[int]]:
    """Split drawn layers into the memoised base and the per-render rest.

    A repeating layer joins the base unless it overlaps a per-render layer below it: drawing
    it early would then change the stacking order. Text with variables repeats too when the
    same value keeps coming (a default title, one badge for a whole batch): once it fills a
    quarter of the layer's recent renders it joins the base, so each render blends only what
    is new in it. The pixels are the same either way. A group takes part as the layers it
    lays out, each on its own. Returns base, rest, the static layers' indices, and the
    positions in rest of parts new in their layer's window (drawn, not memoised).
    """
    scale = ctx.scale
    base: list[tuple[int, Layer]] = []
    rest: list[tuple[int, Layer]] = []
    new: set[int] = set()
    # Static layers (no variable, no `when`) resolve the same in every render: once per version.
    static = memo.get_or_make(
        ("static", template.version, template.size),
        lambda: tuple(resolve_layer(layer, values, template) if _is_static(layer) else None
                      for layer in template.layers),
        lambda flags: 64 + len(flags))
    for index, layer in enumerate(template.layers):
        fixed = static[index]
        if fixed is not None:
            resolved: Layer = fixed
            repeats = True
        elif not is_drawn(layer, values):
            continue
        else:
            resolved = resolve_layer(layer, values, template)
            repeats = _repeats(layer, resolved)
        for number, part in enumerate(_parts(template, index, resolved, ctx)):
            seen = HOT_AFTER if repeats else memo.note(
                ("hot", template.version, index, number, scale), part, HOT_WINDOW)
            if seen >= HOT_AFTER and not any(_overlaps(part.box, other.box) for _, other in rest):
                base.append((index, part))
            else:
                if isinstance(part, PlacedText):
                    # Moved text (a title below a name that shrank) is one patch in any place
                    # (_draw_cached keys it without the place): new is new in every place.
                    # Noted by its text alone (a string hashes once): this only decides what
                    # is kept; the memo's key stays the whole layer.
                    seen = memo.note(("drawn", template.version, index, number, scale),
                                     part.probe.text, HOT_WINDOW)
                if seen == 1:
                    new.add(len(rest))
                rest.append((index, part))
    return (base, rest, frozenset(i for i, fixed in enumerate(static) if fixed is not None),
            frozenset(new))


def make_canvas(state: RenderState) -> RenderState:
    """Background plus every repeating layer, memoised by their resolved form.

    Two levels: the pinned canvas (background and the static layers up to the first one that
    is not) once per version and scale; over it, the hot layers (a default title), each a
    memoised patch. A new hot value costs a copy and a blend, not a redraw of the whole base.
    """
    job = state.job
    template = job.template
    width, height = state.draw_size
    # Sources are the work a URL's signer does not control: libvips stops it at the deadline.
    state.sources = WatchedImages(job.images, template.files, state.deadline)
    state.ctx = DrawContext(scale=state.scale, canvas_size=state.draw_size, memo=state.memo,
                            images=state.sources)
    background = substitute(template.background, job.values.strings())
    rgba = _colour(background, "background")
    state.bands = 3 if rgba[3] == 255 else 4
    base, state.rest, static, state.new = _plan(template, job.values, state.memo, state.ctx)
    split = next((k for k, (index, _) in enumerate(base) if index not in static), len(base))
    pinned, hot = base[:split], base[split:]
    nbytes = width * height * state.bands

    def make_pinned() -> tuple[pyvips.Image, np.ndarray | None, tuple[TextFit, ...]]:
        assert state.ctx is not None
        canvas = _solid(width, height, rgba)
        before = len(state.ctx.fits)
        for index, resolved in pinned:
            state.ctx.layer_index = index
            patch = ready(DRAW[type(resolved)](resolved, state.ctx))
            if patch is not None:
                canvas = paste(canvas, state.draw_size, state.bands, patch)
        canvas = canvas.copy_memory()
        pixels = None
        if state.bands == 3:
            pixels = np.frombuffer(canvas.write_to_memory(), dtype=np.uint8).reshape(
                height, width, 3)
        return canvas, pixels, tuple(state.ctx.fits[before:])

    def make_hot() -> tuple[pyvips.Image, np.ndarray | None, tuple[TextFit, ...]]:
        assert state.ctx is not None
        canvas, pixels, fits = state.memo.get_or_make(pinned_key, make_pinned,
                                                      lambda _: 2 * nbytes)
        before = len(state.ctx.fits)
        if pixels is not None:
            pixels = pixels.copy()
        for index, resolved in hot:
            state.ctx.layer_index = index
            patch = _draw_cached(state, index, template.layers[index], resolved)
            canvas = _put(state, canvas, pixels, patch)
        if pixels is not None:
            # the image shares the array's memory: renders copy the array before blending
            canvas = pyvips.Image.new_from_memory(pixels.data, width, height, 3, "uchar")
        else:
            canvas = canvas.copy_memory()
        return canvas, pixels, fits + tuple(state.ctx.fits[before:])

    # Static layers are pinned by the template version: their index stands for them in the key
    # (hashing their content every render cost more than drawing the card's text).
    pinned_key = ("canvas", template.version, state.scale, width, height, background,
                  tuple(index for index, _ in pinned))
    fits_before = len(state.ctx.fits)
    if hot:
        key = pinned_key + (tuple(index if index in static else resolved
                                  for index, resolved in hot),)
        state.canvas, state.base_pixels, fits = state.memo.get_or_make(
            key, make_hot, lambda _: nbytes)
        state.base_key = key
    else:
        state.canvas, state.base_pixels, fits = state.memo.get_or_make(
            pinned_key, make_pinned, lambda _: 2 * nbytes)
        state.base_key = pinned_key
    # A memo hit skips the drawers (at either level): the base layers' fit notes, for
    # `explain`, are the memoised ones.
    state.ctx.fits[fits_before:] = fits
    return state


def _draw_cached(state: RenderState, index: int, layer: Layer, resolved: Layer,
                 keep: bool = True) -> Ready | None:
    """Draw a layer, memoised by its resolved form (and source digest for images).

    A patch depends only on the resolved layer and the scale, so a default title or a repeated
    avatar costs a lookup; the text fit notes are kept with the patch for `explain`. Without
    `keep` (a value its layer has not drawn in its last renders: one person's name and avatar)
    the patch is drawn and not kept: kept, each such patch pushed an older one out of the memo,
    and a shrinking name's card spent 0.15 ms a render freeing what it evicted.
    """
    assert state.ctx is not None
    ctx = state.ctx
    draw = DRAW[type(resolved)]
    template = state.job.template
    digest = b""
    sources = state.sources
    assert sources is not None
    if isinstance(resolved, ImageLayer):
        data = sources.data(resolved.src)
        if data is None:
            return None
        if keep:
            digest = hashlib.blake2b(data, digest_size=16).digest()
    dx = dy = 0
    keyed: object = resolved
    if isinstance(resolved, PlacedText):
        # The same text put elsewhere by the flow (a title below a name that shrank) is the
        # same patch, moved: keyed without its place and kept at the origin, so its planes
        # are made once.
        dx, dy = resolved.dx_px, resolved.dy_px
        keyed = ("placed", resolved.probe, resolved.part)

    def make() -> tuple[Ready | None, tuple[TextFit, ...]]:
        before = len(ctx.fits)
        if isinstance(resolved, ImageLayer):
            x, y, w, h = resolved.box
            sources.hint = (round(w * ctx.scale), round(h * ctx.scale), resolved.fit)
        try:
            # copy_memory runs the decode now, so a truncated source fails here, inside
            # this layer, where a fallback can still replace it.
            patch = ready(draw(resolved, ctx))
        except pyvips.Error as exc:
            if state.deadline.expired:
                raise RenderTimeout("render took too long") from None
            if not isinstance(resolved, ImageLayer):
                raise
            raise BadSource("source image could not be decoded",
                            detail=f"{resolved.src[:200]}: {exc}") from None
        finally:
            sources.hint = None
        if patch is not None and (dx or dy):
            patch = dataclasses.replace(patch, x=patch.x - dx, y=patch.y - dy)
        return patch, tuple(ctx.fits[before:])

    before = len(ctx.fits)
    if keep:
        patch, fits = state.memo.get_or_make(
            _layer_key(template, index, state.scale, keyed, digest), make,
            lambda item: patch_bytes(item[0]))
    else:
        patch, fits = make()
    if len(ctx.fits) == before:
        ctx.fits.extend(fits)
    if patch is not None and (dx or dy):
        patch = dataclasses.replace(patch, x=patch.x + dx, y=patch.y + dy)
    return patch


def _layer_key(template: Template, index: int, scale: float, resolved: object,
               digest: bytes) -> tuple[object, ...]:
    return ("layer", template.version, index, scale, resolved, digest)


def _fallback_for(template: Template, layer: Layer) -> tuple[str, str] | None:
    """(variable name, fallback file) of an image layer drawn from a variable, if any."""
    src = getattr(layer, "src", "")
    if not (isinstance(layer, ImageLayer) and src.startswith("{") and src.endswith("}")):
        return None
    var = template.variables.get(src[1:-1])
    if var is None or var.fallback is None:
        return None
    return var.name, var.fallback


def _put(state: RenderState, canvas: pyvips.Image, pixels: np.ndarray | None,
         patch: Ready | None) -> pyvips.Image:
    """Blend `patch` into the NumPy canvas when there is one (opaque), else paste it into the
    libvips canvas; the canvas to go on with."""
    if patch is None:
        return canvas
    if pixels is not None:
        blend(pixels, patch)
        return canvas
    return paste(canvas, state.draw_size, state.bands, patch)


def draw_layers(state: RenderState) -> RenderState:
    """Draw the per-render layers in order, each blended over its own region only."""
    assert state.canvas is not None and state.ctx is not None
    canvas = state.canvas
    template = state.job.template
    buffer = None
    if state.bands == 3 and state.base_pixels is not None:
        if not state.rest:
            state.changed_rows = (0, 0)         # the canvas is the base
            return state
        buffer = state.memo.canvas(state.base_pixels)
    for position, (index, resolved) in enumerate(state.rest):
        _check_deadline(state)
        state.ctx.layer_index = index
        if isinstance(resolved, ImageLayer) and not resolved.src:
            continue
        try:
            patch = _draw_cached(state, index, template.layers[index], resolved,
                                 keep=position not in state.new)
        except BadSource as exc:
            fallback = _fallback_for(template, template.layers[index])
            if fallback is None or not isinstance(resolved, ImageLayer):
                raise
            # Per layer: this image falls back, the rest of the render is the real one.
            state.fallback_reasons.append(f"{fallback[0]}={exc.code}")
            patch = _draw_cached(state, index, template.layers[index],
                                 dataclasses.replace(resolved, src="local:" + fallback[1]))
        if patch is None:
            continue
        if buffer is not None:
            buffer.touched(blend(buffer.pixels, patch))
        else:
            canvas = paste(canvas, state.draw_size, state.bands, patch)
    if buffer is not None:
        width, height = state.draw_size
        canvas = pyvips.Image.new_from_memory(buffer.pixels.data, width, height, 3, "uchar")
        state.pixels = buffer.pixels
        state.changed_rows = (min((rect[0] for rect in buffer.dirty), default=0),
                              max((rect[1] for rect in buffer.dirty), default=0))
    state.canvas = canvas
    return state


def resize_output(state: RenderState) -> RenderState:
    """Resize to the exact output size: a stretch when both width and height were asked for,
    a shrink when a tiny output was drawn at MIN_DRAW_SCALE."""
    assert state.canvas is not None
    if state.out_size != state.draw_size:
        state.changed_rows = None
        out_w, out_h = state.out_size
        canvas = state.canvas
        if canvas.hasalpha():
            # resampling straight alpha drags the colour of transparent pixels into the edges
            canvas = canvas.premultiply()
        canvas = canvas.resize(out_w / state.draw_size[0], vscale=out_h / state.draw_size[1])
        if canvas.hasalpha():
            canvas = canvas.unpremultiply().cast("uchar").copy(interpretation="srgb")
        state.canvas = canvas
        if (state.canvas.width, state.canvas.height) != state.out_size:
            # resize rounds its output size; the answer must be exactly what was asked
            state.canvas = state.canvas.gravity("centre", out_w, out_h, extend="copy")
    return state


def explain_boxes(state: RenderState) -> RenderState:
    """In explain mode, outline every layer's box (drawn layers solid, skipped ones dashed)."""
    if not state.job.explain:
        return state
    state.changed_rows = None
    assert state.canvas is not None
    canvas = state.canvas.copy_memory()
    sx = state.out_size[0] / state.job.template.size[0]
    sy = state.out_size[1] / state.job.template.size[1]
    palette = ([255, 0, 128], [0, 200, 255], [255, 200, 0], [0, 255, 120])
    template = state.job.template
    for index, layer in enumerate(template.layers):
        colour: list[float] = [float(c) for c in palette[index % len(palette)]]
        colour = (colour + [255.0])[: canvas.bands]
        boxes = [(layer.box, max(1, round(2 * sx)))]
        if isinstance(layer, GroupLayer) and is_drawn(layer, state.job.values):
            # what the group laid out: each child's box (and each hugging background), thin
            assert state.ctx is not None
            resolved = resolve_layer(layer, state.job.values, template)
            boxes += [(part.box, max(1, round(sx)))
                      for part in _parts(template, index, resolved, state.ctx)]
        for (x, y, w, h), width in boxes:
            for t in range(width):
                canvas = canvas.draw_rect(colour, round(x * sx) + t, round(y * sy) + t,
                                          max(1, round(w * sx) - 2 * t),
                                          max(1, round(h * sy) - 2 * t))
    state.canvas = canvas
    return state


def encode_output(state: RenderState) -> RenderState:
    """Encode with the table of measured settings; metadata is stripped there."""
    assert state.canvas is not None
    _check_deadline(state)
    out = state.job.output
    matte = (255, 255, 255)
    if state.canvas.hasalpha():
        r, g, b, _ = _colour(substitute(state.job.template.matte, state.job.values.strings()),
                             "matte")
        matte = (r, g, b)
    data = None
    known = formats.find(out.format)
    if state.changed_rows is not None and known is not None and known.name == "jpeg":
        data = _jpeg_from_base(state)
    state.data = data if data is not None else encode(state.canvas, out.format, out.quality,
                                                      matte)
    return state


def _jpeg_from_base(state: RenderState) -> bytes | None:
    """The JPEG from the base's encoded rows and the changed band's (jpeg_rows.py), or None."""
    assert state.base_pixels is not None and state.changed_rows is not None
    quality = quality_of("jpeg", state.job.output.quality)
    base_pixels = state.base_pixels
    base = state.memo.get_or_make(("jpeg-rows", state.base_key, quality),
                                  lambda: encode_rows(base_pixels, quality),
                                  lambda rows: rows.nbytes if rows is not None else 64)
    if base is None:
        return None
    if state.pixels is None:
        return join(base.header, base.segments)       # nothing drawn: the base itself
    return splice(base, state.pixels, state.changed_rows, quality)


Step = Callable[[RenderState], RenderState]
STEPS: tuple[Step, ...] = (plan_output, make_canvas, draw_layers, resize_output, explain_boxes,
                           encode_output)


def run(job: RenderJob, memo: RenderMemo, steps: tuple[Step, ...] = STEPS) -> Rendered:
    """Run the steps, checking the deadline between them."""
    started = time.perf_counter()
    state = RenderState(job=job, memo=memo, deadline=Deadline(job.deadline))
    try:
        for step in steps:
            _check_deadline(state)
            state = step(state)
    except pyvips.Error:
        state.deadline.check()  # work killed at the deadline is a timeout, not a failure
        raise
    finally:
        state.deadline.release()
    assert state.ctx is not None
    elapsed_ms = (time.perf_counter() - started) * 1000
    if not math.isfinite(elapsed_ms):
        elapsed_ms = 0.0
    return Rendered(data=state.data, format=job.output.format, width=state.out_size[0],
                    height=state.out_size[1], render_ms=elapsed_ms,
                    fits=tuple(state.ctx.fits),
                    fallback_reason=", ".join(state.fallback_reasons) or None)
