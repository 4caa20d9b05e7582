"""Template checks: validate, render with defaults and worst-case values, report overflow.

Used at server start (`quick`: validation plus one render with defaults, so a broken template
stops the boot instead of failing per request; STYLE.md rule 9) and by `picstream check`
(every worst case, with a PNG of each written to `out_dir`).
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pyvips

from .errors import ProxyError, TemplateError
from .render import Rendered, RenderJob, RenderMemo, render
from .render.context import DrawContext, TextFit
from .render.fontcheck import font_ok
from .render.svg import check_svg
from .render.text import draw_text
from .spec import OutputOptions
from .template.colors import parse_color, to_hex
from .template.load import load_template
from .template.model import Layer, SvgLayer, Template, TextLayer, Variable
from .template.refs import layer_strings, references, substitute, xml_escape
from .template.registry import Registry
from .template.values import Values, coerce, is_drawn

Severity = Literal["error", "warning"]

DEFAULT_MAX_LENGTH = 200          # what load.py assumes for a text variable without max_length
PLACEHOLDER_URL = "https://placeholder.invalid/{name}.png"

# Worst-case text per kind: (case name, how the message names it, repeating unit). Each value
# is the unit repeated and cut to the variable's max_length in code points, since that is
# what `max_length` counts (values.coerce_one).
_WORST: tuple[tuple[str, str, str], ...] = (
    ("wide", 'of "W"', "W"),
    # Realistic long names and words: a German compound and hyphenated double names wrap late.
    ("words", "of long words",
     "Maximiliane Wolfeschlegelsteinhausen-Bergdorff Oppenheimer-Rosenkranz "),
    ("rtl", "of Arabic", "محمد عبد الرحمن الشريف مؤسس شركة التصميم الرقمي "),
    # Single-code-point emoji only: a ZWJ sequence counts several code points per picture.
    ("emoji", "of emoji", "🎉🚀😀👍🌟🔥💡🎨"),
)


@dataclass(frozen=True)
class Problem:
    """One finding: `where` names the file and layer or variable, as load errors do."""

    severity: Severity
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass(frozen=True)
class FitNote:
    """How one text layer fitted in one case (for the report table)."""

    case: str
    layer_index: int
    size: float
    lines: int
    cut: bool


@dataclass
class Report:
    """Everything `check_template` found for one template file."""

    file: str
    problems: list[Problem] = field(default_factory=list)
    fits: list[FitNote] = field(default_factory=list)
    pictures: list[Path] = field(default_factory=list)
    renders: int = 0
    elapsed_ms: float = 0.0

    @property
    def ok(self) -> bool:
        """True when there is no error (warnings allowed)."""
        return not any(p.severity == "error" for p in self.problems)


@dataclass(frozen=True)
class _Case:
    name: str
    raw: Mapping[str, str]
    images: Mapping[str, bytes]
    label: str = ""                 # how a warning names the value ('of "W"')
    worst_vars: frozenset[str] = frozenset()


def check_all(registry: Registry, *, quick: bool = False,
              out_dir: Path | None = None) -> list[Problem]:
    """Problems of every template in the registry's folder (files that failed to load too)."""
    problems: list[Problem] = []
    for _name, message in sorted(registry.errors.items()):
        where, _, reason = message.rpartition(": ")
        problems.append(Problem("error", where, reason))
    for template in registry.all():
        problems += check_template(template, quick=quick, out_dir=out_dir).problems
    return problems


def check_files(paths: Iterable[Path], *, quick: bool = False, out_dir: Path | None = None,
                font_check: Callable[[str], bool] = font_ok) -> list[Report]:
    """Load and check each file on its own, so one bad file is reported, not fatal."""
    reports: list[Report] = []
    for path in paths:
        started = time.perf_counter()
        try:
            template = load_template(path, font_ok=font_check)
        except TemplateError as exc:
            report = Report(path.name, [Problem("error", exc.where, exc.reason)])
        else:
            report = check_template(template, quick=quick, out_dir=out_dir)
        report.elapsed_ms = (time.perf_counter() - started) * 1000
        reports.append(report)
    return reports


