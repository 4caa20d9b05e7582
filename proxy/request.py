"""One builder from (template, values, output options) to a checked, canonical render request.

Every front door is a thin adapter onto `build`: the signed GET (query pairs, `from_query`),
the JSON API (`variables` + `output`, web/api_body.py), batch rows (CSV/JSONL columns) and the
CLI (`name=value` and flags). Values of any type are spelled by `spec.url_value`, each is
checked as the URL would carry it and against its variable, and the RenderSpec is parsed by
`spec.parse_request`, so a URL that any door mints is one the server accepts, and an input
one door refuses, every door refuses with the same message (tests/test_request_doors.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from . import formats
from .config import Limits
from .errors import InvalidValue, ProxyError
from .spec import RESERVED, RenderSpec, parse_request, url_value
from .template.model import Template
from .template.values import Values, coerce, coerce_one

# Reserved names in the order their problems are reported.
OPTIONS = ("w", "h", "q", "dpr", "v", "exp", "debug")


Part = Literal["variables", "output"]


class Refused(InvalidValue):
    """Every problem of one request, in one order; it reads as its first (the URL's answer).

    Each problem says which part of the request it is about, so a JSON body can name
    `variables.w` (a variable that may not be called `w`) apart from `output.width`.
    """

    def __init__(self, problems: list[tuple[Part, ProxyError]]) -> None:
        first = problems[0][1]
        super().__init__(first.public, field=first.field, detail=first.detail)
        self.problems = tuple(problems)


@dataclass(frozen=True)
class Checked:
    """A request every door agrees on: the spec a signed URL carries and its typed values."""

    spec: RenderSpec
    values: Values


def check_format(template: Template, fmt: str) -> None:
    """Refuse an output format (a Format's name) the template does not offer."""
    if fmt not in template.formats:
        raise InvalidValue(f"fmt: template {template.name} is not offered as {fmt}", field="fmt")


def build(template: Template, variables: Mapping[str, object],
          options: Mapping[str, object], fmt: str, limits: Limits) -> Checked:
    """The checked request for these values and output options (`w`, `h`, `q`, `dpr`, `v`,
    `exp`, `debug`, by their URL names); `fmt` is any spelling of a format, or `auto`.

    Raises Refused with every problem: variables by name, then missing ones, the format and
    the options, so the first (what one-error doors report) is the same whatever the door.
    """
    try:
        return _at_once(template, variables, options, fmt, limits)
    except ProxyError:
        pass    # find every problem, in their one order
    problems: list[tuple[Part, ProxyError]] = []
    pairs: list[tuple[str, str]] = []
    for name in sorted(variables):
        try:
            pairs.append((name, _variable(template, name, variables[name], limits)))
        except ProxyError as exc:
            problems.append(("variables", exc))
    given = set(variables)
    problems += [("variables", InvalidValue(f"{name}: required", field=name))
                 for name, var in template.variables.items()
                 if var.required and name not in given]
    named = formats.canonical_name(fmt)
    try:
        if named != formats.AUTO and formats.find(named) is not None:
            check_format(template, named)
        parse_request(template.name, named, (), 0, limits)
    except ProxyError as exc:
        problems.append(("output", exc))
    for name in OPTIONS:
        if options.get(name) is None:
            continue
        try:
            text = url_value(name, options[name])
            parse_request(template.name, "png", [(name, text)], 0, limits)
        except ProxyError as exc:
            problems.append(("output", exc))
            continue
        pairs.append((name, text))
    if problems:
        raise Refused(problems)
    try:
        # What needs every field at once: w x h x dpr, and the typed values.
        spec = parse_request(template.name, named, pairs, 0, limits)
    except ProxyError as exc:
        raise Refused([("output", exc)]) from None      # only the options' sizes are left
    return Checked(spec, coerce(template, dict(spec.variables)))


def _at_once(template: Template, variables: Mapping[str, object],
             options: Mapping[str, object], fmt: str, limits: Limits) -> Checked:
    # Accepts exactly what the field-by-field path below accepts, at a third of its cost
    # (measured, one thread: 18 against 53 us for a social card's five pairs; parse_request
    # and coerce alone took 15): passing is the common case, and the GET's full path pays it.
    if not RESERVED.isdisjoint(variables):
        raise InvalidValue("a variable uses an option's name")
    pairs = [(name, url_value(name, value)) for name, value in variables.items()]
    pairs += [(name, url_value(name, options[name])) for name in OPTIONS
              if options.get(name) is not None]
    spec = parse_request(template.name, formats.canonical_name(fmt), pairs, 0, limits)
    if spec.fixed_format is not None:
        check_format(template, spec.fixed_format)
    return Checked(spec, coerce(template, dict(spec.variables)))


def _variable(template: Template, name: str, value: object, limits: Limits) -> str:
    if name in RESERVED:
        raise InvalidValue(f"{name}: reserved for an output option", field=name)
    var = template.variables.get(name)
    if var is None:
        raise InvalidValue(f"{name}: unknown variable for template {template.name}", field=name)
    text = url_value(name, value)
    # The URL's own checks (valid Unicode, limits.max_text_length), then the variable's.
    parse_request(template.name, "png", [(name, text)], 0, limits)
    coerce_one(var, text)
    return text


def from_query(template: Template, fmt: str, pairs: Iterable[tuple[str, str]],
               limits: Limits) -> Checked:
    """The query-string adapter: a verified URL's decoded pairs (options by their names)."""
    variables: dict[str, object] = {}
    options: dict[str, object] = {}
    for name, value in pairs:
        (options if name in RESERVED else variables)[name] = value
    return build(template, variables, options, fmt, limits)
