"""Generated templates never crash: any valid template with any values renders or is a named 4xx.

Hypothesis builds random valid templates (every layer kind and option, transparent and opaque
canvases, alpha colours, every fit, gravity, mask and anchor, follow canvases), random raw
values (valid and not), a random output (every format, dpr 1-4, width/height) and random
sources (sizes from 1 px to 1500 px, extreme shapes, grey/RGB/RGBA/16-bit, PNG, JPEG, WebP,
GIF, animated, truncated, not an image). Each case goes the server's way: coerce the values,
check each source like `sources/resolve.py` (a bad one uses the variable's fallback), render.
It must give an image of the asked size and format, or a ProxyError with a 4xx status; and it
must stay within CASE_BUDGET_S seconds and MEMORY_BUDGET_MB of peak RSS growth.

CI runs DEFAULT_EXAMPLES (200, a fixed derandomised set, under a minute). A longer random run:

    PICSTREAM_FUZZ_EXAMPLES=2000 .venv/bin/python -m pytest -q -s --timeout 0 \
        tests/render/test_fuzz.py
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import pyvips
from hypothesis import HealthCheck, Phase, given, note, settings
from hypothesis import strategies as st

import proxy.render  # noqa: F401  (fonts are set up before any text renders)
from proxy.config import Sources
from proxy.errors import ProxyError
from proxy.render import OutputLimits, RenderJob, RenderMemo, render
from proxy.sources.fetch import RASTER_FORMATS
from proxy.sources.sniff import check_image
from proxy.spec import OutputOptions
from proxy.template.load import load_template
from proxy.template.values import coerce
from tests.render.test_scripts import SAMPLES

ROOT = Path(__file__).resolve().parents[2]
ART = ROOT / "tests" / "fixtures" / "templates" / "art"

DEFAULT_EXAMPLES = 200
FUZZ_EXAMPLES = int(os.environ.get("PICSTREAM_FUZZ_EXAMPLES", DEFAULT_EXAMPLES))
CASE_BUDGET_S = float(os.environ.get("PICSTREAM_FUZZ_CASE_S", "20"))
MEMORY_BUDGET_MB = 1500
# The fuzz's own output limits (limits.max_output_*): big enough for every option, small
# enough that one GIF encode stays well inside the time budget on a 2-core CI machine.
LIMITS = OutputLimits(max_side=4096, max_pixels=4_000_000)
SOURCE_LIMITS = Sources()

FORMATS = ("png", "jpeg", "webp", "avif", "gif")
FITS = ("cover", "contain", "fill")
GRAVITIES = ("centre", "north", "south", "east", "west", "north-east", "north-west",
             "south-east", "south-west", "smart")
ANCHORS = ("fill", "centre", "north", "south", "east", "west", "north-east", "north-west",
           "south-east", "south-west")
FONTS = ("Inter", "Inter SemiBold", "Inter Bold", "Inter Black", "Noto Sans Arabic",
         "Noto Sans Devanagari Bold", "Noto Sans Thai", "Noto Sans CJK KR Bold",
         "Droid Sans Fallback", "Noto Color Emoji")
WORDS = tuple(SAMPLES.values()) + ("", " ", "W" * 80, "<b>&amp;</b>", "{x}", "🎉👩‍👩‍👧",
                                   "a\u0301\u0301\u0301\u0301\u0301\u0301", "line\nbreak\n\n")

OUTCOMES: Counter[str] = Counter()
SLOWEST: list[float] = [0.0]


# --- values a person could write ------------------------------------------------------------

hex_digit = st.sampled_from("0123456789abcdefABCDEF")
colour = st.one_of(
    st.builds(lambda d: "#" + "".join(d), st.lists(hex_digit, min_size=6, max_size=6)),
    st.builds(lambda d: "#" + "".join(d), st.lists(hex_digit, min_size=8, max_size=8)),
    st.builds(lambda d: "#" + "".join(d), st.lists(hex_digit, min_size=3, max_size=4)),
    st.sampled_from(["transparent", "white", "black", "rebeccapurple", "#0000", "#ffffff00"]),
)
some_text = st.one_of(st.sampled_from(WORDS), st.text(max_size=60))


def _toml(value: Any) -> str:
    """A TOML value (inline tables and arrays); JSON string escapes are valid TOML."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        # TOML basic strings forbid DEL too, which JSON leaves as is
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"


def _dump(doc: dict[str, Any]) -> str:
    lines = [f"{k} = {_toml(v)}" for k, v in doc.items() if k not in ("variables", "layers")]
    for name, var in doc["variables"].items():
        lines.append(f"[variables.{name}]")
        lines += [f"{k} = {_toml(v)}" for k, v in var.items()]
    for layer in doc["layers"]:
        lines.append("[[layers]]")
        lines += [f"{k} = {_toml(v)}" for k, v in layer.items()]
    return "\n".join(lines) + "\n"