def check_template(template: Template, *, quick: bool = False,
                   out_dir: Path | None = None) -> Report:
    """Validate one loaded template and render it with defaults (and worst cases unless quick)."""
    started = time.perf_counter()
    report = Report(Path(template.path).name or f"{template.name}.toml")
    report.problems += _static_problems(template, report.file)
    if any(p.severity == "error" for p in report.problems):
        report.elapsed_ms = (time.perf_counter() - started) * 1000
        return report
    memo = RenderMemo()
    cases = _cases(template, quick=quick)
    for case in cases:
        rendered = _render_case(template, case, memo, report, out_dir=out_dir)
        if rendered is None:
            if case.name == "defaults":
                break  # every other case would fail the same way
            continue
        _note_fits(template, case, rendered.fits, report)
    if not quick and report.ok:
        _check_formats(template, memo, report)
    report.elapsed_ms = (time.perf_counter() - started) * 1000
    return report


# -- validation without rendering -------------------------------------------------------------

def _colour_fields(layer: Layer) -> list[tuple[str, str]]:
    return [(k, v) for k, v in layer_strings(layer)
            if v and (_own(k) in ("color", "fill", "stroke", "tint", "background")
                      or _own(k).startswith("gradient"))]


def _own(key: str) -> str:
    """A field's key without the `children[i].` prefixes of a group's descendants."""
    return re.sub(r"^(children\[\d+\]\.)+", "", key)


def _static_problems(template: Template, file: str) -> list[Problem]:
    """Fonts, colours, boxes, variables and SVG art: what can be known without a render."""
    problems: list[Problem] = []
    width, height = template.size
    used: set[str] = set(references(template.background)) | set(references(template.matte))
    colour_fields = [("background", template.background), ("matte", template.matte)]
    for index, layer in enumerate(template.layers):
        where = f"{file}: layers[{index}]"
        x, y, w, h = layer.box
        if w <= 0 or h <= 0 or x < 0 or y < 0 or x + w > width or y + h > height:
            problems.append(Problem("error", f"{where}.box",
                                    f"{list(layer.box)} is not inside the {width}x{height} canvas"))
        if layer.when is not None:
            used.add(layer.when.lstrip("!"))
            if layer.when.lstrip("!") not in template.variables:
                problems.append(Problem("error", f"{where}.when",
                                        f"undefined variable {layer.when.lstrip('!')!r}"))
        for key, text in layer_strings(layer):
            for name in sorted(references(text)):
                used.add(name)
                if name not in template.variables:
                    problems.append(Problem("error", f"{where}.{key}",
                                            f"references undefined variable {{{name}}}"))
        if isinstance(layer, TextLayer) and not font_ok(layer.font):
            problems.append(Problem("error", f"{where}.font",
                                    f"font {layer.font!r} is not shipped in templates/fonts"))
        if isinstance(layer, SvgLayer):
            problems += _svg_problems(template, layer, f"{where}.svg")
        colour_fields += [(f"layers[{index}].{k}", v) for k, v in _colour_fields(layer)]
    for where, text in colour_fields:
        problems += _colour_problems(template, f"{file}: {where}", text)
    for name in template.variables:
        if name not in used:
            problems.append(Problem("warning", f"{file}: variables.{name}",
                                    "is defined but no layer uses it"))
    return problems


def _colour_problems(template: Template, where: str, text: str) -> list[Problem]:
    """A colour that only some values make valid fails those renders: say so before they do."""
    refs = references(text)
    if not refs:
        try:
            parse_color(text)
        except ValueError as exc:
            return [Problem("error", where, str(exc))]
        return []
    problems: list[Problem] = []
    for name in sorted(refs):
        var = template.variables.get(name)
        if var is None:
            continue  # reported as undefined already
        if var.type == "choice":
            for choice in var.choices:
                try:
                    parse_color(substitute(text, {name: choice}))
                except ValueError:
                    problems.append(Problem("error", where,
                                            f"choice {choice!r} of {{{name}}} is not a colour"))
        elif var.type == "text":
            problems.append(Problem("warning", where, f"{{{name}}} is a text variable: any "
                                    "value that is not a colour fails the render"))
        elif var.type not in ("color",):
            problems.append(Problem("error", where, f"{{{name}}} is a {var.type} variable, "
                                    "not a colour"))
    return problems


