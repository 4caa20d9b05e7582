"""The render flow as a list of steps; each takes and returns the RenderState.

STEPS = (plan_output, make_canvas, draw_layers, resize_output, encode_output)
The deadline is checked between steps and between layers.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np
import pyvips

from ..errors import BadSource, InvalidValue, RenderTimeout, TooLarge
from ..spec import OutputOptions
from ..template.colors import parse_color
from ..template.model import ImageLayer, Layer, Template, TextLayer
from ..template.refs import has_refs, substitute
from ..template.values import Values, is_drawn, resolve_layer
from .context import DrawContext, TextFit
from .encode import encode
from .layers import DRAW
from .memo import RenderMemo
from .patch import Patch


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
    scale: float = 1.0
    out_size: tuple[int, int] = (0, 0)
    draw_size: tuple[int, int] = (0, 0)
    canvas: pyvips.Image | None = None
    ctx: DrawContext | None = None
    rest: list[tuple[int, Layer]] = field(default_factory=list)   # per-render layers
    bands: int = 3                                                # 4 on a transparent canvas
    base_pixels: np.ndarray | None = None                         # the memoised base, as NumPy
    fallback_reasons: list[str] = field(default_factory=list)
    data: bytes = b""


def _check_deadline(state: RenderState) -> None:
    deadline = state.job.deadline
    if deadline is not None and time.monotonic() > deadline:
        raise RenderTimeout("render took too long")


def plan_output(state: RenderState) -> RenderState:
    """Output size and drawing scale: text and vectors are drawn at scale, not upscaled."""
    tw, th = state.job.template.size
    out = state.job.output
    if not 1 <= out.dpr <= 4:
        raise InvalidValue("dpr: must be between 1 and 4", field="dpr")
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
    # Draw at the width's scale; a different height (both given) is a final resize.
    state.scale = out_w / tw
    state.draw_size = (out_w, max(1, round(th * state.scale)))
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


@dataclass(frozen=True)
class Ready:
    """A patch materialised once, ready to blend: libvips bands and NumPy planes.

    Blending in libvips leaves a pipeline for the encoder to evaluate, and libvips' region
    machinery costs about 1.5 ms on a 1200x630 JPEG even for one small insert (measured:
    a memory canvas encodes at the floor, the same canvas with one insert 1.5 ms slower). So
    on an opaque canvas the per-render layers are blended in NumPy into a private copy of the
    memoised base, and the encoder reads plain memory. Planes are cropped to the ink's
    bounding box: a text patch is mostly transparent line box.
    """

    rgba: pyvips.Image
    x: int
    y: int
    width: int
    height: int
    pre: np.ndarray | None      # rgb * alpha as uint16, cropped to the ink
    inv: np.ndarray | None      # 255 - alpha as uint16, same crop
    ink_x: int = 0              # the crop's offset inside the patch
    ink_y: int = 0


def _ready(patch: Patch | None) -> Ready | None:
    if patch is None:
        return None
    # Materialise once: sources are decoded with sequential access and cannot be read twice.
    image = patch.image.copy_memory()
    width, height = image.width, image.height
    pixels = np.frombuffer(image.write_to_memory(), dtype=np.uint8).reshape(height, width, 4)
    alpha = pixels[:, :, 3]
    rows = np.flatnonzero(alpha.any(axis=1))
    cols = np.flatnonzero(alpha.any(axis=0))
    if rows.size == 0:
        return None  # nothing visible
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    ink = pixels[top:bottom, left:right].astype(np.uint16)
    a = ink[:, :, 3:4]
    return Ready(rgba=image, x=patch.x, y=patch.y, width=width, height=height,
                 pre=ink[:, :, :3] * a, inv=255 - a, ink_x=int(left), ink_y=int(top))


def _blend(canvas: np.ndarray, patch: Ready) -> None:
    """Blend `patch` over the (H, W, 3) uint8 canvas in place, clipped to the canvas."""
    assert patch.pre is not None and patch.inv is not None
    height, width = canvas.shape[:2]
    px, py = patch.x + patch.ink_x, patch.y + patch.ink_y
    ph, pw = patch.pre.shape[:2]
    x0, y0 = max(px, 0), max(py, 0)
    x1, y1 = min(px + pw, width), min(py + ph, height)
    if x1 <= x0 or y1 <= y0:
        return
    pre = patch.pre[y0 - py:y1 - py, x0 - px:x1 - px]
    inv = patch.inv[y0 - py:y1 - py, x0 - px:x1 - px]
    region = canvas[y0:y1, x0:x1]
    # Exactly libvips' ifthenelse(blend=True) on uchar, (a*t + (255-a)*e + 128) / 255, checked
    # over every alpha: a layer drawn here or in the base gives the same pixels.
    region[...] = (pre + region * inv + 128) // 255


def _paste(canvas: pyvips.Image, size: tuple[int, int], bands: int,
           patch: Ready) -> pyvips.Image:
    """Composite the patch over only its own region of a libvips canvas (the base, RGBA)."""
    x0, y0 = max(patch.x, 0), max(patch.y, 0)
    x1 = min(patch.x + patch.width, size[0])
    y1 = min(patch.y + patch.height, size[1])
    if x1 <= x0 or y1 <= y0:
        return canvas
    rgba = patch.rgba
    if (x0, y0, x1, y1) != (patch.x, patch.y, patch.x + patch.width, patch.y + patch.height):
        rgba = rgba.crop(x0 - patch.x, y0 - patch.y, x1 - x0, y1 - y0)
    region = canvas.crop(x0, y0, x1 - x0, y1 - y0)
    if bands == 3:
        # On an opaque canvas "over" is a per-pixel mix by alpha: ifthenelse(blend) does it in
        # integer arithmetic, faster than composite's float path.
        merged = rgba[3].ifthenelse(rgba.extract_band(0, n=3), region, blend=True)
    else:
        merged = region.composite2(rgba, "over").cast("uchar").copy(interpretation="srgb")
    return canvas.insert(merged, x0, y0)


def _patch_bytes(patch: Ready | None) -> int:
    if patch is None:
        return 1
    planes = sum(p.nbytes for p in (patch.pre, patch.inv) if p is not None)
    return patch.width * patch.height * 4 + planes


def _repeats(layer: Layer, resolved: Layer) -> bool:
    """Whether a layer's resolved form repeats across renders, so it can join the base canvas.

    Text with variables (names: one value per render) and remote images (one per avatar)
    would make a new base every render; colours, choices and local art repeat.
    """
    if isinstance(layer, TextLayer):
        return not has_refs(layer.text)
    if isinstance(resolved, ImageLayer):
        return resolved.src == "" or resolved.src.startswith("local:")
    return True


def _overlaps(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


HOT_AFTER = 8   # a text layer asked for this often with one value joins the base canvas


def _plan(template: Template, values: Values, memo: RenderMemo,
          scale: float) -> tuple[list[tuple[int, Layer]], list[tuple[int, Layer]]]:
    """Split drawn layers into the memoised base and the per-render rest.

    A repeating layer joins the base unless it overlaps a per-render layer below it: drawing
    it early would then change the stacking order. Text with variables repeats too when the
    same value keeps coming (a default title, one badge for a whole batch): after HOT_AFTER
    renders it joins the base, so each render blends only what is new in it. The pixels are
    the same either way.
    """
    base: list[tuple[int, Layer]] = []
    rest: list[tuple[int, Layer]] = []
    for index, layer in enumerate(template.layers):
        if not is_drawn(layer, values):
            continue
        resolved = resolve_layer(layer, values, template)
        repeats = _repeats(layer, resolved) or memo.times_asked(
            _layer_key(template, index, scale, resolved, b"")) >= HOT_AFTER
        if repeats and not any(_overlaps(layer.box, template.layers[i].box)
                               for i, _ in rest):
            base.append((index, resolved))
        else:
            rest.append((index, resolved))
    return base, rest


def make_canvas(state: RenderState) -> RenderState:
    """Background plus every repeating layer, memoised by their resolved form."""
    job = state.job
    template = job.template
    width, height = state.draw_size
    state.ctx = DrawContext(scale=state.scale, canvas_size=state.draw_size,
                            images=_decoded(state))
    background = substitute(template.background, job.values.strings())
    rgba = _colour(background, "background")
    state.bands = 3 if rgba[3] == 255 else 4
    base, state.rest = _plan(template, job.values, state.memo, state.scale)

    def make() -> tuple[pyvips.Image, np.ndarray | None, tuple[TextFit, ...]]:
        assert state.ctx is not None
        canvas = _solid(width, height, rgba)
        before = len(state.ctx.fits)
        for index, resolved in base:
            state.ctx.layer_index = index
            patch = _ready(DRAW[type(resolved)](resolved, state.ctx))
            if patch is not None:
                canvas = _paste(canvas, state.draw_size, state.bands, patch)
        canvas = canvas.copy_memory()
        pixels = None
        if state.bands == 3:
            pixels = np.frombuffer(canvas.write_to_memory(), dtype=np.uint8).reshape(
                height, width, 3)
        return canvas, pixels, tuple(state.ctx.fits[before:])

    key = ("canvas", template.version, state.scale, width, height, background, tuple(base))
    fits_before = len(state.ctx.fits)
    state.canvas, state.base_pixels, fits = state.memo.get_or_make(
        key, make, lambda item: 2 * width * height * state.bands)
    # A memo hit skips the drawers: keep the base layers' fit notes for `explain`.
    if len(state.ctx.fits) == fits_before:
        state.ctx.fits.extend(fits)
    return state


def _decoded(state: RenderState) -> _LazyImages:
    """Lazily decoded images (the patches drawn from them are memoised)."""
    return _LazyImages(state)


class _LazyImages(Mapping[str, pyvips.Image]):
    """Decodes a source only when a drawn layer asks for it."""

    def __init__(self, state: RenderState) -> None:
        self._state = state
        # (width, height, fit) of the box about to be drawn: lets a big JPEG shrink on load
        self.hint: tuple[int, int, str] | None = None

    def __getitem__(self, key: str) -> pyvips.Image:
        job = self._state.job
        data = (job.template.files.get(key[6:]) if key.startswith("local:")
                else job.images.get(key))
        if data is None:
            raise KeyError(key)
        return decode_source(data, key, self.hint)

    def __iter__(self) -> Iterator[str]:
        job = self._state.job
        return iter(set(job.images) | {"local:" + k for k in job.template.files})

    def __len__(self) -> int:
        return len(self._state.job.images) + len(self._state.job.template.files)


def decode_source(data: bytes, key: str,
                  hint: tuple[int, int, str] | None = None) -> pyvips.Image:
    """Decode source bytes (already sniffed and size-checked by the sources wing).

    With a box hint, a source much larger than the box is shrunk while loading (JPEG and WebP
    decode at 1/2, 1/4, 1/8 scale): a 2400x1600 photo into a 800x700 box decodes several
    times faster than at full size.
    """
    try:
        image = pyvips.Image.new_from_buffer(data, "", access="sequential", fail_on="error")
        loader = str(image.get("vips-loader"))
        if hint is not None and loader.startswith(("jpegload", "webpload")):
            box_w, box_h, fit = hint
            if image.get_typeof("orientation") and image.get("orientation") in (5, 6, 7, 8):
                box_w, box_h = box_h, box_w
            pick = max if fit in ("cover", "fill") else min
            factor = pick(box_w / image.width, box_h / image.height)
            if factor < 0.5:
                target_w = max(1, math.ceil(image.width * factor) + 1)
                target_h = max(1, math.ceil(image.height * factor) + 1)
                return pyvips.Image.thumbnail_buffer(data, target_w, height=target_h,
                                                     size="down", fail_on="error")
        if image.get_typeof("orientation"):
            image = image.autorot()
        return image
    except pyvips.Error as exc:
        raise BadSource("source image could not be decoded", detail=f"{key[:200]}: {exc}") from None


def _draw_cached(state: RenderState, index: int, layer: Layer, resolved: Layer) -> Ready | None:
    """Draw a layer, memoised by its resolved form (and source digest for images).

    A patch depends only on the resolved layer and the scale, so a default title or a repeated
    avatar costs a lookup; the text fit notes are kept with the patch for `explain`.
    """
    assert state.ctx is not None
    ctx = state.ctx
    draw = DRAW[type(resolved)]
    template = state.job.template
    digest = b""
    if isinstance(resolved, ImageLayer):
        key = resolved.src
        data = (template.files.get(key[6:]) if key.startswith("local:")
                else state.job.images.get(key))
        if data is None:
            return None
        digest = hashlib.blake2b(data, digest_size=16).digest()

    def make() -> tuple[Ready | None, tuple[TextFit, ...]]:
        before = len(ctx.fits)
        images = ctx.images
        if isinstance(resolved, ImageLayer) and isinstance(images, _LazyImages):
            x, y, w, h = resolved.box
            images.hint = (round(w * ctx.scale), round(h * ctx.scale), resolved.fit)
        try:
            # copy_memory runs the decode now, so a truncated source fails here, inside
            # this layer, where a fallback can still replace it.
            patch = _ready(draw(resolved, ctx))
        except pyvips.Error as exc:
            if not isinstance(resolved, ImageLayer):
                raise
            raise BadSource("source image could not be decoded",
                            detail=f"{resolved.src[:200]}: {exc}") from None
        finally:
            if isinstance(images, _LazyImages):
                images.hint = None
        return patch, tuple(ctx.fits[before:])

    before = len(ctx.fits)
    patch, fits = state.memo.get_or_make(
        _layer_key(template, index, state.scale, resolved, digest), make,
        lambda item: _patch_bytes(item[0]))
    if len(ctx.fits) == before:
        ctx.fits.extend(fits)
    return patch


def _layer_key(template: Template, index: int, scale: float, resolved: Layer,
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


def draw_layers(state: RenderState) -> RenderState:
    """Draw the per-render layers in order, each blended over its own region only."""
    assert state.canvas is not None and state.ctx is not None
    canvas = state.canvas
    template = state.job.template
    pixels: np.ndarray | None = None
    if state.bands == 3 and state.rest and state.base_pixels is not None:
        pixels = state.base_pixels.copy()
    for index, resolved in state.rest:
        _check_deadline(state)
        state.ctx.layer_index = index
        if isinstance(resolved, ImageLayer) and not resolved.src:
            continue
        try:
            patch = _draw_cached(state, index, template.layers[index], resolved)
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
        if pixels is not None:
            _blend(pixels, patch)
        else:
            canvas = _paste(canvas, state.draw_size, state.bands, patch)
    if pixels is not None:
        width, height = state.draw_size
        canvas = pyvips.Image.new_from_memory(pixels.data, width, height, 3, "uchar")
    state.canvas = canvas
    return state


def resize_output(state: RenderState) -> RenderState:
    """Stretch to the exact size when both width and height were asked for."""
    assert state.canvas is not None
    if state.out_size != state.draw_size:
        out_w, out_h = state.out_size
        state.canvas = state.canvas.resize(out_w / state.canvas.width,
                                           vscale=out_h / state.canvas.height)
    return state


def explain_boxes(state: RenderState) -> RenderState:
    """In explain mode, outline every layer's box (drawn layers solid, skipped ones dashed)."""
    if not state.job.explain:
        return state
    assert state.canvas is not None
    canvas = state.canvas.copy_memory()
    sx = state.out_size[0] / state.job.template.size[0]
    sy = state.out_size[1] / state.job.template.size[1]
    palette = ([255, 0, 128], [0, 200, 255], [255, 200, 0], [0, 255, 120])
    for index, layer in enumerate(state.job.template.layers):
        x, y, w, h = layer.box
        colour: list[float] = [float(c) for c in palette[index % len(palette)]]
        colour = (colour + [255.0])[: canvas.bands]
        width = max(1, round(2 * sx))
        for t in range(width):
            canvas = canvas.draw_rect(colour, round(x * sx) + t, round(y * sy) + t,
                                      max(1, round(w * sx) - 2 * t), max(1, round(h * sy) - 2 * t))
    state.canvas = canvas
    return state


def encode_output(state: RenderState) -> RenderState:
    """Encode with the table of measured settings; metadata is stripped there."""
    assert state.canvas is not None
    _check_deadline(state)
    out = state.job.output
    state.data = encode(state.canvas, out.format, out.quality)
    return state


Step = Callable[[RenderState], RenderState]
STEPS: tuple[Step, ...] = (plan_output, make_canvas, draw_layers, resize_output, explain_boxes,
                           encode_output)


def run(job: RenderJob, memo: RenderMemo, steps: tuple[Step, ...] = STEPS) -> Rendered:
    """Run the steps, checking the deadline between them."""
    started = time.perf_counter()
    state = RenderState(job=job, memo=memo)
    for step in steps:
        _check_deadline(state)
        state = step(state)
    assert state.ctx is not None
    elapsed_ms = (time.perf_counter() - started) * 1000
    if not math.isfinite(elapsed_ms):
        elapsed_ms = 0.0
    return Rendered(data=state.data, format=job.output.format, width=state.out_size[0],
                    height=state.out_size[1], render_ms=elapsed_ms,
                    fits=tuple(state.ctx.fits),
                    fallback_reason=", ".join(state.fallback_reasons) or None)