# --- templates ----------------------------------------------------------------------------

@st.composite
def variables(draw: st.DrawFn) -> dict[str, dict[str, Any]]:
    max_length = draw(st.integers(1, 200))
    text: dict[str, Any] = {"type": "text", "max_length": max_length}
    if draw(st.booleans()):
        text["default"] = draw(some_text.filter(lambda t: 0 < len(t) <= max_length))
    else:
        text["optional"] = True
    low = draw(st.integers(-1000, 1000))
    number = {"type": "number", "min": low, "max": low + draw(st.integers(0, 5000)),
              "default": low}
    choices = draw(st.sampled_from([list(FITS), list(GRAVITIES), ["#ff0000", "#00ff0080"]]))
    image: dict[str, Any] = {"type": "image"}
    if draw(st.booleans()):
        image["fallback"] = draw(st.sampled_from(["art/photo.jpg", "art/avatar-placeholder.png"]))
    else:
        image["optional"] = True
    return {
        "t": text,
        "c": {"type": "color", "default": draw(colour)},
        "n": number,
        "ch": {"type": "choice", "choices": choices, "default": choices[0]},
        "b": {"type": "boolean", "default": draw(st.booleans())},
        "img": image,
    }


@st.composite
def layer(draw: st.DrawFn, size: tuple[int, int], choices: list[str]) -> dict[str, Any]:
    width, height = size
    x, y = draw(st.integers(0, width - 1)), draw(st.integers(0, height - 1))
    box = [x, y, draw(st.integers(1, width - x)), draw(st.integers(1, height - y))]
    kind = draw(st.sampled_from(["rect", "text", "image", "svg", "qr", "barcode"]))
    out: dict[str, Any] = {"type": kind, "box": box}
    if draw(st.booleans()):
        out["opacity"] = draw(st.floats(0, 1))
    if draw(st.integers(0, 3)) == 0:
        out["when"] = draw(st.sampled_from(["t", "!t", "b", "!b", "img", "c"]))
    if draw(st.integers(0, 3)) == 0:
        out["anchor"] = draw(st.sampled_from(ANCHORS))
    col = st.one_of(colour, st.just("{c}"))
    if kind == "rect":
        if draw(st.booleans()):
            stops = sorted(draw(st.lists(st.floats(0, 1), min_size=2, max_size=4)))
            out["gradient"] = {"angle": draw(st.one_of(st.integers(-720, 720),
                                                       st.floats(-720, 720))),
                               "stops": [[p, draw(col)] for p in stops]}
        else:
            out["fill"] = draw(col)
        out["radius"] = draw(st.integers(0, 400))
        if draw(st.booleans()):
            out["stroke"] = draw(col)
            out["stroke_width"] = draw(st.integers(0, 60))
    elif kind == "text":
        out["text"] = draw(st.sampled_from(["{t}", "Hi {t}!", "{n} items", "Fixed text",
                                            "{{literal}} {t}", "مرحبا {t}"]))
        out["font"] = draw(st.sampled_from(FONTS))
        out["size"] = draw(st.integers(4, 300))
        if draw(st.booleans()):
            out["min_size"] = draw(st.integers(4, out["size"]))
        if draw(st.booleans()):
            out["max_lines"] = draw(st.integers(1, 6))
        out["color"] = draw(col)
        out["align"] = draw(st.sampled_from(["left", "centre", "center", "right"]))
        out["valign"] = draw(st.sampled_from(["top", "middle", "bottom"]))
        out["line_height"] = draw(st.floats(0.5, 4))
        out["letter_spacing"] = draw(st.floats(-5, 40))
        out["uppercase"] = draw(st.booleans())
    elif kind == "image":
        out["src"] = draw(st.sampled_from(["{img}", "art/photo.jpg", "art/avatar-placeholder.png"]))
        fits = "{ch}" if choices == list(FITS) else None
        gravities = "{ch}" if choices == list(GRAVITIES) else None
        out["fit"] = draw(st.sampled_from([f for f in (*FITS, fits) if f]))
        out["gravity"] = draw(st.sampled_from([g for g in (*GRAVITIES, gravities) if g]))
        out["mask"] = draw(st.sampled_from(["none", "circle"]))
        out["radius"] = draw(st.integers(0, 300))
        if draw(st.booleans()):
            out["tint"] = draw(col)
    elif kind == "svg":
        out["svg"] = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 40">'
                      f'<rect width="100" height="40" rx="{draw(st.integers(0, 20))}" '
                      'fill="{c}"/><text x="4" y="28" font-size="20" font-family="Inter">'
                      '{t}</text></svg>')
    else:
        out["value"] = draw(st.sampled_from(["{t}", "https://example.com/{t}", "590123412345"]
                                            if kind == "barcode" else ["{t}", "Hi {t} {n}"]))
        if kind == "barcode":
            out["symbology"] = ("ean13" if out["value"] == "590123412345"
                                else draw(st.sampled_from(["code128", "ean13"])))
        else:
            out["error"] = draw(st.sampled_from(["L", "M", "Q", "H"]))
        out["color"] = draw(col)
        out["background"] = draw(col)
        out["quiet_zone"] = draw(st.integers(0, 40))
        out["min_module"] = draw(st.floats(0.25, 5))
    return out