def _svg_problems(template: Template, layer: SvgLayer, where: str) -> list[Problem]:
    """The art with default values substituted must pass the same check as at render time."""
    strings = {name: _display_default(var) for name, var in template.variables.items()}
    try:
        check_svg(substitute(layer.svg, strings, xml_escape))
    except ValueError as exc:
        return [Problem("error", where, str(exc))]
    return []


def _display_default(var: Variable) -> str:
    value = var.default
    if value is None:
        return _sample(var)
    if isinstance(value, tuple):
        return to_hex(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# -- cases --------------------------------------------------------------------------------------

def _sample(var: Variable) -> str:
    """A valid raw value for a required variable that has no default."""
    if var.type == "text":
        return "Sample"
    if var.type == "color":
        return "#808080"
    if var.type == "number":
        return f"{var.min if var.min is not None else 0:g}"
    if var.type == "choice":
        return var.choices[0]
    if var.type == "boolean":
        return "true"
    return PLACEHOLDER_URL.format(name=var.name)


def _placeholder_png() -> bytes:
    """A neutral grey gradient standing in for a remote image (check never fetches)."""
    ramp = pyvips.Image.xyz(256, 256)[0].cast("uchar")
    bands: list[pyvips.Image | int | float] = [ramp, ramp]
    rgb = ramp.bandjoin(bands).copy(interpretation="srgb")
    return bytes(rgb.pngsave_buffer(compression=1))


def _base_raw(template: Template) -> tuple[dict[str, str], dict[str, bytes]]:
    """Raw values for the defaults case: defaults, samples for required ones, placeholders."""
    raw: dict[str, str] = {}
    images: dict[str, bytes] = {}
    for name, var in template.variables.items():
        if var.type == "image":
            if var.fallback is None:
                url = PLACEHOLDER_URL.format(name=name)
                raw[name] = url
                images.setdefault(url, _placeholder_png())
        elif var.default is None and var.required:
            raw[name] = _sample(var)
    return raw, images


def _fill(unit: str, length: int) -> str:
    text = (unit * (length // len(unit) + 1))[:length]
    # A trailing space would be stripped by the renderer and not show the full length.
    return text[:-1] + unit[0] if text.endswith(" ") else text


def _cases(template: Template, *, quick: bool) -> list[_Case]:
    base, images = _base_raw(template)
    cases = [_Case("defaults", base, images, "with its default values")]
    if quick:
        return cases
    texts = [v for v in template.variables.values() if v.type == "text"]
    for name, label, unit in _WORST if texts else ():
        raw = dict(base)
        for var in texts:
            raw[var.name] = _fill(unit, var.max_length or DEFAULT_MAX_LENGTH)
        cases.append(_Case(name, raw, images, label, frozenset(v.name for v in texts)))
    optional = [v for v in template.variables.values()
                if v.optional or (v.type == "image" and v.fallback is not None)]
    if optional:
        raw = dict(base)
        for var in optional:
            raw[var.name] = ""
        cases.append(_Case("empty", raw, images, "with optional values empty"))
    return cases


# -- rendering ----------------------------------------------------------------------------------

def _render_case(template: Template, case: _Case, memo: RenderMemo, report: Report, *,
                 out_dir: Path | None, fmt: str = "png") -> Rendered | None:
    """Render one case; a failure is an error naming the case."""
    where = f"{report.file}: render {case.name}"
    try:
        values = coerce(template, case.raw)
        job = RenderJob(template=template, values=values, output=OutputOptions(format=fmt),
                        images=case.images, explain=out_dir is not None)
        rendered = render(job, memo)
    except ProxyError as exc:
        report.problems.append(Problem("error", where, exc.public + (
            f" ({exc.detail})" if exc.detail else "")))
        return None
    except (pyvips.Error, ValueError, KeyError) as exc:
        report.problems.append(Problem("error", where, f"{type(exc).__name__}: {exc}"))
        return None
    report.renders += 1
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        picture = out_dir / f"{template.name}-{case.name}.{fmt}"
        picture.write_bytes(rendered.data)
        report.pictures.append(picture)
    return rendered


def _check_formats(template: Template, memo: RenderMemo, report: Report) -> None:
    """Every format the template offers must encode (a libvips build may lack a saver)."""
    base, images = _base_raw(template)
    for fmt in template.formats:
        if fmt == "png":
            continue  # every case above was PNG
        _render_case(template, _Case(f"defaults as {fmt}", base, images), memo, report,
                     out_dir=None, fmt=fmt)


def _note_fits(template: Template, case: _Case, fits: Sequence[TextFit], report: Report) -> None:
    """Record each text layer's fit; a cut is a warning naming the layer and the fitted size."""
    for fit in fits:
        report.fits.append(FitNote(case.name, fit.layer_index, fit.size, fit.lines, fit.cut))
        if not fit.cut:
            continue
        layer = _text_of(template, fit, case)
        if layer is None:
            continue
        names = sorted(references(layer.text))
        where = f"{report.file}: layers[{fit.layer_index}]{fit.part}"
        if fit.part:
            # in a group the flow, not a box, gives the text its room
            why = (f"max_lines {layer.max_lines} in the room the group gives it"
                   if layer.max_lines is not None else "the room the group gives it")
        else:
            needed = _lines_needed(template, layer, case, fit.size)
            limit = _line_limit(layer, fit.size)
            why = (f"{needed} lines needed, max_lines {layer.max_lines}"
                   if layer.max_lines is not None and layer.max_lines <= limit
                   else f"{needed} lines needed, the box holds {limit}")
        if case.worst_vars & set(names):
            var = template.variables[next(n for n in names if n in case.worst_vars)]
            subject = (f'"{var.name}" at max_length {var.max_length or DEFAULT_MAX_LENGTH} '
                       f"{case.label}")
        else:
            subject = f"text {case.label}"
        report.problems.append(Problem(
            "warning", where, f"{subject} is cut at {fit.size:g}px ({why})"))


def _text_of(template: Template, fit: TextFit, case: _Case) -> TextLayer | None:
    """The template's text layer a fit note is about: a layer, or a group's drawn child named
    by the note's part (`.children[1].children[0]`, counting the children drawn)."""
    node: Layer = template.layers[fit.layer_index]
    if fit.part:
        values = coerce(template, case.raw)
        for index in (int(i) for i in re.findall(r"\[(\d+)\]", fit.part)):
            drawn = [c for c in getattr(node, "children", ()) if is_drawn(c, values)]
            if index >= len(drawn):
                return None
            node = drawn[index]
    return node if isinstance(node, TextLayer) else None


def _line_limit(layer: TextLayer, size: float) -> int:
    """Lines the box holds at `size`, capped by max_lines (the same rule as render/text.py)."""
    by_height = max(1, int((layer.box[3] + 0.5) // (layer.line_height * size)))
    return by_height if layer.max_lines is None else min(by_height, layer.max_lines)


def _lines_needed(template: Template, layer: TextLayer, case: _Case, size: float) -> int:
    """How many lines the whole text takes at `size` in the box's width (a tall scratch box)."""
    values: Values = coerce(template, case.raw)
    text = substitute(layer.text, values.strings())
    tall = dataclasses.replace(layer, box=(layer.box[0], layer.box[1], layer.box[2], 100_000),
                               size=max(1, round(size)), min_size=None, max_lines=None)
    ctx = DrawContext(scale=1.0, canvas_size=template.size)
    draw_text(tall, text, ctx)
    return ctx.fits[-1].lines if ctx.fits else 0


def summarise_fits(report: Report) -> dict[int, list[FitNote]]:
    """Fit notes grouped by layer index, in case order (for the CLI table)."""
    grouped: dict[int, list[FitNote]] = {}
    for note in report.fits:
        grouped.setdefault(note.layer_index, []).append(note)
    return dict(sorted(grouped.items()))