@st.composite
def template_doc(draw: st.DrawFn) -> dict[str, Any]:
    size = (draw(st.integers(1, 640)), draw(st.integers(1, 640)))
    doc: dict[str, Any] = {"size": list(size)}
    background = draw(st.sampled_from(["none", "opaque", "alpha", "variable"]))
    if background == "opaque":
        doc["background"] = draw(colour.filter(lambda c: len(c) in (4, 7)))
    elif background == "alpha":
        doc["background"] = draw(colour)
    elif background == "variable":
        doc["background"] = "{c}"
    if draw(st.booleans()):
        doc["matte"] = draw(st.one_of(colour, st.just("{c}")))
    if draw(st.integers(0, 4)) == 0:
        doc["follow"] = True
    doc["variables"] = draw(variables())
    choices = doc["variables"]["ch"]["choices"]
    doc["layers"] = draw(st.lists(layer(size, choices), min_size=0, max_size=6))
    return doc


# --- sources ------------------------------------------------------------------------------

@st.composite
def source(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["png", "jpeg", "webp", "gif", "png16", "grey", "animated",
                                 "truncated", "garbage", "empty"]))
    if kind == "garbage":
        return draw(st.binary(max_size=64))
    if kind == "empty":
        return b""
    width = draw(st.one_of(st.integers(1, 1500), st.sampled_from([1, 2, 3])))
    height = draw(st.one_of(st.integers(1, 1500), st.sampled_from([1, 2, 3])))
    if width * height > 1_200_000:
        height = max(1, 1_200_000 // width)
    bands = draw(st.sampled_from([1, 2, 3, 4]))
    xy = pyvips.Image.xyz(width, height)
    shade = draw(st.integers(0, 255))
    planes = [((xy[0] * (k + 1) + xy[1] * (3 - k) + shade) % 256).cast("uchar")
              for k in range(bands)]
    image = planes[0].bandjoin(planes[1:]) if bands > 1 else planes[0]
    image = image.copy(interpretation="b-w" if bands <= 2 else "srgb")
    if kind == "png16":
        return bytes(image.cast("ushort").copy(interpretation="grey16" if bands <= 2
                                               else "rgb16").pngsave_buffer())
    if kind == "grey":
        return bytes(image[0].pngsave_buffer())
    if kind == "animated":
        frames = draw(st.integers(2, 150))
        strip = pyvips.Image.arrayjoin([image[0].cast("uchar")] * min(frames, 3), across=1)
        strip = strip.copy()
        strip.set_type(pyvips.GValue.gint_type, "page-height", height)
        strip.set_type(pyvips.GValue.gint_type, "n-pages", min(frames, 3))
        return bytes(strip.gifsave_buffer())
    fmt = "png" if kind == "truncated" else kind
    if fmt == "jpeg" and bands in (2, 4):
        image = image[0:bands - 1]
    data = bytes(getattr(image, f"{fmt}save_buffer")())
    if kind == "truncated":
        data = data[:max(40, draw(st.integers(0, len(data) - 1)))]
    return data


@st.composite
def case(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, str], dict[str, bytes],
                                   OutputOptions]:
    doc = draw(template_doc())
    raw: dict[str, str] = {}
    images: dict[str, bytes] = {}
    # Mostly valid values (the interesting renders); one case in eight has wrong ones too.
    wrong = draw(st.integers(0, 7)) == 0
    for name, var in doc["variables"].items():
        if draw(st.integers(0, 3)) == 0:
            continue                                  # the default (or nothing)
        kind = var["type"]
        if kind == "text":
            value = draw(some_text)
            raw[name] = value if wrong else value[:var["max_length"]]
        elif kind == "color":
            raw[name] = draw(st.one_of(colour, st.sampled_from(["blurple", "#12345"]))
                             if wrong else colour)
        elif kind == "number":
            number = st.integers(var["min"], var["max"])
            raw[name] = str(draw(st.one_of(number, st.floats(allow_nan=True), st.just("12abc"))
                                 if wrong else number))
        elif kind == "choice":
            raw[name] = draw(st.sampled_from([*var["choices"], "nope"] if wrong
                                             else var["choices"]))
        elif kind == "boolean":
            raw[name] = draw(st.sampled_from(["true", "false", "1", "0", "maybe"] if wrong
                                             else ["true", "false"]))
        else:
            url = f"https://img.test/{draw(st.integers(0, 99))}.img"
            raw[name] = draw(st.sampled_from([url, url, "", "asset:" + "0" * 64]
                                             + (["ftp://x/y"] if wrong else [])))
            images[url] = draw(source())
    width = draw(st.one_of(st.none(), st.integers(1, 1600)))
    height = draw(st.one_of(st.none(), st.integers(1, 1600)))
    output = OutputOptions(format=draw(st.sampled_from(FORMATS)), width=width, height=height,
                           quality=draw(st.one_of(st.none(), st.integers(1, 100))),
                           dpr=draw(st.one_of(st.sampled_from([1.0, 2.0, 3.0, 4.0]),
                                              st.floats(1, 4))))
    return doc, raw, images, output


# --- the property ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="picstream-fuzz-") as tmp:
        shutil.copytree(ART, Path(tmp) / "art")
        yield Path(tmp)
    print(f"\nfuzz: {sum(OUTCOMES.values())} cases, slowest {SLOWEST[0]:.2f} s: "
          + ", ".join(f"{k} {v}" for k, v in OUTCOMES.most_common()))


def _resolve(template: Any, values: Any, fetched: dict[str, bytes]) -> dict[str, bytes]:
    """`sources/resolve.py` without the network: check each source, else its fallback."""
    images: dict[str, bytes] = {}
    for name, var in template.variables.items():
        ref = values.display(name) if var.type == "image" else ""
        if not ref:
            continue
        try:
            if ref not in fetched:
                raise _Unfetchable(f"{name}: source could not be fetched")
            data = fetched[ref]
            check_image(data, allowed=RASTER_FORMATS, max_pixels=SOURCE_LIMITS.max_pixels,
                        max_frames=SOURCE_LIMITS.max_frames)
        except ProxyError:
            if var.fallback is None:
                raise
            data = template.files[var.fallback]
        images[ref] = data
    return images


class _Unfetchable(ProxyError):
    """Stands for the fetcher's refusal of a URL the fuzz does not serve (a 502 upstream)."""

    status = 422
    code = "unfetchable"


MEMO = RenderMemo(max_bytes=64 * 1024 * 1024)   # shared, as in the server
START_RSS_MB = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# No shrinking: each step is a render, and a shrink ran past five minutes. The failing case
# is printed whole (note) instead: template TOML, raw values and output options.
@settings(max_examples=FUZZ_EXAMPLES, deadline=None, database=None,
          derandomize=FUZZ_EXAMPLES <= DEFAULT_EXAMPLES,
          phases=(Phase.explicit, Phase.generate),
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
@given(case())
def test_any_valid_template_renders_or_is_a_named_4xx(
        folder: Path, case: tuple[dict[str, Any], dict[str, str], dict[str, bytes],
                                  OutputOptions]) -> None:
    doc, raw, fetched, output = case
    path = folder / "fuzz.toml"
    path.write_text(_dump(doc), encoding="utf-8")
    note(f"template:\n{_dump(doc)}\nvalues: {raw!r}\noutput: {output!r}\nsources: "
         + repr({url: (len(data), data[:16]) for url, data in fetched.items()}))
    template = load_template(path)        # a generated template is valid: no TemplateError
    started = time.monotonic()
    try:
        values = coerce(template, raw)
        images = _resolve(template, values, fetched)
        rendered = render(RenderJob(template=template, values=values, output=output,
                                    images=images, limits=LIMITS), MEMO)
    except ProxyError as exc:
        assert 400 <= exc.status < 500, f"{exc.status} {exc.code}: {exc.public} ({exc.detail})"
        OUTCOMES[f"{exc.status} {exc.code}"] += 1
    else:
        image = pyvips.Image.new_from_buffer(rendered.data, "")
        loader = str(image.get("vips-loader"))
        assert loader.startswith({"avif": "heif"}.get(output.format, output.format)), loader
        assert (image.width, image.height) == (rendered.width, rendered.height)
        if output.width and output.height:
            assert (rendered.width, rendered.height) == (round(output.width * output.dpr),
                                                         round(output.height * output.dpr))
        OUTCOMES[f"200 {output.format}"] += 1
    elapsed = time.monotonic() - started
    SLOWEST[0] = max(SLOWEST[0], elapsed)
    assert elapsed < CASE_BUDGET_S, f"case took {elapsed:.1f} s (budget {CASE_BUDGET_S} s)"
    grown_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - START_RSS_MB
    assert grown_mb < MEMORY_BUDGET_MB, f"peak RSS grew {grown_mb:.0f} MB"
